// Shared quotas (issue 22, item 3): each replica enforces limit ÷ live members of every tenant quota,
// rates and bursts alike, so with a load balancer spreading a tenant's requests evenly the fleet admits
// about the tenant's limit. The approximation, as docs/guides/cluster.md states it:
// - skew: a tenant whose requests all reach one replica gets only that replica's share (the fleet
//   under-admits, never over-admits);
// - membership changes: a replica that has not yet noticed a new member (up to one probe interval)
//   uses the larger share, and one that lost a member waits probeMisses probes before taking the larger
//   share; in that window the fleet may admit up to (N+1)/N of the limit, or (N−1)/N of it;
// - items are charged after processing (src/admit/quota.ts), so each replica may overshoot by the
//   items of its requests in flight.
// The spec object changes only when the share (or the tenant's limits) changes, which is how the
// quota buckets notice (createQuotas adapts a bucket when its spec is a different object).
import type { QuotaSpec } from '../config/sections/tenancy.js';

export interface QuotaShare {
  /** The tenant's spec divided by the live members (the same object until the share changes). */
  share(spec: QuotaSpec): QuotaSpec;
  /** Members now sharing (1 = the whole limit). */
  readonly members: number;
  /** Called on membership changes. */
  setMembers(n: number): void;
}

export function createQuotaShare(initialMembers = 1): QuotaShare {
  let members = Math.max(1, initialMembers);
  let cache = new WeakMap<QuotaSpec, QuotaSpec>();
  return {
    get members() {
      return members;
    },
    setMembers(n) {
      const next = Math.max(1, n);
      if (next === members) return;
      members = next;
      cache = new WeakMap();
    },
    share(spec) {
      if (members === 1) return spec;
      if (spec.itemsPerSecond <= 0 && spec.bytesPerSecond <= 0) return spec;
      let s = cache.get(spec);
      if (!s) {
        // A burst of 0 means "one second of the rate" and stays 0 (so it follows the divided rate).
        s = {
          itemsPerSecond: spec.itemsPerSecond / members,
          itemsBurst: spec.itemsBurst / members,
          bytesPerSecond: spec.bytesPerSecond / members,
          bytesBurst: spec.bytesBurst / members,
        };
        cache.set(spec, s);
      }
      return s;
    },
  };
}
