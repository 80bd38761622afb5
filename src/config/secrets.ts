// Secrets the configuration holds (exporter header values, and every value substituted from
// `${env:…}` or `${file:…}`), kept so that every rendering meant for people can mask them: log lines
// (logger.ts), `config validate` output and errors (load.ts, config-validate.ts), /admin/v1/status.
// Masking is by value, so a secret echoed back in a backend's error message is masked too.
//
// Process-wide on purpose: a secret registered by one gateway in a test process stays masked for all
// of them, which is the safe direction. Values that cannot be secrets are not registered (shorter
// than MIN_SECRET_LENGTH, or a plain number or boolean such as a port from `${env:PORT}`), so that
// masking them does not garble unrelated output.
export const REDACTED = '[redacted]';
export const MIN_SECRET_LENGTH = 4;

const secrets = new Set<string>();
/** Longest first, so a secret containing another is masked whole. */
let ordered: string[] = [];

/** A value a secret could be; numbers, booleans and very short strings are not. */
export function couldBeSecret(value: string): boolean {
  const v = value.trim();
  if (v.length < MIN_SECRET_LENGTH) return false;
  if (/^[-+]?\d+(\.\d+)?$/.test(v) || /^(true|false)$/i.test(v)) return false;
  return true;
}

export function registerSecret(value: string): void {
  if (!couldBeSecret(value)) return;
  const before = secrets.size;
  secrets.add(value);
  // Its JSON-escaped form too, for log lines and JSON documents that escape quotes or backslashes.
  const json = JSON.stringify(value).slice(1, -1);
  if (json !== value) secrets.add(json);
  // A bearer or basic credential is a secret on its own as well (echoed without its scheme).
  const m = /^(?:bearer|basic|token|apikey|api-key)\s+(\S.*)$/i.exec(value);
  if (m && couldBeSecret(m[1]!)) secrets.add(m[1]!);
  if (secrets.size !== before) ordered = [...secrets].sort((a, b) => b.length - a.length);
}

export function hasSecrets(): boolean {
  return ordered.length > 0;
}

/** `text` with every registered secret replaced by [redacted]. */
export function redactSecrets(text: string): string {
  if (ordered.length === 0) return text;
  let out = text;
  for (const s of ordered) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/** A copy of a JSON-like value with every string masked (for documents such as /admin/v1/status). */
export function redactDeep<T>(value: T): T {
  if (ordered.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redactSecrets(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: walk(x), enumerable: true, writable: true, configurable: true });
      return out;
    }
    return v;
  };
  return walk(value) as T;
}
