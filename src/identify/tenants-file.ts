// Reads policies/tenants.yaml ─▶ parse (YAML) ─▶ validate (tenants-schema.ts) ─▶ compile into lookup
// tables (TenantBindings). Errors name the file, line and column, the path and the reason, in the form
// of the other policy files (src/policy/load.ts):
//   policies/tenants.yaml:7:18 identities[0].tokenSha256: expected the SHA-256 of the token as 64 hex digits …
// Fail closed like the other policy files (src/policy/load.ts): the file ends with `version: 1`, and
// is bounded by policy.maxFileBytes. A missing file at start-up is an empty binding table (what the
// shipped policies/tenants.yaml holds: no explicit identities, no quotas; SPIFFE tenant certificates
// and the anonymous tenant still work); on a reload a missing file is refused (the last good bindings
// and quotas stay).
import { createHash } from 'node:crypto';
import { DEFAULT_POLICY_LIMITS } from '../config/sections/policy.js';
import { readYamlFile, VERSION_KEY, FILE_VERSION, type FileRejection, type LoadOptions } from '../policy/load.js';
import { UNLIMITED_QUOTA, type QuotaSpec } from '../config/sections/tenancy.js';
import { EMPTY_TENANTS_FILE, validateTenantsFile, type TenantsFile } from './tenants-schema.js';

/** An identity as the identifier resolves it: who, and which tenants it may send as. */
export interface BoundIdentity {
  name: string;
  /** In the order written; the first is used when the request names no tenant. */
  tenants: readonly string[];
  tenantSet: ReadonlySet<string>;
}

/** One version of tenants.yaml, compiled. Immutable: a reload builds a new one. */
export interface TenantBindings {
  /** SHA-256 (first 12 hex digits) of the file's bytes; "empty" when there is no file. */
  version: string;
  bySpiffe: ReadonlyMap<string, BoundIdentity>;
  bySubject: ReadonlyMap<string, BoundIdentity>;
  /** Keyed by the lower-case SHA-256 hex of the token. */
  byToken: ReadonlyMap<string, BoundIdentity>;
  /** The effective quota of a tenant: config default ◀ file defaults ◀ the tenant's own entry. */
  quotaFor(tenant: string): QuotaSpec;
  identityCount: number;
}

export type TenantsLoad = { ok: true; bindings: TenantBindings; present: boolean } | { ok: false; errors: string[]; rejected: FileRejection[] };

export function boundIdentity(name: string, tenants: readonly string[]): BoundIdentity {
  return { name, tenants, tenantSet: new Set(tenants) };
}

export function compileBindings(file: TenantsFile, version: string, defaultQuota: QuotaSpec = UNLIMITED_QUOTA): TenantBindings {
  const maps = { spiffe: new Map<string, BoundIdentity>(), subject: new Map<string, BoundIdentity>(), token: new Map<string, BoundIdentity>() };
  for (const id of file.identities) maps[id.kind].set(id.match, boundIdentity(id.name, id.tenants));
  const base: QuotaSpec = { ...defaultQuota, ...file.defaults.quota };
  // One object per tenant per version: the quota buckets notice a reload by identity.
  const perTenant = new Map<string, QuotaSpec>();
  for (const [tenant, spec] of Object.entries(file.tenants)) perTenant.set(tenant, { ...base, ...spec.quota });
  return {
    version,
    bySpiffe: maps.spiffe,
    bySubject: maps.subject,
    byToken: maps.token,
    quotaFor: (tenant) => perTenant.get(tenant) ?? base,
    identityCount: file.identities.length,
  };
}

export function emptyBindings(defaultQuota: QuotaSpec = UNLIMITED_QUOTA): TenantBindings {
  return compileBindings(EMPTY_TENANTS_FILE, 'empty', defaultQuota);
}

/** Reads, validates and compiles `file`; never throws. */
export function loadTenantsFile(file: string, defaultQuota: QuotaSpec = UNLIMITED_QUOTA, opts: Pick<LoadOptions, 'missing' | 'limits' | 'trustKeys'> = {}): TenantsLoad {
  const read = readYamlFile(file, validateTenantsFile, 'tenants file', { maxBytes: (opts.limits ?? DEFAULT_POLICY_LIMITS).maxFileBytes, ...(opts.trustKeys ? { trustKeys: opts.trustKeys } : {}) });
  if (read.status === 'absent') {
    if (opts.missing === 'refuse') {
      return { ok: false, errors: [`${file}: missing (deleted, or its directory moved away): restore it, or write "${VERSION_KEY}: ${FILE_VERSION}" alone for no bindings`], rejected: [{ file, reason: 'missing' }] };
    }
    return { ok: true, bindings: emptyBindings(defaultQuota), present: false };
  }
  if (read.status === 'invalid') return { ok: false, errors: read.errors, rejected: [{ file, reason: read.reason }] };
  const version = createHash('sha256').update(read.bytes).digest('hex').slice(0, 12);
  return { ok: true, bindings: compileBindings(read.value, version, defaultQuota), present: true };
}
