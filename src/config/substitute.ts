// `${env:NAME}`, `${env:NAME:-default}` and `${file:/path}` in the config file, as the OpenTelemetry
// Collector's confmap env and file providers write them
// (https://opentelemetry.io/docs/collector/configuration/#environment-variables):
// - References are expanded inside string values after the YAML is parsed (never in keys, and never
//   re-parsed as YAML structure, so a value cannot inject configuration). A value that is exactly one
//   reference takes the scalar type of what it expands to (`port: ${env:PORT}` is a number), like
//   the Collector; a reference inside a longer string expands as text.
// - `${NAME}` is short for `${env:NAME}`. NAME is [A-Za-z_][A-Za-z0-9_]*.
// - `${env:NAME:-default}`: the default (up to the first "}") when NAME is unset or empty.
// - A variable that is unset (and has no default) is an error naming it; so is an unknown provider,
//   a missing or unreadable file, a file over 64 KiB, and an unterminated "${".
// - `$$` is a literal `$`: `$${env:X}` stays `${env:X}`.
// - `${file:PATH}` is the file's content with one trailing newline removed (secret files usually end
//   with one); a relative PATH is relative to the working directory.
// Every expanded value is registered as a secret (secrets.ts), so logs and status output mask it.
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { registerSecret } from './secrets.js';

export const MAX_SUBSTITUTED_FILE_BYTES = 64 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface SubstituteEnv {
  env?: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
}

type Expanded = { ok: true; text: string; references: number; whole: boolean; parts: string[] } | { ok: false; error: string };

function readSecretFile(path: string): string {
  const size = statSync(path).size;
  if (size > MAX_SUBSTITUTED_FILE_BYTES) throw new Error(`larger than ${MAX_SUBSTITUTED_FILE_BYTES / 1024} KiB (${size} bytes)`);
  return readFileSync(path, 'utf8');
}

/** Expands the references in one string. */
export function expandString(value: string, deps: SubstituteEnv = {}): Expanded {
  if (!value.includes('$')) return { ok: true, text: value, references: 0, whole: false, parts: [] };
  const env = deps.env ?? process.env;
  let out = '';
  let references = 0;
  let i = 0;
  let whole = false;
  const parts: string[] = [];
  while (i < value.length) {
    const c = value[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = value[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next !== '{') {
      out += c;
      i++;
      continue;
    }
    const end = value.indexOf('}', i + 2);
    if (end < 0) return { ok: false, error: `unterminated "\${" (write "$\${" for a literal "\${")` };
    const ref = value.slice(i + 2, end);
    const replaced = resolveReference(ref, env, deps.readFile ?? readSecretFile);
    if (!replaced.ok) return replaced;
    if (i === 0 && end === value.length - 1) whole = true;
    out += replaced.text;
    if (!replaced.fromFile) parts.push(replaced.text);
    references++;
    i = end + 1;
  }
  return { ok: true, text: out, references, whole, parts };
}

function resolveReference(
  ref: string,
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string,
): { ok: true; text: string; fromFile?: boolean } | { ok: false; error: string } {
  const colon = ref.indexOf(':');
  const scheme = colon < 0 ? 'env' : ref.slice(0, colon);
  const rest = colon < 0 ? ref : ref.slice(colon + 1);
  if (scheme === 'env') {
    const dflt = rest.indexOf(':-');
    const name = dflt < 0 ? rest : rest.slice(0, dflt);
    if (!ENV_NAME.test(name)) return { ok: false, error: `\${${ref}}: invalid environment variable name ${JSON.stringify(name)} (expected letters, digits and "_", not starting with a digit)` };
    const v = env[name];
    if (v !== undefined && v !== '') return { ok: true, text: v };
    // A default is written in the file itself: not a secret.
    if (dflt >= 0) return { ok: true, text: rest.slice(dflt + 2), fromFile: true };
    return { ok: false, error: `environment variable ${name} is ${v === '' ? 'empty' : 'not set'} (referenced as \${env:${name}}; give a default with \${env:${name}:-value})` };
  }
  if (scheme === 'file') {
    if (rest === '') return { ok: false, error: '${file:}: expected a path, as in ${file:/run/secrets/token}' };
    try {
      return { ok: true, text: readFile(rest).replace(/\r?\n$/, '') };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
      return { ok: false, error: `\${file:${rest}}: cannot read ${rest}: ${why}` };
    }
  }
  return { ok: false, error: `\${${ref}}: unknown provider ${JSON.stringify(scheme)} (expected \${env:NAME} or \${file:PATH}; write "$\${" for a literal "\${")` };
}

/** `a.b`, `a[3]`, `headers["x y"]` (as validate.ts names paths). */
function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/**
 * A copy of the parsed YAML with every string value expanded; errors name the path. Expanded values
 * are registered as secrets.
 */
export function substituteConfig(raw: unknown, deps: SubstituteEnv = {}): { raw: unknown } | { errors: string[] } {
  const errors: string[] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      const r = expandString(v, deps);
      if (!r.ok) {
        errors.push(`${path}: ${r.error}`);
        return v;
      }
      if (r.references === 0) return r.text;
      // What came from outside is the secret (the literal text around it is in the file anyway).
      for (const p of r.parts) registerSecret(p);
      if (r.whole) {
        // Keep the YAML scalar type of a whole-value reference (numbers, booleans); structure stays text.
        try {
          const typed: unknown = parseYaml(r.text);
          if (typeof typed === 'number' || typeof typed === 'boolean') return typed;
        } catch {
          // Not YAML: text.
        }
      }
      return r.text;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, at(path, i)));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        Object.defineProperty(out, k, { value: walk(x, at(path, k)), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return v;
  };
  const out = walk(raw, '');
  return errors.length > 0 ? { errors } : { raw: out };
}
