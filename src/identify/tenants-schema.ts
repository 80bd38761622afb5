// The schema of policies/tenants.yaml: who may send as which tenant, and each tenant's quota.
// `validateTenantsFile` takes the parsed YAML (plain values) and returns the typed file or every error,
// each with its path (`identities[2].tokenSha256`) so tenants-file.ts can add `file:line:column`
// (the same error form as the other policy files, src/policy/schema.ts).
//
//   defaults:
//     quota: { itemsPerSecond: 20000, itemsBurst: 40000, bytesPerSecond: 20MiB, bytesBurst: 40MiB }
//   tenants:
//     acme:
//       quota: { itemsPerSecond: 5000 }
//   identities:
//     - name: ci-runner
//       spiffeId: spiffe://stella.local/ci          # exactly one of spiffeId, subject, tokenSha256
//       tenants: [acme, globex]                      # the first is used without X-Scope-OrgID
//     - name: legacy-app
//       subject: "CN=legacy-app,O=Acme"
//       tenants: acme
//     - name: grafana-agent
//       tokenSha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//       tenants: [globex]
import { parseSize } from '../config/units.js';
import type { QuotaSpec } from '../config/sections/tenancy.js';
import { canonicalSubject } from './peer-identity.js';
import { TENANT_RE, TENANT_WHAT } from '../tenant-id.js';
import { SchemaErrors, isMapping, expectedMapping, show, unknownKey, type PathSegment, type Validated } from '../schema-check.js';

export const TENANTS_FILE = 'tenants.yaml';

export type IdentityKind = 'spiffe' | 'subject' | 'token';

export interface IdentitySpec {
  /** For logs and error messages; defaults to `identities[i]`. */
  name: string;
  kind: IdentityKind;
  /** SPIFFE ID, canonical subject, or lower-case SHA-256 hex of the token. */
  match: string;
  /** Bound tenants, in the order written; the first is the default. */
  tenants: string[];
}

export interface TenantSpec {
  quota?: Partial<QuotaSpec>;
}

export interface TenantsFile {
  defaults: { quota?: Partial<QuotaSpec> };
  tenants: Record<string, TenantSpec>;
  identities: IdentitySpec[];
}

export const EMPTY_TENANTS_FILE: TenantsFile = { defaults: {}, tenants: {}, identities: [] };

/** spiffe://trust-domain/path (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md). */
const SPIFFE_RE = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/;
const SHA256_RE = /^[0-9a-fA-F]{64}$/;
const NAME_RE = /^[^\u0000-\u001f\u007f]{1,128}$/;

const TOP_KEYS = ['defaults', 'tenants', 'identities'];
const QUOTA_KEYS = ['itemsPerSecond', 'itemsBurst', 'bytesPerSecond', 'bytesBurst'] as const;
const IDENTITY_KEYS = ['name', 'spiffeId', 'subject', 'tokenSha256', 'tenants'];
const MATCH_KEYS = ['spiffeId', 'subject', 'tokenSha256'] as const;

class Checker extends SchemaErrors {
  /** A mapping with only `keys`; null/absent is empty. */
  mapping(path: PathSegment[], value: unknown, keys?: readonly string[]): Record<string, unknown> {
    if (value === undefined || value === null) return {};
    if (!isMapping(value)) {
      this.fail(path, expectedMapping(value));
      return {};
    }
    if (keys) {
      for (const k of Object.keys(value)) if (!keys.includes(k)) this.fail([...path, k], unknownKey(k, keys), true);
    }
    return value;
  }

  quota(path: PathSegment[], value: unknown): Partial<QuotaSpec> | undefined {
    if (value === undefined || value === null) return undefined;
    const q = this.mapping(path, value, QUOTA_KEYS);
    const out: Partial<QuotaSpec> = {};
    for (const key of QUOTA_KEYS) {
      const v = q[key];
      if (v === undefined || v === null) continue;
      if (key.startsWith('bytes')) {
        const bytes = parseSize(v);
        if (bytes === undefined) this.fail([...path, key], `expected a size such as 10MiB or 0 for no limit (got ${show(v)})`);
        else out[key] = bytes;
      } else if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 1e12) {
        this.fail([...path, key], `expected a whole number ≥ 0, 0 for no limit (got ${show(v)})`);
      } else out[key] = v;
    }
    return out;
  }

  tenantList(path: PathSegment[], value: unknown): string[] {
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || list.length === 0) {
      this.fail(path, `expected a tenant id or a non-empty list of tenant ids (got ${show(value)})`);
      return [];
    }
    const out: string[] = [];
    list.forEach((t, i) => {
      const p = Array.isArray(value) ? [...path, i] : path;
      if (typeof t !== 'string' || !TENANT_RE.test(t)) this.fail(p, `expected ${TENANT_WHAT} (got ${show(t)})`);
      else if (out.includes(t)) this.fail(p, `tenant ${JSON.stringify(t)} is listed twice`);
      else out.push(t);
    });
    return out;
  }
}

