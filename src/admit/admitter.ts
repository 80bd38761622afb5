// Admission: a request is taken only while the bytes admitted but not yet acknowledged stay under a
// bound, so a burst of large requests is answered with a retryable refusal instead of memory growth;
// and, with quotas, only while its tenant is within its items/s and bytes/s buckets (quota.ts), so one
// tenant cannot take the capacity of the others. Both are decided before the request costs processing.
import { retryable, type Refusal } from '../errors.js';
import type { AdmitConfig } from '../config/types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { Quotas } from './quota.js';

export interface Admission {
  /** Give the reserved bytes back; call exactly once. */
  release(): void;
}

export interface Admitter {
  /** `tenant` enables the quota check (when the admitter has quotas). */
  admit(bytes: number, tenant?: string): { status: 'ok'; admission: Admission } | Refusal;
  /** After processing: charge the tenant's items quota (a no-op without quotas). */
  chargeItems(tenant: string, items: number): void;
  inflightBytes(): number;
}

export interface AdmitterDeps {
  metrics: GatewayMetrics;
  quotas?: Quotas;
  /** Tenant label for metrics (capped cardinality); identity by default. */
  tenantLabel?: (tenant: string) => string;
}

export function createAdmitter(config: AdmitConfig, deps: AdmitterDeps): Admitter {
  let inflight = 0;
  const label = deps.tenantLabel ?? ((t: string) => t);
  return {
    admit(bytes, tenant) {
      // A single request larger than the whole budget is still admitted when nothing else is in
      // flight: the receivers' own size limits bound it, and refusing it would refuse it forever.
      if (inflight > 0 && inflight + bytes > config.maxInflightBytes) {
        return retryable('OVERLOADED', 1000, 'too many request bytes in flight; retry later');
      }
      if (tenant !== undefined && deps.quotas) {
        const q = deps.quotas.admit(tenant, bytes);
        if (q.status !== 'ok') {
          deps.metrics.tenantQuotaRefused.inc({ tenant: label(tenant), reason: q.reason });
          const { reason: _reason, ...refusal } = q;
          return refusal;
        }
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
    chargeItems(tenant, items) {
      deps.quotas?.chargeItems(tenant, items);
    },
    inflightBytes: () => inflight,
  };
}
