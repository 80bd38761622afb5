// The `incidents` section of the config file: shape, defaults and validation (called by ../validate.ts).
// Skeleton: the feature that owns this section fills it in.
import type { RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';

export interface IncidentsConfig {
  enabled: boolean;
}

export const DEFAULT_INCIDENTS: IncidentsConfig = { enabled: false };

export function readIncidents(r: Reader, value: unknown): IncidentsConfig {
  const s: RawConfig = r.section('incidents', value, ['enabled']);
  return { enabled: r.bool('incidents.enabled', s.enabled, DEFAULT_INCIDENTS.enabled) };
}
