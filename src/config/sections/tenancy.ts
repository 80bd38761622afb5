// The `tenancy` section of the config file: shape, defaults and validation (called by ../validate.ts).
// Who may send as which tenant lives in the hot-reloaded policies/tenants.yaml (src/identify); this
// section holds what needs a restart: the trust domain, the anonymous policy, the stamped attribute
// key, the export header, quota defaults, per-tenant export endpoints and the metric label cap.
//
//   tenancy:
//     trustDomain: stella.local        # spiffe://<trustDomain>/tenant/<id> is tenant <id>
//     anonymous: auto                  # auto | never | always (see AnonymousPolicy)
//     attributeKey: tenant.id          # resource attribute the worker stamps
//     exportHeader: X-Scope-OrgID      # header / gRPC metadata on every export request
//     tenantsFile: policies/tenants.yaml
//     quota: { itemsPerSecond: 0, itemsBurst: 0, bytesPerSecond: 0, bytesBurst: 0 }   # 0 = unlimited
//     maxTenantLabels: 100
//     exportOverrides: { acme: { otlp: "backend-acme:4317" } }
import type { RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';
import { TENANT_RE, TENANT_WHAT } from '../../tenant-id.js';

/**
 * Requests that carry no identity (no verified client certificate, no bearer token):
 * - `auto`: admitted as the anonymous tenant on plain (non-TLS) listeners bound to a loopback
 *   address only (DESIGN: `npm start` works out of the box; TLS or a public address needs an identity);
 * - `never`: always UNAUTHENTICATED;
 * - `always`: admitted as the anonymous tenant on every listener (local experiments only).
 */
export type AnonymousPolicy = 'auto' | 'never' | 'always';
export const ANONYMOUS_POLICIES: readonly AnonymousPolicy[] = ['auto', 'never', 'always'];

/** Token-bucket limits of one tenant; 0 disables a limit. Burst 0 means "one second of rate". */
export interface QuotaSpec {
  itemsPerSecond: number;
  itemsBurst: number;
  bytesPerSecond: number;
  bytesBurst: number;
}

export const UNLIMITED_QUOTA: QuotaSpec = { itemsPerSecond: 0, itemsBurst: 0, bytesPerSecond: 0, bytesBurst: 0 };

export interface TenancyConfig {
  /** SPIFFE trust domain of tenant certificates. */
  trustDomain: string;
  anonymous: AnonymousPolicy;
  /** Tenant of anonymous requests; unset = the top-level `defaultTenant`. */
  anonymousTenant?: string;
  /** Resource attribute stamped with the tenant (worker side). */
  attributeKey: string;
  /** Header (HTTP) / metadata key (gRPC) carrying the tenant on export requests. */
  exportHeader: string;
  /** Identity bindings and per-tenant quotas; unset = `${policiesDir}/tenants.yaml`. */
  tenantsFile?: string;
  /** Quota of tenants that tenants.yaml does not limit (its `defaults.quota` wins). */
  quota: QuotaSpec;
  /** Tenants that get their own metric label; the rest share `_other`. */
  maxTenantLabels: number;
  /** Quota buckets kept (least recently used are forgotten beyond this). */
  maxBuckets: number;
  /** tenant → exporter name → endpoint: that tenant's data goes to this endpoint instead. */
  exportOverrides: Record<string, Record<string, string>>;
}

export const DEFAULT_TENANCY: TenancyConfig = {
  trustDomain: 'stella.local',
  anonymous: 'auto',
  attributeKey: 'tenant.id',
  exportHeader: 'X-Scope-OrgID',
  quota: UNLIMITED_QUOTA,
  maxTenantLabels: 100,
  maxBuckets: 10_000,
  exportOverrides: {},
};

const TRUST_DOMAIN_RE = /^[a-z0-9._-]{1,255}$/;
const HEADER_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ATTRIBUTE_RE = /^[^\u0000-\u001f\u007f]{1,255}$/;

export function readQuota(r: Reader, path: string, value: unknown, fallback: QuotaSpec): QuotaSpec {
  const q = r.section(path, value, ['itemsPerSecond', 'itemsBurst', 'bytesPerSecond', 'bytesBurst']);
  return {
    itemsPerSecond: r.int(`${path}.itemsPerSecond`, q.itemsPerSecond, fallback.itemsPerSecond, 0, 1e12),
    itemsBurst: r.int(`${path}.itemsBurst`, q.itemsBurst, fallback.itemsBurst, 0, 1e12),
    bytesPerSecond: r.size(`${path}.bytesPerSecond`, q.bytesPerSecond, fallback.bytesPerSecond, 0),
    bytesBurst: r.size(`${path}.bytesBurst`, q.bytesBurst, fallback.bytesBurst, 0),
  };
}

export function readTenancy(r: Reader, value: unknown): TenancyConfig {
  const D = DEFAULT_TENANCY;
  const s: RawConfig = r.section('tenancy', value, [
    'trustDomain',
    'anonymous',
    'anonymousTenant',
    'attributeKey',
    'exportHeader',
    'tenantsFile',
    'quota',
    'maxTenantLabels',
    'maxBuckets',
    'exportOverrides',
  ]);
  const config: TenancyConfig = {
    trustDomain: r.string('tenancy.trustDomain', s.trustDomain, D.trustDomain, {
      re: TRUST_DOMAIN_RE,
      what: 'a SPIFFE trust domain of lower-case letters, digits, ".", "-" or "_"',
    }),
    anonymous: r.oneOf('tenancy.anonymous', s.anonymous, D.anonymous, ANONYMOUS_POLICIES),
    attributeKey: r.string('tenancy.attributeKey', s.attributeKey, D.attributeKey, { re: ATTRIBUTE_RE, what: 'an attribute key' }),
    exportHeader: r.string('tenancy.exportHeader', s.exportHeader, D.exportHeader, { re: HEADER_RE, what: 'an HTTP header name' }),
    quota: readQuota(r, 'tenancy.quota', s.quota, D.quota),
    maxTenantLabels: r.int('tenancy.maxTenantLabels', s.maxTenantLabels, D.maxTenantLabels, 0, 100_000),
    maxBuckets: r.int('tenancy.maxBuckets', s.maxBuckets, D.maxBuckets, 1, 10_000_000),
    exportOverrides: readOverrides(r, s.exportOverrides),
  };
  if (s.anonymousTenant !== undefined && s.anonymousTenant !== null) {
    config.anonymousTenant = r.string('tenancy.anonymousTenant', s.anonymousTenant, 'default', { re: TENANT_RE, what: TENANT_WHAT });
  }
  if (s.tenantsFile !== undefined && s.tenantsFile !== null) {
    config.tenantsFile = r.string('tenancy.tenantsFile', s.tenantsFile, 'tenants.yaml');
  }
  return config;
}

function readOverrides(r: Reader, value: unknown): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  if (value === undefined || value === null) return out;
  if (typeof value !== 'object' || Array.isArray(value)) {
    r.fail('tenancy.exportOverrides', 'expected a mapping of tenant → {exporter name: endpoint}');
    return out;
  }
  for (const [tenant, byExporter] of Object.entries(value as Record<string, unknown>)) {
    const path = `tenancy.exportOverrides[${JSON.stringify(tenant)}]`;
    if (!TENANT_RE.test(tenant)) {
      r.fail(path, `expected ${TENANT_WHAT} as the key`);
      continue;
    }
    if (typeof byExporter !== 'object' || byExporter === null || Array.isArray(byExporter)) {
      r.fail(path, 'expected a mapping of exporter name → endpoint');
      continue;
    }
    const entry: Record<string, string> = {};
    for (const [exporter, endpoint] of Object.entries(byExporter as Record<string, unknown>)) {
      entry[exporter] = r.string(`${path}[${JSON.stringify(exporter)}]`, endpoint, '');
    }
    out[tenant] = entry;
  }
  return out;
}
