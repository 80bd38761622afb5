// A CompiledPolicy (plain data, cloned into the worker once per version) turned into what the rewriting
// pass calls: per tenant, the string redactor (built-in detectors + custom patterns + actions), the key
// rules (allowlist, blocked patterns, sensitive names) and the allowlist matchers. Regular expressions
// and glob matchers are compiled once per policy version in each worker, tenants' rule sets lazily on
// first use. Both the fast path (rewrite.ts) and the reference path (../reference/apply-policy.ts) use
// this module for everything that happens to one string, so that the two paths differ only in how they
// find and rewrite the strings (wire bytes versus protobufjs objects), which is what the differential
// test compares.
//
// Imports from ../../policy: the detectors (policy/detect) and glob.ts are pure functions over strings
// and bytes with no I/O and no imports outside their files, safe in a worker thread; copying them here
// would leave two versions of the PII rules to keep in step. compile.ts is imported for types only.
import { createHmac } from 'node:crypto';
import type { Action, CompiledPolicy, EffectivePolicy, KeyRule } from '../../policy/compile.js';
import { ALL_TRIGGERS, CATEGORY_TRIGGERS, DETECTORS, isSensitiveKey, secretTriggers, type Detector, type Finding } from '../../policy/detect/index.js';
import { globMatcher } from '../../policy/glob.js';
import type { Signal } from '../../signals.js';
import { isValidUtf8 } from './utf8.js';

/** Redaction counter key of a blocked attribute key (its value masked or the attribute dropped). */
export const BLOCKED_KEY = 'blocked_key';
/** Dropped-counter reasons. */
export const DROP_ATTRIBUTE_KEY = 'attribute_key';
export const DROP_METRIC_NAME = 'metric_name';
export const DROP_SERVICE_NAME = 'service_name';

/** What a mask leaves of a secret (plus the kept prefix and suffix). */
export const MASK = '****';
/** Prefix of a hashed value: `hmac:` + the first 32 hex digits (128 bits) of HMAC-SHA256. */
export const HASH_PREFIX = 'hmac:';
const HASH_HEX = 32;

/** What the key rules say about one attribute or kvlist key. */
export interface KeyInfo {
  key: string;
  /** A top-level attribute list keeps this key (allowlists.yaml attributeKeys and keys.mode). */
  allowed: boolean;
  /** The first blocked pattern it matches, or null. */
  blocked: KeyRule | null;
  /** Its whole value is one password_by_key finding (the detector is on and the name is sensitive). */
  sensitive: boolean;
  /**
   * The key itself holds a finding (the key's text scanned like a string with no key: every enabled
   * detector and custom pattern): the key is rewritten with its findings replaced, as a value would be.
   */
  keySecret: boolean;
}

/** Counts one call adds to: by category (redactions). */
export type Counts = Record<string, number>;

/**
 * Findings as parallel arrays of small integers, reused from one scan to the next (a finding object
 * per secret and an array per string were most of the redaction's garbage).
 */
export interface FoundSecrets {
  start: number[];
  end: number[];
  /** Index into RuleSet.categories. */
  cat: number[];
}

