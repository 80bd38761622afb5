// The `tenancy` section of the config file: shape, defaults and validation (called by ../validate.ts).
// Skeleton: the feature that owns this section fills it in.
import type { RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';

export interface TenancyConfig {
  enabled: boolean;
}

export const DEFAULT_TENANCY: TenancyConfig = { enabled: false };

export function readTenancy(r: Reader, value: unknown): TenancyConfig {
  const s: RawConfig = r.section('tenancy', value, ['enabled']);
  return { enabled: r.bool('tenancy.enabled', s.enabled, DEFAULT_TENANCY.enabled) };
}
