// The schema of policies/sampling.yaml (public interface; README "Tail sampling" documents it with
// examples). validateSampling takes the parsed YAML (plain values) and returns either the typed file or
// every error, each with the path of the offending value and whether it points at a key, so that
// policy-file.ts can add `file:line:column` the way src/policy/load.ts does for the other policy files.
//
// Outline (the same as redaction.yaml and allowlists.yaml): rules at the top level, then
// `profiles: {<name>: overrides}` and `tenants: {<id>: overrides}` with the same keys. `rules` is an
// ordered composite: the first rule whose conditions hold decides keep or drop; `otherwise` decides
// when none does. An override replaces `rules` whole (lists are replaced whole, as in allowlists.yaml).
import { parseDuration } from '../config/units.js';
import { Checker as SchemaChecker } from '../policy/schema.js';
import { boolError, isMapping, show, type PathSegment, type Validated } from '../schema-check.js';
import { TENANT_RE, TENANT_WHAT } from '../tenant-id.js';

export const SAMPLING_FILE = 'sampling.yaml';

export type SampleAction = 'keep' | 'drop';
export const SAMPLE_ACTIONS: readonly SampleAction[] = ['keep', 'drop'];

/** What an attribute must hold: one value, any of several, or a numeric range. */
export type AttributeMatch =
  | { kind: 'values'; values: Array<string | number | boolean> }
  | { kind: 'range'; min?: number; max?: number };

export interface Conditions {
  /** Some span has status ERROR (true), or none has (false). */
  error?: boolean;
  /** The trace's extent (latest span end − earliest span start), in nanoseconds, is above this. */
  durationAboveNs?: number;
  spansAtLeast?: number;
  spansAtMost?: number;
  /** Every key must be matched by some span's or resource's attribute. */
  attributes?: Record<string, AttributeMatch>;
}

export interface RuleSpec {
  name: string;
  when: Conditions;
  action: SampleAction;
  /** Share of the traces that match (0..1), chosen by trace id: every gateway picks the same ones. */
  probability?: number;
  /** Keep at most this many spans per second per tenant through this rule; beyond it the rule does not match. */
  spansPerSecond?: number;
}

export interface SamplingRules {
  rules?: RuleSpec[];
  otherwise?: SampleAction;
}

export interface SamplingFile extends SamplingRules {
  tenants: Record<string, SamplingRules>;
  profiles: Record<string, SamplingRules>;
}

/**
 * The built-in policy when sampling.yaml is missing (the shipped file spells out the same): keep traces
 * with an error, keep traces longer than 2 s, keep 10 % of the rest.
 */
export const DEFAULT_SAMPLING_FILE: SamplingFile = {
  rules: [
    { name: 'errors', when: { error: true }, action: 'keep' },
    { name: 'slow', when: { durationAboveNs: 2_000_000_000 }, action: 'keep' },
    { name: 'baseline', when: {}, action: 'keep', probability: 0.1 },
  ],
  otherwise: 'drop',
  tenants: {},
  profiles: {},
};

const PROFILE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Rule names become the `reason` label of sampling_decisions_total. */
const RULE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ATTRIBUTE_RE = /^[^\u0000-\u001f\u007f]{1,255}$/;
const MAX_RULES = 64;
const MAX_ATTRIBUTES = 16;
const MAX_VALUES = 256;

const TOP_KEYS = ['rules', 'otherwise', 'tenants', 'profiles'] as const;
const OVERRIDE_KEYS = ['rules', 'otherwise'] as const;
const RULE_KEYS = ['name', 'when', 'action', 'probability', 'spansPerSecond'] as const;
const WHEN_KEYS = ['error', 'durationAbove', 'spansAtLeast', 'spansAtMost', 'attributes'] as const;
const RANGE_KEYS = ['min', 'max'] as const;

/** The policy files' checker, plus the number and boolean checks sampling rules need. */
class Checker extends SchemaChecker {
  number(path: PathSegment[], value: unknown, min: number, max: number, what: string): number | undefined {
    if (typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max) return value;
    this.fail(path, `expected ${what} (got ${show(value)})`);
    return undefined;
  }

