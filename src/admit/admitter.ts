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

/**
 * A reservation that grows as a request's bytes arrive (the receivers reserve before they buffer or
 * inflate; see src/receive/types.ts). Starts at 0 bytes.
 */
export interface Reservation {
  /** Reserve `bytes` more; OVERLOADED (nothing reserved) when the budget would be exceeded. */
  grow(bytes: number): Refusal | undefined;
  /** Give back `bytes` (at most what is held). */
  shrink(bytes: number): void;
  /** Give everything back; idempotent. */
  release(): void;
  readonly held: number;
}

export interface Admitter {
  /** `tenant` enables the quota check (when the admitter has quotas). */
  admit(bytes: number, tenant?: string): { status: 'ok'; admission: Admission } | Refusal;
  /** An empty reservation against the in-flight budget (no quota check: see `quota`). */
  reserve(): Reservation;
  /** The tenant's bytes quota for a complete body (a no-op without quotas). */
  quota(tenant: string, bytes: number): Refusal | undefined;
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

const OVERLOADED_RETRY_MS = 1000;

export function createAdmitter(config: AdmitConfig, deps: AdmitterDeps): Admitter {
  let inflight = 0;
  let peak = 0;
  const label = deps.tenantLabel ?? ((t: string) => t);
  const set = (): void => {
    deps.metrics.admitInflightBytes.set(inflight);
    if (inflight > peak) {
      peak = inflight;
      deps.metrics.admitInflightBytesPeak.set(peak);
    }
  };
  function quota(tenant: string, bytes: number): Refusal | undefined {
    if (!deps.quotas) return undefined;
    const q = deps.quotas.admit(tenant, bytes);
    if (q.status === 'ok') return undefined;
    deps.metrics.tenantQuotaRefused.inc({ tenant: label(tenant), reason: q.reason });
    const { reason: _reason, ...refusal } = q;
    return refusal;
  }
  return {
    reserve() {
      let held = 0;
      let released = false;
      return {
        get held() {
          return held;
        },
        grow(bytes) {
          if (released) return retryable('OVERLOADED', OVERLOADED_RETRY_MS, 'the request was already released');
          // As admit(): one request larger than the budget still gets through when it is alone, so the
          // bytes in flight never exceed the budget plus one message (bounded by the receivers' limits).
          const others = inflight - held;
          if (others > 0 && inflight + bytes > config.maxInflightBytes) {
            return retryable('OVERLOADED', OVERLOADED_RETRY_MS, 'too many request bytes in flight; retry later');
          }
          held += bytes;
          inflight += bytes;
          set();
          return undefined;
        },
        shrink(bytes) {
          const n = Math.min(Math.max(0, bytes), held);
          held -= n;
          inflight -= n;
          set();
        },
        release() {
          if (released) return;
          released = true;
          inflight -= held;
          held = 0;
          set();
        },
      };
    },
    quota,
    admit(bytes, tenant) {
      // A single request larger than the whole budget is still admitted when nothing else is in
      // flight: the receivers' own size limits bound it, and refusing it would refuse it forever.
      if (inflight > 0 && inflight + bytes > config.maxInflightBytes) {
        return retryable('OVERLOADED', OVERLOADED_RETRY_MS, 'too many request bytes in flight; retry later');
      }
      if (tenant !== undefined) {
        const q = quota(tenant, bytes);
        if (q) return q;
      }
      inflight += bytes;
      set();
      let released = false;
      return {
        status: 'ok',
        admission: {
          release() {
            if (released) return;
            released = true;
            inflight -= bytes;
            set();
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