export function validateTenantsFile(raw: unknown): Validated<TenantsFile> {
  const c = new Checker();
  if (raw === undefined || raw === null) return { ok: true, value: EMPTY_TENANTS_FILE };
  const top = c.mapping([], raw, TOP_KEYS);
  const defaults = c.mapping(['defaults'], top.defaults, ['quota']);
  const file: TenantsFile = { defaults: {}, tenants: {}, identities: [] };
  const dq = c.quota(['defaults', 'quota'], defaults.quota);
  if (dq) file.defaults.quota = dq;

  for (const [id, spec] of Object.entries(c.mapping(['tenants'], top.tenants))) {
    if (!TENANT_RE.test(id)) {
      c.fail(['tenants', id], `expected ${TENANT_WHAT} as the key`, true);
      continue;
    }
    const s = c.mapping(['tenants', id], spec, ['quota']);
    const quota = c.quota(['tenants', id, 'quota'], s.quota);
    file.tenants[id] = quota ? { quota } : {};
  }

  const identities = top.identities;
  if (identities !== undefined && identities !== null && !Array.isArray(identities)) {
    c.fail(['identities'], `expected a list of identities (got ${show(identities)})`);
  } else if (Array.isArray(identities)) {
    const seen = new Map<string, number>();
    identities.forEach((entry, i) => {
      const path: PathSegment[] = ['identities', i];
      if (!isMapping(entry)) {
        c.fail(path, `expected a mapping with one of spiffeId, subject, tokenSha256 and tenants (got ${show(entry)})`);
        return;
      }
      c.mapping(path, entry, IDENTITY_KEYS);
      let name = `identities[${i}]`;
      if (entry.name !== undefined) {
        if (typeof entry.name !== 'string' || !NAME_RE.test(entry.name)) c.fail([...path, 'name'], `expected a short name (got ${show(entry.name)})`);
        else name = entry.name;
      }
      const present = MATCH_KEYS.filter((k) => entry[k] !== undefined && entry[k] !== null);
      if (present.length !== 1) {
        c.fail(path, present.length === 0 ? 'needs one of spiffeId, subject or tokenSha256' : `has ${present.join(' and ')}; give exactly one`);
        return;
      }
      const key = present[0]!;
      const value = entry[key];
      let kind: IdentityKind;
      let match: string | undefined;
      if (key === 'spiffeId') {
        kind = 'spiffe';
        if (typeof value === 'string' && SPIFFE_RE.test(value)) match = value;
        else c.fail([...path, key], `expected a SPIFFE ID such as spiffe://stella.local/ci (got ${show(value)})`);
      } else if (key === 'subject') {
        kind = 'subject';
        const canonical = typeof value === 'string' ? canonicalSubject(value) : undefined;
        if (canonical) match = canonical;
        else c.fail([...path, key], `expected a certificate subject such as "CN=app,O=Acme" (got ${show(value)})`);
      } else {
        kind = 'token';
        // A plain-text token here would be a secret in a policy file: only its hash is accepted.
        if (typeof value === 'string' && SHA256_RE.test(value)) match = value.toLowerCase();
        else c.fail([...path, key], `expected the SHA-256 of the token as 64 hex digits, e.g. from \`printf %s "$TOKEN" | sha256sum\` (got ${typeof value === 'string' ? `${value.length} characters` : show(value)})`);
      }
      const tenants = c.tenantList([...path, 'tenants'], entry.tenants);
      if (match === undefined || tenants.length === 0) return;
      const dupKey = `${kind}\u0000${match}`;
      const first = seen.get(dupKey);
      if (first !== undefined) {
        c.fail([...path, key], `the same ${key} as identities[${first}]; list all its tenants in one entry`);
        return;
      }
      seen.set(dupKey, i);
      file.identities.push({ name, kind, match, tenants });
    });
  }
  return c.errors.length > 0 ? { ok: false, errors: c.errors } : { ok: true, value: file };
}
