// The schema of the two policy files, `redaction.yaml` and `allowlists.yaml` (their names are public
// interface; policies/README.md documents them with examples). `validateRedaction` and
// `validateAllowlists` take the parsed YAML (plain values) and return either the typed file or every
// error, each with the path of the offending value (`detectors.email.action`) and whether it points
// at a key or a value, so that load.ts can add `file:line:column` from the YAML parser.
//
// Both files have the same outline: rules at the top level, then `tenants: {<id>: overrides}` and
// `profiles: {<name>: overrides}`, where overrides use the rule keys of the top level. Rules in
// mappings (key patterns, detectors, custom patterns) are replaced entry by entry, and `off` removes
// an inherited entry; lists (allowlists) are replaced whole.
import { SIGNALS, type Signal } from '../signals.js';
import { CATEGORIES } from './detect/index.js';
import { checkPattern } from './safe-regex.js';
import { TENANT_RE } from '../tenant-id.js';
import {
  SchemaErrors,
  integerError,
  isMapping,
  expectedMapping,
  oneOfError,
  show,
  unknownKey,
  type PathSegment,
  type Validated,
} from '../schema-check.js';

export const REDACTION_FILE = 'redaction.yaml';
export const ALLOWLISTS_FILE = 'allowlists.yaml';

export const ACTIONS = ['mask', 'hash', 'drop', 'truncate'] as const;
export type ActionName = (typeof ACTIONS)[number];
export const KEY_ACTIONS = ['drop', 'mask'] as const;
export const KEY_MODES = ['open', 'allowlist'] as const;
export type KeyMode = (typeof KEY_MODES)[number];
/** Disables an inherited rule in a tenant or profile override (or in the base file, for clarity). */
export const OFF = 'off';
/** An allowlist that allows everything (the default; also lifts an inherited list in an override). */
export const ANY = 'any';
/** The environment variable holding the HMAC key of `hash` actions when none is named. */
export const DEFAULT_HASH_KEY_ENV = 'STELLA_HASH_KEY';
/** Mask and truncate bounds: a policy cannot make the redactor keep a whole secret by accident. */
export const MAX_KEEP = 16;
export const MAX_TRUNCATE = 65536;

export type ActionSpec =
  | { action: 'mask'; keepPrefix?: number; keepSuffix?: number }
  | { action: 'hash'; hashKeyEnv?: string }
  | { action: 'drop' }
  | { action: 'truncate'; maxLength: number };

export type KeyActionSpec = { action: 'drop' } | { action: 'mask'; keepPrefix?: number; keepSuffix?: number };

export type CustomSpec = ActionSpec & { regex: string; flags?: string };

/** The rule keys of redaction.yaml: the whole top level, and every tenant or profile override. */
export interface RedactionRules {
  keys?: { mode?: KeyMode; blocked?: Record<string, KeyActionSpec | typeof OFF> };
  detectors?: Record<string, ActionSpec | typeof OFF>;
  custom?: Record<string, CustomSpec | typeof OFF>;
  hashKeyEnv?: string;
  summaryAttribute?: string;
}

export interface RedactionFile extends RedactionRules {
  tenants: Record<string, RedactionRules>;
  profiles: Record<string, RedactionRules>;
}

export type NameList = string[] | typeof ANY;

export interface AllowlistRules {
  metricNames?: NameList;
  attributeKeys?: Partial<Record<Signal, NameList>>;
  serviceNames?: NameList;
}

export interface AllowlistsFile extends AllowlistRules {
  tenants: Record<string, AllowlistRules>;
  profiles: Record<string, AllowlistRules>;
}


const PROFILE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RULE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** POSIX environment variable names: the key itself never appears in a policy file. */
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Attribute keys, metric names and service names (and globs of them): non-empty, no control characters. */
const NAME_RE = /^[^\u0000-\u001f\u007f]{1,255}$/;

