// The `sampling` section of the config file: shape, defaults and validation (called by ../validate.ts).
// Skeleton: the feature that owns this section fills it in.
import type { RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';

export interface SamplingConfig {
  enabled: boolean;
}

export const DEFAULT_SAMPLING: SamplingConfig = { enabled: false };

export function readSampling(r: Reader, value: unknown): SamplingConfig {
  const s: RawConfig = r.section('sampling', value, ['enabled']);
  return { enabled: r.bool('sampling.enabled', s.enabled, DEFAULT_SAMPLING.enabled) };
}
