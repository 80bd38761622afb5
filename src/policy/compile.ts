// Validated policy files ─▶ one CompiledPolicy per gateway profile: the effective rules for tenants
// without overrides (`defaults`) and for every tenant that has some, resolved once here so that a
// worker only looks rules up. The result is plain data (strings, numbers, arrays, null; no RegExp,
// no functions, no Map), so it survives structured cloning into worker threads unchanged.
//
// Layering, later wins: top level ─▶ profiles[profile] ─▶ tenants[tenant]. Entries of rule mappings
// are replaced one by one (`off` removes one), lists of names are replaced whole (`any` lifts one).
//
// `version` is the SHA-256 (hex) of the canonical JSON of everything else in the object (object keys
// sorted, rule lists sorted by name, name lists sorted and de-duplicated): the same rules written in
// another order or format give the same version, any change in effect gives another one.
import { createHash } from 'node:crypto';
import { SIGNALS, type Signal } from '../signals.js';
import type { Category } from './detect/index.js';
import {
  ANY,
  DEFAULT_HASH_KEY_ENV,
  OFF,
  type ActionSpec,
  type AllowlistRules,
  type AllowlistsFile,
  type KeyMode,
  type NameList,
  type RedactionFile,
  type RedactionRules,
} from './schema.js';

export type Action =
  | { type: 'mask'; keepPrefix: number; keepSuffix: number }
  /** HMAC-SHA256 keyed by the environment variable `hashKeyEnv` (resolved by the redactor, never stored here). */
  | { type: 'hash'; hashKeyEnv: string }
  | { type: 'drop' }
  | { type: 'truncate'; maxLength: number };

/** A blocked attribute key pattern (a glob, matched case-insensitively). */
export interface KeyRule {
  pattern: string;
  action: Extract<Action, { type: 'mask' | 'drop' }>;
}

export interface DetectorRule {
  category: Category;
  action: Action;
}

/** A custom pattern, already checked by safe-regex.ts; the redactor compiles it with flags + "g". */
export interface CustomRule {
  name: string;
  regex: string;
  flags: string;
  action: Action;
}

export interface EffectiveRedaction {
  /** `allowlist`: attribute keys not allowed by the allowlists of their signal are dropped (fail closed). */
  keyMode: KeyMode;
  blockedKeys: KeyRule[];
  /** Only the enabled detectors, by category. */
  detectors: DetectorRule[];
  custom: CustomRule[];
  /** Attribute that receives the number of redactions per item; null: none. */
  summaryAttribute: string | null;
}

/** null: no restriction. A list: names (globs) allowed; everything else is dropped and counted. */
export interface EffectiveAllowlists {
  metricNames: string[] | null;
  attributeKeys: Record<Signal, string[] | null>;
  serviceNames: string[] | null;
}

export interface EffectivePolicy {
  redaction: EffectiveRedaction;
  allowlists: EffectiveAllowlists;
}

export interface CompiledPolicy {
  /** SHA-256 hex of the canonical JSON of the rest of this object. */
  version: string;
  /** The gateway profile whose overrides were applied. */
  profile: string;
  /** For tenants without overrides. */
  defaults: EffectivePolicy;
  /** For each tenant named in either file. */
  tenants: Record<string, EffectivePolicy>;
}

export interface PolicyFiles {
  redaction: RedactionFile;
  allowlists: AllowlistsFile;
}

/** No redaction, no allowlists: what files holding only `version: 1` amount to. */
export const EMPTY_FILES: PolicyFiles = {
  redaction: { tenants: {}, profiles: {} },
  allowlists: { tenants: {}, profiles: {} },
};