  bool(path: PathSegment[], value: unknown): boolean | undefined {
    const error = boolError(value);
    if (error === undefined) return value as boolean;
    this.fail(path, error);
    return undefined;
  }
}

function attributeMatch(c: Checker, path: PathSegment[], value: unknown): AttributeMatch | undefined {
  const scalar = (p: PathSegment[], v: unknown): v is string | number | boolean => {
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return true;
    c.fail(p, `expected a string, a number or true/false (got ${show(v)})`);
    return false;
  };
  if (Array.isArray(value)) {
    if (value.length === 0 || value.length > MAX_VALUES) {
      c.fail(path, `expected a list of 1 to ${MAX_VALUES} values (got ${value.length})`);
      return undefined;
    }
    const values: Array<string | number | boolean> = [];
    value.forEach((v: unknown, i) => {
      if (scalar([...path, i], v)) values.push(v);
    });
    return values.length === value.length ? { kind: 'values', values } : undefined;
  }
  if (isMapping(value)) {
    const m = c.mapping(path, value, RANGE_KEYS);
    if (!m) return undefined;
    const range: { kind: 'range'; min?: number; max?: number } = { kind: 'range' };
    for (const k of RANGE_KEYS) {
      if (m[k] === undefined || m[k] === null) continue;
      const n = c.number([...path, k], m[k], -Number.MAX_VALUE, Number.MAX_VALUE, 'a number');
      if (n !== undefined) range[k] = n;
    }
    if (range.min === undefined && range.max === undefined) {
      c.fail(path, 'a range needs min, max or both');
      return undefined;
    }
    if (range.min !== undefined && range.max !== undefined && range.min > range.max) {
      c.fail(path, `min (${range.min}) is above max (${range.max})`);
      return undefined;
    }
    return range;
  }
  if (value === null || value === undefined) {
    c.fail(path, 'expected a value, a list of values or { min, max } (got nothing)');
    return undefined;
  }
  return scalar(path, value) ? { kind: 'values', values: [value] } : undefined;
}

function conditions(c: Checker, path: PathSegment[], value: unknown): Conditions | undefined {
  const m = c.mapping(path, value, WHEN_KEYS);
  if (!m) return undefined;
  const out: Conditions = {};
  const n = c.errors.length;
  if (m.error !== undefined && m.error !== null) {
    const b = c.bool([...path, 'error'], m.error);
    if (b !== undefined) out.error = b;
  }
  if (m.durationAbove !== undefined && m.durationAbove !== null) {
    const ms = parseDuration(m.durationAbove);
    if (ms === undefined) c.fail([...path, 'durationAbove'], `expected a duration such as 500ms or 2s (got ${show(m.durationAbove)})`);
    else out.durationAboveNs = ms * 1_000_000;
  }
  for (const k of ['spansAtLeast', 'spansAtMost'] as const) {
    if (m[k] === undefined || m[k] === null) continue;
    const v = c.integer([...path, k], m[k], 0, 1_000_000_000);
    if (v !== undefined) out[k] = v;
  }
  if (out.spansAtLeast !== undefined && out.spansAtMost !== undefined && out.spansAtLeast > out.spansAtMost) {
    c.fail([...path, 'spansAtMost'], `is below spansAtLeast (${out.spansAtMost} < ${out.spansAtLeast}): the rule could never match`);
  }
  if (m.attributes !== undefined && m.attributes !== null) {
    const attrs = c.dictionary([...path, 'attributes'], m.attributes, { re: ATTRIBUTE_RE, what: 'an attribute key (1 to 255 characters, no control characters)' });
    if (attrs) {
      const keys = Object.keys(attrs);
      if (keys.length === 0 || keys.length > MAX_ATTRIBUTES) c.fail([...path, 'attributes'], `expected 1 to ${MAX_ATTRIBUTES} attribute keys (got ${keys.length})`);
      const out2: Record<string, AttributeMatch> = {};
      for (const k of keys) {
        const a = attributeMatch(c, [...path, 'attributes', k], attrs[k]);
        if (a) out2[k] = a;
      }
      out.attributes = out2;
    }
  }
  return c.errors.length === n ? out : undefined;
}

