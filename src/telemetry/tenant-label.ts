// Tenant metric labels, capped: the first `max` distinct tenants seen get their own label value, every
// later one shares `_other`, so a flood of tenants (every client certificate of the CA is a tenant)
// cannot grow the series count without bound (DESIGN.md, decision 6). Restarting resets the choice.

export const OTHER_TENANT_LABEL = '_other';

export interface TenantLabeler {
  /** The label value for `tenant`. */
  label(tenant: string): string;
  /** Tenants that have their own label. */
  readonly size: number;
}

/** `reserved` values (such as 'unknown' for requests refused before identification) pass through uncounted. */
export function createTenantLabeler(max: number, reserved: readonly string[] = ['unknown']): TenantLabeler {
  const own = new Set<string>();
  const pass = new Set(reserved);
  return {
    label(tenant) {
      if (own.has(tenant) || pass.has(tenant)) return tenant;
      if (own.size < max) {
        own.add(tenant);
        return tenant;
      }
      return OTHER_TENANT_LABEL;
    },
    get size() {
      return own.size;
    },
  };
}