/** Collects every error of a document (not just the first); the other policy schemas extend it. */
export class Checker extends SchemaErrors {
  /** A mapping whose keys are all in `allowed`; unknown keys are reported (with a suggestion). */
  mapping(path: PathSegment[], value: unknown, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (value === null || value === undefined) return {};
    if (!isMapping(value)) {
      this.fail(path, expectedMapping(value));
      return undefined;
    }
    for (const k of Object.keys(value)) {
      if (!allowed.includes(k)) this.fail([...path, k], `${unknownKey(k, allowed)}; expected one of ${allowed.join(', ')}`, true);
    }
    return value;
  }

  /** A mapping with free keys (names, ids) checked by `keyOk`. */
  dictionary(path: PathSegment[], value: unknown, keyRule: { re: RegExp; what: string }): Record<string, unknown> | undefined {
    if (value === null || value === undefined) return {};
    if (!isMapping(value)) {
      this.fail(path, expectedMapping(value));
      return undefined;
    }
    for (const k of Object.keys(value)) {
      if (!keyRule.re.test(k)) this.fail([...path, k], `expected ${keyRule.what} (got ${show(k)})`, true);
    }
    return value;
  }

  oneOf<T extends string>(path: PathSegment[], value: unknown, choices: readonly T[]): T | undefined {
    const error = oneOfError(value, choices);
    if (error === undefined) return value as T;
    this.fail(path, error);
    return undefined;
  }

  integer(path: PathSegment[], value: unknown, min: number, max: number): number | undefined {
    const error = integerError(value, min, max);
    if (error === undefined) return value as number;
    this.fail(path, error);
    return undefined;
  }

  string(path: PathSegment[], value: unknown, rule: { re: RegExp; what: string; hideValue?: boolean }): string | undefined {
    if (typeof value === 'string' && rule.re.test(value)) return value;
    // A value that may be a key pasted where its variable name belongs is not echoed into logs.
    const got = rule.hideValue && typeof value === 'string' ? 'a string that is not a variable name; not shown' : show(value);
    this.fail(path, `expected ${rule.what} (got ${got})`);
    return undefined;
  }
}

const ENV_RULE = { re: ENV_RE, what: 'the name of an environment variable holding the key (such as STELLA_HASH_KEY), never the key itself', hideValue: true };

/**
 * An action: the shorthand `mask` / `hash` / `drop` (`truncate` needs maxLength), or a mapping
 * `{action, keepPrefix?, keepSuffix?}` / `{action: hash, hashKeyEnv?}` / `{action: truncate, maxLength}`.
 * `extraKeys` are the other keys the mapping may hold (a custom pattern's `regex`, `flags`).
 */
function action(
  c: Checker,
  path: PathSegment[],
  value: unknown,
  choices: readonly ActionName[],
  extraKeys: readonly string[] = [],
): ActionSpec | undefined {
  if (typeof value === 'string') {
    const name = c.oneOf(path, value, choices);
    if (name === 'truncate') {
      c.fail(path, 'truncate needs a length: write { action: truncate, maxLength: N }');
      return undefined;
    }
    return name === undefined ? undefined : ({ action: name } as ActionSpec);
  }
  const perAction: Record<ActionName, readonly string[]> = {
    mask: ['keepPrefix', 'keepSuffix'],
    hash: ['hashKeyEnv'],
    drop: [],
    truncate: ['maxLength'],
  };
  const all = ['action', ...extraKeys, ...new Set(choices.flatMap((a) => perAction[a]))];
  const m = c.mapping(path, value, all);
  if (!m) return undefined;
  if (m.action === undefined) {
    c.fail(path, `expected an action: one of ${choices.join(', ')} (as a word, or as { action: … })`);
    return undefined;
  }
  const name = c.oneOf([...path, 'action'], m.action, choices);
  if (name === undefined) return undefined;
  for (const k of Object.keys(m)) {
    if (k === 'action' || extraKeys.includes(k) || !all.includes(k)) continue;
    if (!perAction[name].includes(k)) c.fail([...path, k], `only valid with action ${ACTIONS.find((a) => perAction[a].includes(k))} (this rule's action is ${name})`, true);
  }
  switch (name) {
    case 'mask': {
      const out: ActionSpec = { action: 'mask' };
      if (m.keepPrefix !== undefined) out.keepPrefix = c.integer([...path, 'keepPrefix'], m.keepPrefix, 0, MAX_KEEP);
      if (m.keepSuffix !== undefined) out.keepSuffix = c.integer([...path, 'keepSuffix'], m.keepSuffix, 0, MAX_KEEP);
      return out;
    }
    case 'hash': {
      const out: ActionSpec = { action: 'hash' };
      if (m.hashKeyEnv !== undefined) out.hashKeyEnv = c.string([...path, 'hashKeyEnv'], m.hashKeyEnv, ENV_RULE);
      return out;
    }
    case 'drop':
      return { action: 'drop' };
    case 'truncate': {
      if (m.maxLength === undefined) {
        c.fail(path, 'truncate needs maxLength (the number of characters kept)');
        return undefined;
      }
      const maxLength = c.integer([...path, 'maxLength'], m.maxLength, 1, MAX_TRUNCATE);
      return maxLength === undefined ? undefined : { action: 'truncate', maxLength };
    }
  }
}

