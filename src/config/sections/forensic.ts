// The `forensic` section of the config file: shape, defaults and validation (called by ../validate.ts).
// Skeleton: the feature that owns this section fills it in.
import type { RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';

export interface ForensicConfig {
  enabled: boolean;
}

export const DEFAULT_FORENSIC: ForensicConfig = { enabled: false };

export function readForensic(r: Reader, value: unknown): ForensicConfig {
  const s: RawConfig = r.section('forensic', value, ['enabled']);
  return { enabled: r.bool('forensic.enabled', s.enabled, DEFAULT_FORENSIC.enabled) };
}
