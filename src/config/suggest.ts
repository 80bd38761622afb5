// "Did you mean …?" for unknown config keys, profile names, CLI commands and flags: a typo should
// cost one read of the error message, not a trip to the docs.

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions, so "recievers" is 1 away). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** Case, `-` and `_` do not count: `data_dir` and `DataDir` both suggest `dataDir`. */
const normalize = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');

/** The closest candidate, if it is close enough to be the likely intent; otherwise undefined. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = normalize(word);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const n = normalize(c);
    if (n === w) return c;
    // A truncated word ("valid" for "validate") is a likely intent too.
    if (w.length >= 3 && n.startsWith(w) && bestDistance > 0) {
      best = c;
      bestDistance = 0;
      continue;
    }
    const dist = distance(w, n);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  // Up to about two edits in five letters (so "retries" suggests "retry"); a short word gets one.
  return best !== undefined && bestDistance <= Math.max(1, Math.round(w.length * 0.4)) ? best : undefined;
}

/** ` (did you mean "x"?)` or the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean "${c}"?)`;
}
