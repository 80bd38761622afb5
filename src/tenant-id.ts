// What a tenant id may be: the one pattern config, policies, tenants files, certificates, the admin API,
// the CLI and the forensic archive check tenant ids against. A leaf module (no imports), so that any of
// them can use it without loading another stage.

/**
 * Letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128 characters. Tenant ids
 * become header values (X-Scope-OrgID), metric labels, URI path segments and directory names: no "/",
 * never "." or "..".
 */
export const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The pattern in words, for messages such as `expected ${TENANT_WHAT} (got "a/b")`. */
export const TENANT_WHAT = 'a tenant id of letters, digits, ".", "_" or "-" (at most 128)';

export function isTenantId(value: unknown): value is string {
  return typeof value === 'string' && TENANT_RE.test(value);
}