export interface RuleSet {
  /**
   * Unique within the worker (never reused), so that a memo can remember "no finding under these
   * rules" by number without keeping the rule set alive.
   */
  readonly id: number;
  /** Nothing to do for this tenant (no rule at all): the rewrite is skipped unless stamping. */
  readonly noop: boolean;
  readonly summaryAttribute: string | null;
  /** Custom patterns exist: every string is decoded and searched (they have no byte prefilter). */
  readonly hasCustom: boolean;
  /**
   * The prefilter triggers (policy/detect/prefilter.ts) that can lead to a finding of an enabled
   * detector: a string meeting none of them needs no decoding (ALL_TRIGGERS with custom patterns).
   */
  readonly activeTriggers: number;
  /** Null: every metric name allowed. */
  readonly metricAllowed: ((name: string) => boolean) | null;
  /** Null: every service name allowed. */
  readonly serviceAllowed: ((name: string) => boolean) | null;
  /** Key rules for one signal, memoised per key string. */
  keyInfo(signal: Signal, key: string): KeyInfo;
  /**
   * The value with every finding replaced per its category's action; `count` findings, each also added
   * to `counts` under its category. The same string comes back (count 0) when nothing is found.
   * `triggers` (policy/detect/prefilter.ts secretTriggers of the value's bytes) skips the detectors
   * whose necessary condition the value does not meet; the default runs them all. `sensitive`, when
   * the caller knows it (KeyInfo.sensitive of `key`), saves looking the key's name up again.
   */
  redact(value: string, key: string | undefined, counts: Counts, triggers?: number, sensitive?: boolean): { value: string; count: number };
  /**
   * The allocation-light form of redact for the fast path: finds the secrets of `value` (same
   * arguments, same findings) and returns how many; the findings stay in `found` until the next call,
   * and nothing is counted (the caller counts by `found.cat`, an index into `categories`).
   */
  scan(value: string, key: string | undefined, triggers: number, sensitive: boolean): number;
  /** The findings of the last scan: sorted, non-overlapping, UTF-16 offsets into its value. */
  readonly found: FoundSecrets;
  /** Category names, indexed as FoundSecrets.cat reports them. */
  readonly categories: readonly string[];
  /** What replaces finding `i` of the last scan of `value` (its category's action). */
  replacement(i: number, value: string): string;
  /** The replacement text of a value under a blocked key with action mask (null: not a string value). */
  maskBlocked(rule: KeyRule, value: string | null): string;
  /**
   * A `bytes_value` under `key` redacted like a string value (read as bytesAsText says): findings
   * replaced, the result encoded back the same way. The same array comes back (count 0) when nothing is found.
   */
  redactBytes(value: Uint8Array, key: string | undefined, counts: Counts): { value: Uint8Array; count: number };
}

/**
 * How a `bytes_value` is read for redaction: as UTF-8 when it is valid UTF-8 (text sent as bytes),
 * otherwise as Latin-1, one character per byte, so that an ASCII secret inside binary data is still
 * found (every detector's syntax is ASCII). textAsBytes writes the redacted text back the same way.
 */
export function bytesAsText(b: Uint8Array, s: number, e: number, utf8: boolean): string {
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return text.toString(utf8 ? 'utf8' : 'latin1', s, e);
}

export function textAsBytes(text: string, utf8: boolean): Buffer {
  return Buffer.from(text, utf8 ? 'utf8' : 'latin1');
}

/** The pseudo-key under which an instrumentation scope's version is scanned (a version key: no IPv4). */
export const SCOPE_VERSION_KEY = 'scope.version';

/** The compiled rules of one policy version. */
export interface VersionRules {
  readonly version: string;
  forTenant(tenant: string): RuleSet;
}

// ---- text actions ----

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/** s.slice(0, n) without splitting a surrogate pair (the cut moves left). */
function headOf(s: string, n: number): string {
  if (n <= 0) return '';
  if (n >= s.length) return s;
  return s.slice(0, isHigh(s.charCodeAt(n - 1)) && isLow(s.charCodeAt(n)) ? n - 1 : n);
}

/** s.slice(-n) without splitting a surrogate pair (the cut moves right). */
function tailOf(s: string, n: number): string {
  if (n <= 0) return '';
  if (n >= s.length) return s;
  const at = s.length - n;
  return s.slice(isLow(s.charCodeAt(at)) && isHigh(s.charCodeAt(at - 1)) ? at + 1 : at);
}

/**
 * The mask of a secret: kept prefix + MASK + kept suffix. The prefix and suffix are kept only while
 * they leave at least half of the secret hidden, so a policy cannot keep a short secret whole.
 */
export function maskText(text: string, keepPrefix: number, keepSuffix: number): string {
  if (keepPrefix + keepSuffix === 0 || (keepPrefix + keepSuffix) * 2 > text.length) return MASK;
  return headOf(text, keepPrefix) + MASK + tailOf(text, keepSuffix);
}

/** HMAC-SHA256 keys per (env var, tenant): the tenant is mixed into the key, so tenants' hashes never join. */
const tenantKeys = new Map<string, Buffer | null>();

function tenantHashKey(env: string, tenant: string): Buffer | null {
  const id = `${env}\u0000${tenant}`;
  let key = tenantKeys.get(id);
  if (key === undefined) {
    const secret = process.env[env];
    // Without a key a hash of a low-entropy value (a phone number) could be reversed by trying them
    // all: fall back to masking (fail closed), never to an unkeyed hash.
    key = secret ? createHmac('sha256', secret).update(`stella-tenant:${tenant}`).digest() : null;
    if (tenantKeys.size > 1024) tenantKeys.clear();
    tenantKeys.set(id, key);
  }
  return key;
}

