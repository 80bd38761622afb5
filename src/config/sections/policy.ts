// The `policy` section of the config file: bounds on the hot-reloaded policy files (policies/*.yaml),
// checked before a file is parsed or its patterns are compiled, by the gateway's loader and by
// `stella telemetry policy validate` alike (docs/guides/policy-safety.md).
//
//   policy:
//     maxFileBytes: 2MiB          # a policy file larger than this is refused before parsing
//     maxCustomPatterns: 20000    # custom patterns in redaction.yaml (top level + every override)
//     maxPatternBytes: 1MiB       # the sum of their regular expressions' lengths
import type { RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';

export interface PolicyLimits {
  maxFileBytes: number;
  maxCustomPatterns: number;
  maxPatternBytes: number;
}

export interface PolicyConfig {
  limits: PolicyLimits;
}

const MiB = 1024 * 1024;

export const DEFAULT_POLICY_LIMITS: PolicyLimits = { maxFileBytes: 2 * MiB, maxCustomPatterns: 20_000, maxPatternBytes: MiB };
export const DEFAULT_POLICY: PolicyConfig = { limits: DEFAULT_POLICY_LIMITS };

const KEYS = ['maxFileBytes', 'maxCustomPatterns', 'maxPatternBytes'] as const;

export function readPolicy(r: Reader, value: unknown): PolicyConfig {
  const s: RawConfig = r.section('policy', value, KEYS);
  const d = DEFAULT_POLICY_LIMITS;
  return {
    limits: {
      maxFileBytes: r.size('policy.maxFileBytes', s.maxFileBytes, d.maxFileBytes, 1024),
      maxCustomPatterns: r.int('policy.maxCustomPatterns', s.maxCustomPatterns, d.maxCustomPatterns, 0, 10_000_000),
      maxPatternBytes: r.size('policy.maxPatternBytes', s.maxPatternBytes, d.maxPatternBytes, 0),
    },
  };
}
