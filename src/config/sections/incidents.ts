// The `incidents` section of the config file: incident mode (src/incident), the admin API's bearer
// tokens (src/admin/auth.ts) and the Notify webhooks (src/incident/notify.ts). Called by ../validate.ts.
//
//   incidents:
//     enabled: true                 # false: no incident API; nothing is ever in incident mode
//     dir: ./data/incidents         # default `${dataDir}/incidents`: state.json + audit.log
//     defaultTtl: 1h                # TTL of an incident started without one
//     maxTtl: 24h                   # longest TTL accepted
//     maxIncidents: 1000            # active incidents at once (tenants + the fleet)
//     adminTokens:                  # bearer tokens of the admin API, stored as SHA-256 hex of the token
//       - { name: oncall, sha256: "<hex>", role: operator, tenants: [acme, globex] }
//       - { name: sre, sha256: "<hex>", role: admin, tenants: "*" }
//     notify:
//       maxQueue: 256               # events waiting per webhook; beyond it new events are dropped (counted)
//       webhooks:
//         - url: https://hooks.example.com/stella
//           secretEnv: STELLA_NOTIFY_SECRET   # or `secret: …` (HMAC-SHA256 key of X-Stella-Signature)
//           timeout: 5s
//           retries: 5
//           backoff: 1s             # first retry delay; doubles per attempt up to maxBackoff
//           maxBackoff: 1m
//     captureOnEnd:                 # when an incident ends, capture its window as signed bundles (src/incident/capture-on-end.ts)
//       enabled: false              # on in the forensic profile
//       lead: 5m                    # the window starts this long before the incident did
//       cooldown: 1m                # a new incident of the same scope within this resumes the ended one (one capture)
import { ADMIN_ROLES, type AdminRole } from '../../admin/auth-types.js';
import { isPlainObject, type RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';
import { TENANT_RE } from '../../tenant-id.js';
import { show } from '../../schema-check.js';

export interface AdminTokenConfig {
  /** Shown in audit logs and errors (never the token itself). */
  name: string;
  /** SHA-256 of the token, lower-case hex (`printf %s TOKEN | sha256sum`). */
  sha256: string;
  role: AdminRole;
  /** '*' = every tenant and the fleet. */
  tenants: '*' | string[];
}

export interface WebhookConfig {
  url: string;
  /** The HMAC key, given inline. */
  secret?: string;
  /** The HMAC key, read from this environment variable when the gateway starts. */
  secretEnv?: string;
  timeoutMs: number;
  /** Attempts after the first one. */
  retries: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface IncidentsConfig {
  enabled: boolean;
  /** State and audit log directory; undefined = `${dataDir}/incidents`. */
  dir?: string;
  defaultTtlMs: number;
  maxTtlMs: number;
  maxIncidents: number;
  adminTokens: AdminTokenConfig[];
  notify: { maxQueue: number; webhooks: WebhookConfig[] };
  captureOnEnd: CaptureOnEndConfig;
}

export interface CaptureOnEndConfig {
  enabled: boolean;
  /** The captured window starts this long before the incident started. */
  leadMs: number;
  /**
   * After an incident ends, the capture waits this long: a new incident of the same scope within it
   * resumes the ended one (same start), so a flapping alert yields one incident and one capture.
   */
  cooldownMs: number;
}

export const DEFAULT_INCIDENTS: IncidentsConfig = {
  enabled: true,
  defaultTtlMs: 3_600_000,
  maxTtlMs: 86_400_000,
  maxIncidents: 1000,
  adminTokens: [],
  notify: { maxQueue: 256, webhooks: [] },
  captureOnEnd: { enabled: false, leadMs: 300_000, cooldownMs: 60_000 },
};

export const DEFAULT_WEBHOOK: Omit<WebhookConfig, 'url'> = { timeoutMs: 5000, retries: 5, initialBackoffMs: 1000, maxBackoffMs: 60_000 };

const TOKEN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const SHA256_RE = /^[0-9a-fA-F]{64}$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function readIncidents(r: Reader, value: unknown): IncidentsConfig {
  const D = DEFAULT_INCIDENTS;
  const s: RawConfig = r.section('incidents', value, ['enabled', 'dir', 'defaultTtl', 'maxTtl', 'maxIncidents', 'adminTokens', 'notify', 'captureOnEnd']);
  const cap: RawConfig = r.section('incidents.captureOnEnd', s.captureOnEnd, ['enabled', 'lead', 'cooldown']);
  const notify: RawConfig = r.section('incidents.notify', s.notify, ['maxQueue', 'webhooks']);
  const maxTtlMs = r.duration('incidents.maxTtl', s.maxTtl, D.maxTtlMs, 1000);
  const defaultTtlMs = r.duration('incidents.defaultTtl', s.defaultTtl, Math.min(D.defaultTtlMs, maxTtlMs), 1000);
  if (defaultTtlMs > maxTtlMs) r.fail('incidents.defaultTtl', `must not exceed incidents.maxTtl (got ${show(s.defaultTtl)})`);
  const config: IncidentsConfig = {
    enabled: r.bool('incidents.enabled', s.enabled, D.enabled),
    defaultTtlMs,
    maxTtlMs,
    maxIncidents: r.int('incidents.maxIncidents', s.maxIncidents, D.maxIncidents, 1, 100_000),
    adminTokens: readTokens(r, s.adminTokens),
    notify: {
      maxQueue: r.int('incidents.notify.maxQueue', notify.maxQueue, D.notify.maxQueue, 1, 100_000),
      webhooks: readWebhooks(r, notify.webhooks),
    },
    captureOnEnd: {
      enabled: r.bool('incidents.captureOnEnd.enabled', cap.enabled, D.captureOnEnd.enabled),
      leadMs: r.duration('incidents.captureOnEnd.lead', cap.lead, D.captureOnEnd.leadMs, 0),
      cooldownMs: r.duration('incidents.captureOnEnd.cooldown', cap.cooldown, D.captureOnEnd.cooldownMs, 0),
    },
  };
  const dir = s.dir === undefined || s.dir === null ? undefined : r.string('incidents.dir', s.dir, '');
  if (dir) config.dir = dir;
  return config;
}

function readTokens(r: Reader, value: unknown): AdminTokenConfig[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    r.fail('incidents.adminTokens', `expected a list of tokens (got ${show(value)})`);
    return [];
  }
  const tokens: AdminTokenConfig[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  value.forEach((entry: unknown, i) => {
    const path = `incidents.adminTokens[${i}]`;
    if (!isPlainObject(entry)) {
      r.fail(path, `expected a mapping such as {name: oncall, sha256: "<hex>", role: operator, tenants: [acme]} (got ${show(entry)})`);
      return;
    }
    const e = r.section(path, entry, ['name', 'sha256', 'role', 'tenants']);
    const before = r.errors.length;
    if (e.name === undefined || e.name === null) r.fail(`${path}.name`, 'required: a name for audit logs');
    const name = r.string(`${path}.name`, e.name, '', { re: TOKEN_NAME_RE, what: 'a name of letters, digits, ".", "_", "@" or "-" (at most 64)' });
    if (e.sha256 === undefined || e.sha256 === null) r.fail(`${path}.sha256`, 'required: the SHA-256 hex of the token (printf %s TOKEN | sha256sum)');
    const sha256 = r.string(`${path}.sha256`, e.sha256, '', { re: SHA256_RE, what: '64 hex digits (printf %s TOKEN | sha256sum)' }).toLowerCase();
    if (e.role === undefined || e.role === null) r.fail(`${path}.role`, `required: one of ${ADMIN_ROLES.join(', ')}`);
    const role = r.oneOf(`${path}.role`, e.role, 'viewer', ADMIN_ROLES);
    const tenants = readScopes(r, `${path}.tenants`, e.tenants);
    if (r.errors.length !== before) return;
    if (names.has(name)) r.fail(`${path}.name`, `duplicate token name ${show(name)}`);
    if (hashes.has(sha256)) r.fail(`${path}.sha256`, 'the same token hash is configured twice');
    names.add(name);
    hashes.add(sha256);
    tokens.push({ name, sha256, role, tenants });
  });
  return tokens;
}

function readScopes(r: Reader, path: string, value: unknown): '*' | string[] {
  const what = 'expected "*" (every tenant and the fleet) or a list of tenant ids';
  if (value === undefined || value === null) {
    r.fail(path, `required: ${what.slice('expected '.length)}`);
    return [];
  }
  if (value === '*') return '*';
  if (!Array.isArray(value) || value.length === 0) {
    r.fail(path, `${what} (got ${show(value)})`);
    return [];
  }
  if (value.includes('*')) return '*';
  const out: string[] = [];
  value.forEach((v: unknown, i) => {
    if (typeof v !== 'string' || !TENANT_RE.test(v)) r.fail(`${path}[${i}]`, `expected a tenant id of letters, digits, ".", "_" or "-" (got ${show(v)})`);
    else out.push(v);
  });
  return out;
}

function readWebhooks(r: Reader, value: unknown): WebhookConfig[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    r.fail('incidents.notify.webhooks', `expected a list of webhooks (got ${show(value)})`);
    return [];
  }
  const hooks: WebhookConfig[] = [];
  value.forEach((entry: unknown, i) => {
    const path = `incidents.notify.webhooks[${i}]`;
    if (!isPlainObject(entry)) {
      r.fail(path, `expected a mapping such as {url: "https://hooks.example.com/x", secretEnv: STELLA_NOTIFY_SECRET} (got ${show(entry)})`);
      return;
    }
    const e = r.section(path, entry, ['url', 'secret', 'secretEnv', 'timeout', 'retries', 'backoff', 'maxBackoff']);
    const before = r.errors.length;
    let url = '';
    if (typeof e.url !== 'string') r.fail(`${path}.url`, `required: an http:// or https:// URL (got ${show(e.url)})`);
    else {
      try {
        const u = new URL(e.url);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') r.fail(`${path}.url`, `expected an http:// or https:// URL (got ${show(e.url)})`);
        url = e.url;
      } catch {
        r.fail(`${path}.url`, `expected an http:// or https:// URL (got ${show(e.url)})`);
      }
    }
    const hasSecret = e.secret !== undefined && e.secret !== null;
    const hasEnv = e.secretEnv !== undefined && e.secretEnv !== null;
    if (hasSecret === hasEnv) r.fail(path, 'set exactly one of secret or secretEnv (the HMAC-SHA256 key that signs each event)');
    const secret = hasSecret ? r.string(`${path}.secret`, e.secret, '') : undefined;
    if (hasSecret && secret === '') r.fail(`${path}.secret`, 'must not be empty');
    const secretEnv = hasEnv ? r.string(`${path}.secretEnv`, e.secretEnv, '', { re: ENV_RE, what: 'an environment variable name' }) : undefined;
    const D = DEFAULT_WEBHOOK;
    const hook: WebhookConfig = {
      url,
      timeoutMs: r.duration(`${path}.timeout`, e.timeout, D.timeoutMs, 1),
      retries: r.int(`${path}.retries`, e.retries, D.retries, 0, 100),
      initialBackoffMs: r.duration(`${path}.backoff`, e.backoff, D.initialBackoffMs, 1),
      maxBackoffMs: r.duration(`${path}.maxBackoff`, e.maxBackoff, D.maxBackoffMs, 1),
    };
    if (secret) hook.secret = secret;
    if (secretEnv) hook.secretEnv = secretEnv;
    if (r.errors.length === before) hooks.push(hook);
  });
  return hooks;
}