/** JSON with object keys sorted at every depth: the input of the version hash. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function toAction(spec: ActionSpec, hashKeyEnv: string): Action {
  switch (spec.action) {
    case 'mask':
      return { type: 'mask', keepPrefix: spec.keepPrefix ?? 0, keepSuffix: spec.keepSuffix ?? 0 };
    case 'hash':
      return { type: 'hash', hashKeyEnv: spec.hashKeyEnv ?? hashKeyEnv };
    case 'drop':
      return { type: 'drop' };
    case 'truncate':
      return { type: 'truncate', maxLength: spec.maxLength };
  }
}

function applyEntries<T>(into: Map<string, T>, entries: Record<string, T | typeof OFF> | undefined): void {
  for (const [name, spec] of Object.entries(entries ?? {})) {
    if (spec === OFF) into.delete(name);
    else into.set(name, spec);
  }
}

const byName = <T>(m: Map<string, T>): Array<[string, T]> => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function effectiveRedaction(layers: RedactionRules[]): EffectiveRedaction {
  let keyMode: KeyMode = 'open';
  let hashKeyEnv = DEFAULT_HASH_KEY_ENV;
  let summary: string | null = null;
  const blocked = new Map<string, Exclude<NonNullable<NonNullable<RedactionRules['keys']>['blocked']>[string], typeof OFF>>();
  const detectors = new Map<string, ActionSpec>();
  const custom = new Map<string, Exclude<NonNullable<RedactionRules['custom']>[string], typeof OFF>>();
  for (const l of layers) {
    if (l.keys?.mode) keyMode = l.keys.mode;
    applyEntries(blocked, l.keys?.blocked);
    applyEntries(detectors, l.detectors);
    applyEntries(custom, l.custom);
    if (l.hashKeyEnv) hashKeyEnv = l.hashKeyEnv;
    if (l.summaryAttribute !== undefined) summary = l.summaryAttribute === OFF ? null : l.summaryAttribute;
  }
  return {
    keyMode,
    blockedKeys: byName(blocked).map(([pattern, spec]) => ({ pattern, action: toAction(spec, hashKeyEnv) as KeyRule['action'] })),
    detectors: byName(detectors).map(([category, spec]) => ({ category: category as Category, action: toAction(spec, hashKeyEnv) })),
    custom: byName(custom).map(([name, spec]) => ({ name, regex: spec.regex, flags: spec.flags ?? '', action: toAction(spec, hashKeyEnv) })),
    summaryAttribute: summary,
  };
}

function names(list: NameList | undefined, inherited: string[] | null): string[] | null {
  if (list === undefined) return inherited;
  if (list === ANY) return null;
  return [...new Set(list)].sort();
}

function effectiveAllowlists(layers: AllowlistRules[]): EffectiveAllowlists {
  const out: EffectiveAllowlists = {
    metricNames: null,
    attributeKeys: Object.fromEntries(SIGNALS.map((s) => [s, null])) as Record<Signal, null>,
    serviceNames: null,
  };
  for (const l of layers) {
    out.metricNames = names(l.metricNames, out.metricNames);
    out.serviceNames = names(l.serviceNames, out.serviceNames);
    for (const s of SIGNALS) out.attributeKeys[s] = names(l.attributeKeys?.[s], out.attributeKeys[s]);
  }
  return out;
}

/** Resolves the files for one gateway profile (a profile the files do not mention gets the top level). */
export function compilePolicy(files: PolicyFiles, profile: string): CompiledPolicy {
  const { redaction: r, allowlists: a } = files;
  const rBase = [r, ...(r.profiles[profile] ? [r.profiles[profile]!] : [])];
  const aBase = [a, ...(a.profiles[profile] ? [a.profiles[profile]!] : [])];
  const view = (tenant?: string): EffectivePolicy => ({
    redaction: effectiveRedaction(tenant !== undefined && r.tenants[tenant] ? [...rBase, r.tenants[tenant]!] : rBase),
    allowlists: effectiveAllowlists(tenant !== undefined && a.tenants[tenant] ? [...aBase, a.tenants[tenant]!] : aBase),
  });
  const tenants: Record<string, EffectivePolicy> = {};
  for (const t of [...new Set([...Object.keys(r.tenants), ...Object.keys(a.tenants)])].sort()) tenants[t] = view(t);
  const body = { profile, defaults: view(), tenants };
  return { version: policyVersion(body), ...body };
}

/** The version of a compiled policy's content (everything but `version`). */
export function policyVersion(body: Omit<CompiledPolicy, 'version'>): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

/** The rules that apply to `tenant`. */
export function policyFor(policy: CompiledPolicy, tenant: string): EffectivePolicy {
  return Object.hasOwn(policy.tenants, tenant) ? policy.tenants[tenant]! : policy.defaults;
}

/** Key variables that `hash` actions name but `env` lacks: those actions mask instead (policy-rules.ts). */
export function unsetHashKeys(policy: CompiledPolicy, env: NodeJS.ProcessEnv = process.env): string[] {
  const unset = new Set<string>();
  for (const view of [policy.defaults, ...Object.values(policy.tenants)]) {
    const r = view.redaction;
    for (const rule of [...r.blockedKeys, ...r.detectors, ...r.custom]) {
      if (rule.action.type === 'hash' && !env[rule.action.hashKeyEnv]) unset.add(rule.action.hashKeyEnv);
    }
  }
  return [...unset].sort();
}
