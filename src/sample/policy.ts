// Sampling policy: sampling.yaml (validated, policy-schema.ts) compiled once per version into per-tenant
// rule lists, and the evaluation of one buffered trace against them. `rules` is an ordered composite:
// the first rule whose conditions hold (and whose probability picks the trace, and whose rate budget has
// room) decides keep or drop; `otherwise` decides when none does.
//
// Probabilistic rules are deterministic by trace id, so every gateway replica (and every SDK using the
// same scheme) picks the same traces: the randomness R is the trace id's rightmost 56 bits and a trace is
// kept when R >= T = (1 − p) × 2^56, as OpenTelemetry's TraceIdRatioBased sampler with W3C random
// trace ids specifies (https://opentelemetry.io/docs/specs/otel/trace/tracestate-probability-sampling/).
import { createHash } from 'node:crypto';
import { canonicalJson } from '../policy/compile.js';
import { attributesMatch, compileAttributeMatchers, type AttributeMatcher } from './attribute-scan.js';
import { DEFAULT_SAMPLING_FILE, type RuleSpec, type SampleAction, type SamplingFile, type SamplingRules } from './policy-schema.js';

/** What a decision needs to know of a buffered trace. */
export interface TraceFacts {
  /** Lower-case hex ('' for spans without a trace id). */
  traceId: string;
  spans: number;
  error: boolean;
  /** Latest span end − earliest span start, ns; 0 when unknown (a span without times). */
  durationNs: number;
  /** The trace's encoded fragments (runs of ResourceSpans), scanned only by attribute rules. */
  parts: readonly Uint8Array[];
}

export interface CompiledRule {
  name: string;
  keep: boolean;
  /** Conditions and probability; the rate limit is checked by the caller (it holds the buckets). */
  matches(facts: TraceFacts): boolean;
  /** Spans per second per tenant; undefined = unlimited. */
  spansPerSecond?: number;
}

export interface TenantSampling {
  rules: readonly CompiledRule[];
  otherwiseKeep: boolean;
}

export interface CompiledSampling {
  /** SHA-256 of the canonical compiled content (profile applied): reformatting the file does not change it. */
  version: string;
  profile: string;
  forTenant(tenant: string): TenantSampling;
}

export interface Decision {
  keep: boolean;
  /** The deciding rule's name, or `otherwise`. */
  reason: string;
}

/** Rate budgets: admit(tenant, rule, rate, spans) says whether the rule may keep `spans` more now. */
export type RateGate = (tenant: string, rule: string, spansPerSecond: number, spans: number) => boolean;

/** (hi 24 bits, lo 32 bits) of the rejection threshold (1 − p) × 2^56. */
function threshold(p: number): { hi: number; lo: number } {
  const t = BigInt(Math.round((1 - p) * 2 ** 56));
  return { hi: Number(t >> 32n), lo: Number(t & 0xffffffffn) };
}

/** The hex digits [from, to) of s as a number (at most 8 digits); -1 if one is not a hex digit. */
function hexValue(s: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/**
 * Is the trace in the kept share: R (the id's rightmost 56 bits) >= T. Empty or malformed ids have
 * R = 0. Digits are read in place (no substring per decision: this runs for most traces).
 */
export function traceIdSelected(traceId: string, t: { hi: number; lo: number }): boolean {
  let rHi = 0;
  let rLo = 0;
  if (traceId.length === 32) {
    rHi = hexValue(traceId, 18, 24);
    rLo = hexValue(traceId, 24, 32);
    if (rHi < 0 || rLo < 0) rHi = rLo = 0;
  }
  return rHi > t.hi || (rHi === t.hi && rLo >= t.lo);
}

function compileRule(spec: RuleSpec): CompiledRule {
  const w = spec.when;
  const tests: Array<(f: TraceFacts) => boolean> = [];
  if (w.error !== undefined) {
    const want = w.error;
    tests.push((f) => f.error === want);
  }
  if (w.spansAtLeast !== undefined) {
    const n = w.spansAtLeast;
    tests.push((f) => f.spans >= n);
  }
  if (w.spansAtMost !== undefined) {
    const n = w.spansAtMost;
    tests.push((f) => f.spans <= n);
  }
  if (w.durationAboveNs !== undefined) {
    const ns = w.durationAboveNs;
    tests.push((f) => f.durationNs > ns);
  }
  if (spec.probability !== undefined && spec.probability < 1) {
    const t = threshold(spec.probability);
    tests.push((f) => traceIdSelected(f.traceId, t));
  }
  // Last: the only test that reads the bytes.
  if (w.attributes !== undefined) {
    const matchers: AttributeMatcher[] = compileAttributeMatchers(w.attributes);
    tests.push((f) => attributesMatch(f.parts, matchers));
  }
  const rule: CompiledRule = {
    name: spec.name,
    keep: spec.action === 'keep',
    matches: (f) => {
      for (const test of tests) if (!test(f)) return false;
      return true;
    },
  };
  if (spec.spansPerSecond !== undefined) rule.spansPerSecond = spec.spansPerSecond;
  return rule;
}

interface Effective {
  rules: RuleSpec[];
  otherwise: SampleAction;
}

function effective(layers: SamplingRules[]): Effective {
  let rules = DEFAULT_SAMPLING_FILE.rules!;
  let otherwise: SampleAction = 'drop';
  for (const l of layers) {
    if (l.rules) rules = l.rules;
    if (l.otherwise) otherwise = l.otherwise;
  }
  return { rules, otherwise };
}

function compileEffective(e: Effective): TenantSampling {
  return { rules: e.rules.map(compileRule), otherwiseKeep: e.otherwise === 'keep' };
}

/**
 * Resolves the file for one gateway profile: top level ◀ profiles[profile] ◀ tenants[tenant]. A file
 * without `rules` at the top level gets the built-in default rules (errors, slow, 10 %).
 */
export function compileSampling(file: SamplingFile, profile: string): CompiledSampling {
  const base: SamplingRules[] = [file, ...(file.profiles[profile] ? [file.profiles[profile]!] : [])];
  const defaults = effective(base);
  const tenants: Record<string, Effective> = {};
  for (const t of Object.keys(file.tenants).sort()) tenants[t] = effective([...base, file.tenants[t]!]);
  const version = createHash('sha256').update(canonicalJson({ profile, defaults, tenants })).digest('hex');
  const compiledDefault = compileEffective(defaults);
  const compiled = new Map<string, TenantSampling>(Object.entries(tenants).map(([t, e]) => [t, compileEffective(e)]));
  return { version, profile, forTenant: (tenant) => compiled.get(tenant) ?? compiledDefault };
}

/** The first rule that matches (and whose rate budget admits the trace) decides; else `otherwise`. */
export function evaluate(policy: TenantSampling, facts: TraceFacts, tenant: string, gate: RateGate): Decision {
  for (const rule of policy.rules) {
    if (!rule.matches(facts)) continue;
    if (rule.keep && rule.spansPerSecond !== undefined && !gate(tenant, rule.name, rule.spansPerSecond, facts.spans)) continue;
    return { keep: rule.keep, reason: rule.name };
  }
  return { keep: policy.otherwiseKeep, reason: 'otherwise' };
}
