// `cluster.routing`: trace-affine routing's settings (docs/guides/cluster.md "Trace-affine routing").
// Read by the `cluster` section's reader; routing runs only with sampling on and a cluster configured.
//
//   cluster:
//     routing:
//       enabled: true            # forward traces to their owner (only with sampling.enabled)
//       timeout: 2s              # a forward waits this long before its spans are decided locally
//       maxInflightBytes: 64MiB  # forwards waiting for a call or in flight; beyond it, decided locally
//       maxReceiveBytes: 64MiB   # forwards being received from peers at once; beyond it refused
import type { RawConfig } from '../config/profiles.js';
import type { Reader } from '../config/validate.js';

export interface ClusterRoutingConfig {
  enabled: boolean;
  timeoutMs: number;
  maxInflightBytes: number;
  maxReceiveBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_CLUSTER_ROUTING: ClusterRoutingConfig = {
  enabled: true,
  timeoutMs: 2_000,
  maxInflightBytes: 64 * MiB,
  maxReceiveBytes: 64 * MiB,
};

const KEYS = ['enabled', 'timeout', 'maxInflightBytes', 'maxReceiveBytes'] as const;

export function readClusterRouting(r: Reader, value: unknown): ClusterRoutingConfig {
  const s: RawConfig = r.section('cluster.routing', value, KEYS);
  const d = DEFAULT_CLUSTER_ROUTING;
  const out: ClusterRoutingConfig = {
    enabled: r.bool('cluster.routing.enabled', s.enabled, d.enabled),
    timeoutMs: r.duration('cluster.routing.timeout', s.timeout, d.timeoutMs, 1),
    maxInflightBytes: r.size('cluster.routing.maxInflightBytes', s.maxInflightBytes, d.maxInflightBytes, 64 * 1024),
    maxReceiveBytes: r.size('cluster.routing.maxReceiveBytes', s.maxReceiveBytes, d.maxReceiveBytes, 64 * 1024),
  };
  if (out.timeoutMs > 60_000) r.fail('cluster.routing.timeout', `must be at most 1m (got ${JSON.stringify(s.timeout)})`);
  return out;
}