const REDACTION_RULE_KEYS = ['keys', 'detectors', 'custom', 'hashKeyEnv', 'summaryAttribute'] as const;

function redactionRules(c: Checker, path: PathSegment[], raw: Record<string, unknown>): RedactionRules {
  const out: RedactionRules = {};
  if (raw.keys !== undefined) {
    const keys = c.mapping([...path, 'keys'], raw.keys, ['mode', 'blocked']);
    if (keys) {
      out.keys = {};
      if (keys.mode !== undefined) out.keys.mode = c.oneOf([...path, 'keys', 'mode'], keys.mode, KEY_MODES);
      if (keys.blocked !== undefined) {
        const blocked = c.dictionary([...path, 'keys', 'blocked'], keys.blocked, { re: NAME_RE, what: 'a key pattern such as "*password*"' });
        if (blocked) {
          out.keys.blocked = {};
          for (const [pattern, spec] of Object.entries(blocked)) {
            const p = [...path, 'keys', 'blocked', pattern];
            if (spec === OFF) out.keys.blocked[pattern] = OFF;
            else {
              const a = action(c, p, spec, KEY_ACTIONS);
              if (a) out.keys.blocked[pattern] = a as KeyActionSpec;
            }
          }
        }
      }
    }
  }
  if (raw.detectors !== undefined) {
    const detectors = c.mapping([...path, 'detectors'], raw.detectors, CATEGORIES);
    if (detectors) {
      out.detectors = {};
      for (const [category, spec] of Object.entries(detectors)) {
        if (!CATEGORIES.includes(category as never)) continue;
        const p = [...path, 'detectors', category];
        if (spec === OFF) out.detectors[category] = OFF;
        else {
          const a = action(c, p, spec, ACTIONS);
          if (a) out.detectors[category] = a;
        }
      }
    }
  }
  if (raw.custom !== undefined) {
    const custom = c.dictionary([...path, 'custom'], raw.custom, { re: RULE_NAME_RE, what: 'a pattern name (letters, digits, ".", "_", "-")' });
    if (custom) {
      out.custom = {};
      for (const [name, spec] of Object.entries(custom)) {
        const p = [...path, 'custom', name];
        if (spec === OFF) {
          out.custom[name] = OFF;
          continue;
        }
        if (!isMapping(spec)) {
          c.fail(p, `expected a mapping with regex and action, or "off" (got ${show(spec)})`);
          continue;
        }
        const a = action(c, p, spec, ACTIONS, ['regex', 'flags']);
        let regex: string | undefined;
        let flags: string | undefined;
        if (spec.flags !== undefined) flags = c.string([...p, 'flags'], spec.flags, { re: /^i?$/, what: 'the flags "i" or "" (the redactor adds "g" itself)' });
        if (typeof spec.regex !== 'string') c.fail([...p, 'regex'], `expected a regular expression as a string (got ${show(spec.regex)})`, spec.regex === undefined);
        else {
          const checked = checkPattern(spec.regex, flags ?? '');
          if (!checked.ok) c.fail([...p, 'regex'], `unsafe or invalid pattern: ${checked.reason}`);
          else regex = spec.regex;
        }
        if (a && regex !== undefined) out.custom[name] = { ...a, regex, ...(flags ? { flags } : {}) };
      }
    }
  }
  if (raw.hashKeyEnv !== undefined) out.hashKeyEnv = c.string([...path, 'hashKeyEnv'], raw.hashKeyEnv, ENV_RULE);
  if (raw.summaryAttribute !== undefined) {
    out.summaryAttribute = c.string([...path, 'summaryAttribute'], raw.summaryAttribute, { re: NAME_RE, what: 'an attribute key such as stella.redactions, or "off"' });
  }
  return out;
}