function applyAction(action: Action, text: string, tenant: string): string {
  switch (action.type) {
    case 'mask':
      return maskText(text, action.keepPrefix, action.keepSuffix);
    case 'hash': {
      const key = tenantHashKey(action.hashKeyEnv, tenant);
      if (key === null) return MASK;
      return HASH_PREFIX + createHmac('sha256', key).update(text, 'utf8').digest('hex').slice(0, HASH_HEX);
    }
    case 'drop':
      return '';
    case 'truncate':
      return headOf(text, action.maxLength);
  }
}

// ---- compiling a policy ----

interface CustomMatcher {
  category: string;
  re: RegExp;
  action: Action;
}

const RANK = new Map<string, number>(DETECTORS.map((d, i) => [d.category, i]));

let nextRuleSetId = 1;

class TenantRules implements RuleSet {
  readonly id = nextRuleSetId++;
  readonly noop: boolean;
  readonly summaryAttribute: string | null;
  readonly hasCustom: boolean;
  readonly activeTriggers: number;
  readonly metricAllowed: ((name: string) => boolean) | null;
  readonly serviceAllowed: ((name: string) => boolean) | null;
  private readonly detectors: Detector[];
  /** Per enabled detector, the prefilter triggers that can precede its findings. */
  private readonly detectorTriggers: number[];
  private readonly actions = new Map<string, Action>();
  private readonly rank = new Map<string, number>();
  private readonly custom: CustomMatcher[];
  private readonly passwordByKey: boolean;
  private readonly blocked: { match: (k: string) => boolean; rule: KeyRule }[];
  private readonly allow: Record<Signal, (k: string) => boolean>;
  private readonly keys = new Map<string, KeyInfo>();
  private readonly keyMemo: Record<Signal, Map<string, KeyInfo>> = { traces: new Map(), metrics: new Map(), logs: new Map() };
  readonly found: FoundSecrets = { start: [], end: [], cat: [] };
  readonly categories: string[];
  /** The action of each category (by index; undefined for a disabled detector, which never reports). */
  private readonly catActions: (Action | undefined)[];
  private readonly passwordIndex: number;
  /**
   * The detectors' raw findings of the string being scanned: emptied by pops after each scan (setting
   * the length is a runtime call; a new array per string with findings was garbage).
   */
  private readonly raw: Finding[] = [];

  constructor(
    p: EffectivePolicy,
    private readonly tenant: string,
    regexes: Map<string, RegExp>,
  ) {
    const r = p.redaction;
    for (const d of r.detectors) this.actions.set(d.category, d.action);
    this.detectors = DETECTORS.filter((d) => this.actions.has(d.category));
    this.detectorTriggers = this.detectors.map((d) => CATEGORY_TRIGGERS[d.category] ?? ALL_TRIGGERS);
    this.passwordByKey = this.actions.has('password_by_key');
    for (const [c, i] of RANK) this.rank.set(c, i);
    this.custom = r.custom.map((c, i) => {
      const id = `${c.flags}/${c.regex}`;
      let re = regexes.get(id);
      if (!re) {
        re = new RegExp(c.regex, `${c.flags}g`);
        regexes.set(id, re);
      }
      const category = `custom.${c.name}`;
      this.actions.set(category, c.action);
      this.rank.set(category, DETECTORS.length + i);
      return { category, re, action: c.action };
    });
    this.hasCustom = this.custom.length > 0;
    this.categories = [...DETECTORS.map((d) => d.category as string), ...this.custom.map((c) => c.category)];
    this.catActions = this.categories.map((c) => this.actions.get(c));
    this.passwordIndex = RANK.get('password_by_key')!;
    let active = 0;
    for (const t of this.detectorTriggers) active |= t;
    this.activeTriggers = this.hasCustom ? ALL_TRIGGERS : active;
    this.blocked = r.blockedKeys.map((rule) => ({ match: globMatcher([rule.pattern], { ignoreCase: true }), rule }));
    const a = p.allowlists;
    const keyList = (s: Signal): ((k: string) => boolean) => {
      const list = a.attributeKeys[s];
      // Fail closed: in allowlist mode a signal without a list keeps no keys.
      if (list === null) return r.keyMode === 'allowlist' ? () => false : () => true;
      return globMatcher(list);
    };
    this.allow = { traces: keyList('traces'), metrics: keyList('metrics'), logs: keyList('logs') };
    this.metricAllowed = a.metricNames === null ? null : globMatcher(a.metricNames);
    this.serviceAllowed = a.serviceNames === null ? null : globMatcher(a.serviceNames);
    this.summaryAttribute = r.summaryAttribute;
    this.noop =
      this.detectors.length === 0 &&
      this.custom.length === 0 &&
      this.blocked.length === 0 &&
      r.keyMode === 'open' &&
      a.metricNames === null &&
      a.serviceNames === null &&
      a.attributeKeys.traces === null &&
      a.attributeKeys.metrics === null &&
      a.attributeKeys.logs === null;
  }

