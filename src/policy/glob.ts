// Name globs of the policy files (`*password*`, `http.server.*`, `checkout-?`): `*` matches any run of
// characters (dots included: attribute and metric names are flat strings, not paths), `?` one
// character, everything else itself. Compiled to an anchored RegExp whose only repetitions are `.*`
// separated by literals, which matches in polynomial time: globs need no ReDoS check.

const SPECIAL = /[\\^$.|+()[\]{}]/g;

/** The anchored regular expression source of a glob. */
export function globSource(glob: string): string {
  let out = '^';
  for (const ch of glob) {
    if (ch === '*') {
      if (!out.endsWith('.*')) out += '.*'; // `**` is `*`
    } else if (ch === '?') out += '.';
    else out += ch.replace(SPECIAL, '\\$&');
  }
  return `${out}$`;
}

export function globToRegExp(glob: string, options: { ignoreCase?: boolean } = {}): RegExp {
  return new RegExp(globSource(glob), options.ignoreCase ? 'is' : 's');
}

/** One matcher for a list of globs (undefined list: everything matches). */
export function globMatcher(globs: readonly string[] | null | undefined, options: { ignoreCase?: boolean } = {}): (name: string) => boolean {
  if (globs === null || globs === undefined) return () => true;
  if (globs.length === 0) return () => false;
  const exact = new Set(globs.filter((g) => !/[*?]/.test(g)));
  const patterns = globs.filter((g) => /[*?]/.test(g)).map(globSource);
  const re = patterns.length > 0 ? new RegExp(patterns.map((p) => `(?:${p})`).join('|'), options.ignoreCase ? 'is' : 's') : undefined;
  if (options.ignoreCase) {
    const lower = new Set([...exact].map((e) => e.toLowerCase()));
    return (name) => lower.has(name.toLowerCase()) || (re?.test(name) ?? false);
  }
  return (name) => exact.has(name) || (re?.test(name) ?? false);
}
