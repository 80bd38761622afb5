// Per-tenant quotas: two token buckets per tenant, items/s and bytes/s, each with a burst.
//
// A request is refused before it costs processing (DESIGN.md: refuse early, with a retry hint):
// - bytes are known on arrival: the request takes its bytes from the bucket or is refused with the
//   time until the bucket holds them (a request larger than the burst needs a full bucket and leaves
//   it in debt, so it is not refused forever);
// - items (spans, data points, log records) are known only after the worker counted them: they are
//   charged afterwards, which may leave the bucket in debt, and while it is in debt the tenant's next
//   requests are refused with the time until the debt is repaid.
// The retry hint is that refill time, so a client that honours Retry-After / RetryInfo comes back
// exactly when it would be admitted. Buckets live in a bounded LRU (a forgotten bucket starts full).
import { LRUCache } from 'lru-cache';
import type { QuotaSpec } from '../config/sections/tenancy.js';
import { retryable, type Refusal } from '../errors.js';

export type QuotaReason = 'items' | 'bytes';

export type QuotaOutcome = { status: 'ok' } | (Refusal & { reason: QuotaReason });

export interface Quotas {
  /** Before processing: refuse when the items bucket is in debt or the bytes do not fit. Takes the bytes. */
  admit(tenant: string, bytes: number): QuotaOutcome;
  /** After processing: charge the items (may leave the bucket in debt). */
  chargeItems(tenant: string, items: number): void;
  /** Buckets held (for tests and metrics). */
  readonly size: number;
}

export interface QuotaDeps {
  /** The tenant's limits; the same object until they change (a reload), so buckets adapt by identity. */
  quotaFor(tenant: string): QuotaSpec;
  maxBuckets?: number;
  /** Milliseconds clock (tests). */
  now?: () => number;
}

/** One token bucket; rate 0 = unlimited. */
class Bucket {
  tokens: number;
  constructor(
    public rate: number,
    public burst: number,
    public last: number,
  ) {
    this.tokens = burst;
  }

  reconfigure(rate: number, burst: number): void {
    this.rate = rate;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
  }

  /** Milliseconds until the bucket holds `amount` tokens (≥ 1 ms when it does not now). */
  waitFor(amount: number): number {
    return Math.max(1, Math.ceil(((amount - this.tokens) * 1000) / this.rate));
  }
}

interface TenantBuckets {
  spec: QuotaSpec;
  items?: Bucket;
  bytes?: Bucket;
}

/** Burst 0 means one second's worth of the rate. */
function bucketFor(rate: number, burst: number, now: number): Bucket | undefined {
  return rate > 0 ? new Bucket(rate, burst > 0 ? burst : rate, now) : undefined;
}

export function createQuotas(deps: QuotaDeps): Quotas {
  const now = deps.now ?? (() => performance.now());
  const buckets = new LRUCache<string, TenantBuckets>({ max: deps.maxBuckets ?? 10_000 });

  function bucketsOf(tenant: string, t: number): TenantBuckets {
    const spec = deps.quotaFor(tenant);
    let b = buckets.get(tenant);
    if (!b) {
      b = { spec, items: bucketFor(spec.itemsPerSecond, spec.itemsBurst, t), bytes: bucketFor(spec.bytesPerSecond, spec.bytesBurst, t) };
      buckets.set(tenant, b);
    } else if (b.spec !== spec) {
      // The limits changed (tenants.yaml reload): keep the level, clamp it to the new burst.
      b.spec = spec;
      b.items = adapt(b.items, spec.itemsPerSecond, spec.itemsBurst, t);
      b.bytes = adapt(b.bytes, spec.bytesPerSecond, spec.bytesBurst, t);
    }
    return b;
  }

  function adapt(bucket: Bucket | undefined, rate: number, burst: number, t: number): Bucket | undefined {
    if (rate <= 0) return undefined;
    if (!bucket) return bucketFor(rate, burst, t);
    bucket.refill(t);
    bucket.reconfigure(rate, burst > 0 ? burst : rate);
    return bucket;
  }

  return {
    admit(tenant, bytes) {
      const spec = deps.quotaFor(tenant);
      // Unlimited tenants never touch the LRU (the common case costs one lookup of the spec).
      if (spec.itemsPerSecond <= 0 && spec.bytesPerSecond <= 0) return { status: 'ok' };
      const t = now();
      const b = bucketsOf(tenant, t);
      if (b.items) {
        b.items.refill(t);
        // In debt (less than one item left): refused until one item's worth has refilled.
        const one = Math.min(1, b.items.burst);
        if (b.items.tokens < one) {
          const wait = b.items.waitFor(one);
          return { ...retryable('RATE_LIMITED', wait, `tenant ${tenant} is over its quota of ${b.items.rate} items/s; retry in ${wait} ms`), reason: 'items' };
        }
      }
      if (b.bytes) {
        b.bytes.refill(t);
        const need = Math.min(bytes, b.bytes.burst);
        if (b.bytes.tokens < need) {
          const wait = b.bytes.waitFor(need);
          return { ...retryable('RATE_LIMITED', wait, `tenant ${tenant} is over its quota of ${b.bytes.rate} bytes/s; retry in ${wait} ms`), reason: 'bytes' };
        }
        b.bytes.tokens -= bytes;
      }
      return { status: 'ok' };
    },
    chargeItems(tenant, items) {
      if (items <= 0) return;
      const spec = deps.quotaFor(tenant);
      if (spec.itemsPerSecond <= 0) return;
      const t = now();
      const b = bucketsOf(tenant, t);
      if (!b.items) return;
      b.items.refill(t);
      b.items.tokens -= items;
    },
    get size() {
      return buckets.size;
    },
  };
}