  keyInfo(signal: Signal, key: string): KeyInfo {
    const memo = this.keyMemo[signal];
    let info = memo.get(key);
    if (info !== undefined) return info;
    let base = this.keys.get(key);
    if (base === undefined) {
      let blocked: KeyRule | null = null;
      for (const b of this.blocked) {
        if (b.match(key)) {
          blocked = b.rule;
          break;
        }
      }
      base = { key, allowed: true, blocked, sensitive: this.passwordByKey && isSensitiveKey(key), keySecret: this.keyHasSecret(key) };
      this.keys.set(key, base);
    }
    info = { ...base, allowed: this.allow[signal](key) };
    // Keys come from clients: bound the memo (a hostile request could send a million distinct keys).
    if (memo.size >= 4096) memo.clear();
    if (this.keys.size >= 4096) this.keys.clear();
    memo.set(key, info);
    return info;
  }

  /** Whether the key's own text holds a finding (once per distinct key: keyInfo memoises). */
  private keyHasSecret(key: string): boolean {
    if (key.length === 0 || (this.activeTriggers === 0 && !this.hasCustom)) return false;
    const bytes = Buffer.from(key, 'utf8');
    const triggers = secretTriggers(bytes, 0, bytes.length);
    if ((triggers & this.activeTriggers) === 0 && !this.hasCustom) return false;
    return this.scan(key, undefined, triggers, false) > 0;
  }

  scan(value: string, key: string | undefined, triggers: number, sensitive: boolean): number {
    if (value.length === 0) return 0;
    const found = this.found;
    // Do not keep what a string with very many findings grew (the last scan's findings are done with).
    if (found.start.length > 1024) found.start.length = found.end.length = found.cat.length = 0;
    if (key !== undefined && this.passwordByKey && sensitive) {
      found.start[0] = 0;
      found.end[0] = value.length;
      found.cat[0] = this.passwordIndex;
      return 1;
    }
    const raw = this.raw;
    // Empty unless a scan was cut short (nothing here throws on a string; still, never reuse findings).
    if (raw.length !== 0) raw.length = 0;
    const detectors = this.detectors;
    const detectorTriggers = this.detectorTriggers;
    for (let i = 0; i < detectors.length; i++) {
      if ((detectorTriggers[i]! & triggers) !== 0) detectors[i]!.find(value, raw, key);
    }
    const custom = this.custom;
    for (let c = 0; c < custom.length; c++) {
      const re = custom[c]!.re;
      re.lastIndex = 0;
      for (let m = re.exec(value); m !== null; m = re.exec(value)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        raw.push({ category: custom[c]!.category, start: m.index, end: m.index + m[0].length });
      }
    }
    const n = raw.length;
    if (n === 0) return 0;
    const rank = this.rank;
    if (n === 1) {
      const f = raw[0]!;
      found.start[0] = f.start;
      found.end[0] = f.end;
      found.cat[0] = rank.get(f.category)!;
      raw.pop();
      return 1;
    }
    // As findSecrets (policy/detect/index.ts): sorted, overlaps merged into the finding that starts
    // first (ties: the more specific detector, then custom patterns in name order).
    raw.sort((a, b) => a.start - b.start || rank.get(a.category)! - rank.get(b.category)! || b.end - a.end);
    let count = 1;
    found.start[0] = raw[0]!.start;
    found.end[0] = raw[0]!.end;
    found.cat[0] = rank.get(raw[0]!.category)!;
    for (let i = 1; i < n; i++) {
      const f = raw[i]!;
      const last = count - 1;
      if (f.start < found.end[last]!) {
        if (f.end > found.end[last]!) found.end[last] = f.end;
      } else {
        found.start[count] = f.start;
        found.end[count] = f.end;
        found.cat[count] = rank.get(f.category)!;
        count++;
      }
    }
    for (let i = 0; i < n; i++) raw.pop();
    return count;
  }