function nameList(c: Checker, path: PathSegment[], value: unknown, what: string, one: string): NameList | undefined {
  if (value === ANY) return ANY;
  if (!Array.isArray(value)) {
    c.fail(path, `expected a list of ${what} (globs allowed) or "any" (got ${show(value)})`);
    return undefined;
  }
  const out: string[] = [];
  value.forEach((v, i) => {
    const s = c.string([...path, i], v, { re: NAME_RE, what: `${one} or glob` });
    if (s !== undefined) out.push(s);
  });
  return out;
}

const ALLOWLIST_RULE_KEYS = ['metricNames', 'attributeKeys', 'serviceNames'] as const;

function allowlistRules(c: Checker, path: PathSegment[], raw: Record<string, unknown>): AllowlistRules {
  const out: AllowlistRules = {};
  if (raw.metricNames !== undefined) out.metricNames = nameList(c, [...path, 'metricNames'], raw.metricNames, 'metric names', 'a metric name');
  if (raw.attributeKeys !== undefined) {
    const m = c.mapping([...path, 'attributeKeys'], raw.attributeKeys, SIGNALS);
    if (m) {
      out.attributeKeys = {};
      for (const s of SIGNALS) {
        if (m[s] !== undefined) out.attributeKeys[s] = nameList(c, [...path, 'attributeKeys', s], m[s], 'attribute keys', 'an attribute key');
      }
    }
  }
  if (raw.serviceNames !== undefined) out.serviceNames = nameList(c, [...path, 'serviceNames'], raw.serviceNames, 'service names', 'a service name');
  return out;
}

function file<R, F extends R & { tenants: Record<string, R>; profiles: Record<string, R> }>(
  raw: unknown,
  ruleKeys: readonly string[],
  rules: (c: Checker, path: PathSegment[], raw: Record<string, unknown>) => R,
): Validated<F> {
  const c = new Checker();
  if (raw !== null && raw !== undefined && !isMapping(raw)) {
    return { ok: false, errors: [{ path: [], message: `expected a mapping at the top level (got ${show(raw)})` }] };
  }
  const top = c.mapping([], raw, [...ruleKeys, 'tenants', 'profiles']) ?? {};
  const out = { ...rules(c, [], top), tenants: {}, profiles: {} } as F;
  for (const [section, re, what] of [
    ['tenants', TENANT_RE, 'a tenant id'],
    ['profiles', PROFILE_RE, 'a profile name'],
  ] as const) {
    const d = c.dictionary([section], top[section], { re, what });
    for (const [name, override] of Object.entries(d ?? {})) {
      const m = c.mapping([section, name], override, ruleKeys);
      if (m) (out[section] as Record<string, R>)[name] = rules(c, [section, name], m);
    }
  }
  return c.errors.length > 0 ? { ok: false, errors: c.errors } : { ok: true, value: out };
}

/** Checks the parsed `redaction.yaml` (null or undefined: an empty file). */
export function validateRedaction(raw: unknown): Validated<RedactionFile> {
  return file<RedactionRules, RedactionFile>(raw, REDACTION_RULE_KEYS, redactionRules);
}

/** Checks the parsed `allowlists.yaml` (null or undefined: an empty file). */
export function validateAllowlists(raw: unknown): Validated<AllowlistsFile> {
  return file<AllowlistRules, AllowlistsFile>(raw, ALLOWLIST_RULE_KEYS, allowlistRules);
}