function rule(c: Checker, path: PathSegment[], value: unknown, names: Set<string>): RuleSpec | undefined {
  const m = c.mapping(path, value, RULE_KEYS);
  if (!m) return undefined;
  const n = c.errors.length;
  let name: string | undefined;
  if (typeof m.name === 'string' && RULE_NAME_RE.test(m.name)) {
    name = m.name;
    if (names.has(name)) c.fail([...path, 'name'], `duplicate rule name "${name}" (names label sampling_decisions_total and must be unique)`);
    names.add(name);
  } else {
    c.fail([...path, 'name'], `expected a rule name of letters, digits, ".", "_" or "-" (at most 64) (got ${show(m.name)})`);
  }
  const when = conditions(c, [...path, 'when'], m.when);
  const action = m.action === undefined || m.action === null ? 'keep' : c.oneOf([...path, 'action'], m.action, SAMPLE_ACTIONS);
  const spec: Partial<RuleSpec> = { name, when, action };
  if (m.probability !== undefined && m.probability !== null) {
    const p = c.number([...path, 'probability'], m.probability, 0, 1, 'a probability from 0 to 1, such as 0.1');
    if (p !== undefined) spec.probability = p;
  }
  if (m.spansPerSecond !== undefined && m.spansPerSecond !== null) {
    const r = c.number([...path, 'spansPerSecond'], m.spansPerSecond, 0, 1e12, 'a rate in spans per second (0 or more)');
    if (r !== undefined) {
      spec.spansPerSecond = r;
      if (action === 'drop') c.fail([...path, 'spansPerSecond'], 'a rate limit applies to keep rules only');
    }
  }
  return c.errors.length === n ? (spec as RuleSpec) : undefined;
}

function rules(c: Checker, path: PathSegment[], value: Record<string, unknown>): SamplingRules {
  const out: SamplingRules = {};
  if (value.rules !== undefined && value.rules !== null) {
    if (!Array.isArray(value.rules)) {
      c.fail([...path, 'rules'], `expected a list of rules (got ${show(value.rules)})`);
    } else if (value.rules.length > MAX_RULES) {
      c.fail([...path, 'rules'], `at most ${MAX_RULES} rules (got ${value.rules.length})`);
    } else {
      const names = new Set<string>();
      const list: RuleSpec[] = [];
      value.rules.forEach((r: unknown, i) => {
        const spec = rule(c, [...path, 'rules', i], r, names);
        if (spec) list.push(spec);
      });
      out.rules = list;
    }
  }
  if (value.otherwise !== undefined && value.otherwise !== null) {
    const a = c.oneOf([...path, 'otherwise'], value.otherwise, SAMPLE_ACTIONS);
    if (a) out.otherwise = a;
  }
  return out;
}

function overrides(c: Checker, path: PathSegment[], value: unknown, keyRule: { re: RegExp; what: string }): Record<string, SamplingRules> {
  const d = c.dictionary(path, value, keyRule);
  const out: Record<string, SamplingRules> = {};
  for (const [k, v] of Object.entries(d ?? {})) {
    const m = c.mapping([...path, k], v, OVERRIDE_KEYS);
    if (m) out[k] = rules(c, [...path, k], m);
  }
  return out;
}

/** Validates parsed sampling.yaml. An empty document is the built-in default policy. */
export function validateSampling(raw: unknown): Validated<SamplingFile> {
  if (raw === null || raw === undefined) return { ok: true, value: DEFAULT_SAMPLING_FILE };
  const c = new Checker();
  const top = c.mapping([], raw, TOP_KEYS);
  if (!top) return { ok: false, errors: c.errors };
  const base = rules(c, [], top);
  const file: SamplingFile = {
    ...base,
    tenants: overrides(c, ['tenants'], top.tenants, { re: TENANT_RE, what: TENANT_WHAT }),
    profiles: overrides(c, ['profiles'], top.profiles, { re: PROFILE_RE, what: 'a profile name' }),
  };
  return c.errors.length > 0 ? { ok: false, errors: c.errors } : { ok: true, value: file };
}