  replacement(i: number, value: string): string {
    const found = this.found;
    const action = this.catActions[found.cat[i]!]!;
    const start = found.start[i]!;
    const end = found.end[i]!;
    // A plain mask needs nothing of the secret but its presence: no slice.
    if (action.type === 'mask' && action.keepPrefix + action.keepSuffix === 0) return MASK;
    return applyAction(action, start === 0 && end === value.length ? value : value.slice(start, end), this.tenant);
  }

  redact(value: string, key: string | undefined, counts: Counts, triggers = ALL_TRIGGERS, sensitive?: boolean): { value: string; count: number } {
    const n = this.scan(value, key, triggers, key !== undefined && this.passwordByKey && (sensitive ?? isSensitiveKey(key)));
    if (n === 0) return { value, count: 0 };
    const found = this.found;
    let out = '';
    let pos = 0;
    for (let i = 0; i < n; i++) {
      const category = this.categories[found.cat[i]!]!;
      counts[category] = (counts[category] ?? 0) + 1;
      out += value.slice(pos, found.start[i]!) + this.replacement(i, value);
      pos = found.end[i]!;
    }
    return { value: out + value.slice(pos), count: n };
  }

  redactBytes(value: Uint8Array, key: string | undefined, counts: Counts): { value: Uint8Array; count: number } {
    if (value.length === 0) return { value, count: 0 };
    const utf8 = isValidUtf8(value, 0, value.length);
    const r = this.redact(bytesAsText(value, 0, value.length, utf8), key, counts);
    return r.count === 0 ? { value, count: 0 } : { value: textAsBytes(r.value, utf8), count: r.count };
  }

  maskBlocked(rule: KeyRule, value: string | null): string {
    if (rule.action.type !== 'mask' || value === null) return MASK;
    return maskText(value, rule.action.keepPrefix, rule.action.keepSuffix);
  }
}

class CompiledVersion implements VersionRules {
  readonly version: string;
  private readonly tenants = new Map<string, TenantRules>();
  /** Custom patterns compiled once per version, shared by the tenants that use them. */
  private readonly regexes = new Map<string, RegExp>();
  private shared: TenantRules | undefined;

  constructor(private readonly policy: CompiledPolicy) {
    this.version = policy.version;
  }

  forTenant(tenant: string): RuleSet {
    let r = this.tenants.get(tenant);
    if (r !== undefined) return r;
    if (Object.hasOwn(this.policy.tenants, tenant)) {
      r = new TenantRules(this.policy.tenants[tenant]!, tenant, this.regexes);
    } else if (usesHash(this.policy.defaults)) {
      // The hash key differs per tenant, so tenants without overrides get their own rule set.
      r = new TenantRules(this.policy.defaults, tenant, this.regexes);
    } else {
      // Otherwise they share the defaults' rule set (and its memos).
      r = this.shared ??= new TenantRules(this.policy.defaults, tenant, this.regexes);
    }
    // Tenant ids come from identities (bounded in practice); still, bound the map.
    if (this.tenants.size > 10_000) this.tenants.clear();
    this.tenants.set(tenant, r);
    return r;
  }
}

function usesHash(p: EffectivePolicy): boolean {
  return p.redaction.detectors.some((d) => d.action.type === 'hash') || p.redaction.custom.some((c) => c.action.type === 'hash');
}

/** Compiles a policy version (no caching: see createPolicyCache). */
export function compileRules(policy: CompiledPolicy): VersionRules {
  return new CompiledVersion(policy);
}

export interface PolicyCache {
  get(version: string): VersionRules | undefined;
  /** Compiles and keeps `policy` (evicting the least recently used beyond the capacity). */
  put(policy: CompiledPolicy): VersionRules;
}

/** The versions a worker keeps: the active one and the previous one cover a reload while tasks run. */
export function createPolicyCache(capacity = 3): PolicyCache {
  const versions = new Map<string, VersionRules>();
  return {
    get(version) {
      const v = versions.get(version);
      if (v !== undefined) {
        versions.delete(version);
        versions.set(version, v);
      }
      return v;
    },
    put(policy) {
      const existing = this.get(policy.version);
      if (existing) return existing;
      const v = compileRules(policy);
      versions.set(policy.version, v);
      while (versions.size > capacity) versions.delete(versions.keys().next().value!);
      return v;
    },
  };
}
