// Admission: a request is taken only while the bytes admitted but not yet acknowledged stay under a
// bound, so a burst of large requests is answered with a retryable refusal instead of memory growth.
// (Per-tenant quotas join here with the tenancy stage.)
import { retryable, type Refusal } from '../errors.js';
import type { AdmitConfig } from '../config/types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';

export interface Admission {
  /** Give the reserved bytes back; call exactly once. */
  release(): void;
}

export interface Admitter {
  admit(bytes: number): { status: 'ok'; admission: Admission } | Refusal;
  inflightBytes(): number;
}

export function createAdmitter(config: AdmitConfig, deps: { metrics: GatewayMetrics }): Admitter {
  let inflight = 0;
  return {
    admit(bytes) {
      // A single request larger than the whole budget is still admitted when nothing else is in
      // flight: the receivers' own size limits bound it, and refusing it would refuse it forever.
      if (inflight > 0 && inflight + bytes > config.maxInflightBytes) {
        return retryable('OVERLOADED', 1000, 'too many request bytes in flight; retry later');
      }
      inflight += bytes;
      deps.metrics.admitInflightBytes.set(inflight);
      let released = false;
      return {
        status: 'ok',
        admission: {
          release() {
            if (released) return;
            released = true;
            inflight -= bytes;
            deps.metrics.admitInflightBytes.set(inflight);
          },
        },
      };
    },
    inflightBytes: () => inflight,
  };
}
