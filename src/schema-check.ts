// The checking primitives every schema checker shares: the gateway config (config/validate.ts and its
// sections), the policy files (policy/schema.ts, sample/policy-schema.ts) and tenants.yaml
// (identify/tenants-schema.ts). One place says how a bad value is shown (`(got "x")`), how a path is
// written (`exporters[1].tls.caFile`, `keys.blocked["*password*"]`), what a type error and an unknown
// key (with its "did you mean") read like, so the four files answer a user in the same words. Each
// checker keeps its own way of collecting errors and applying defaults. A leaf: it imports only the
// suggestion helper.
import { didYouMean } from './config/suggest.js';

export type PathSegment = string | number;

export interface SchemaError {
  path: PathSegment[];
  message: string;
  /** The error is about a key (unknown key): locate the key, not its value. */
  atKey?: boolean;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: SchemaError[] };

/** Collects every error of a document (not just the first), each with its path. */
export class SchemaErrors {
  readonly errors: SchemaError[] = [];

  fail(path: PathSegment[], message: string, atKey = false): void {
    this.errors.push({ path, message, ...(atKey ? { atKey } : {}) });
  }
}

/** How a value is shown inside `(got …)`. */
export function show(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/** A YAML mapping as parsed: an object that is not a list (or null). */
export const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `path` extended by one key: `a.b`, `a[3]`, `headers["x y"]` (a bare key at the top). */
export function pathAt(path: string, key: PathSegment): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/** `a.b`, `a[3]`, `keys.blocked["*password*"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const p of path) out = pathAt(out, p);
  return out;
}

/** `unknown key "recievers" (did you mean "receivers"?)`. */
export function unknownKey(key: string, allowed: readonly string[]): string {
  return `unknown key ${JSON.stringify(key)}${didYouMean(key, allowed)}`;
}

/** The message for a value that should have been a mapping (test it with isMapping, which narrows). */
export function expectedMapping(value: unknown): string {
  return `expected a mapping (got ${show(value)})`;
}

// Type checks: undefined when the value passes, else the message (the caller adds the path).

export function integerError(value: unknown, min: number, max: number): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return undefined;
  return `expected an integer from ${min} to ${max} (got ${show(value)})`;
}

export function boolError(value: unknown): string | undefined {
  return typeof value === 'boolean' ? undefined : `expected true or false (got ${show(value)})`;
}

export function oneOfError(value: unknown, choices: readonly string[]): string | undefined {
  if (typeof value === 'string' && choices.includes(value)) return undefined;
  const hint = typeof value === 'string' ? didYouMean(value, choices) : '';
  return `expected one of ${choices.join(', ')} (got ${show(value)})${hint}`;
}
