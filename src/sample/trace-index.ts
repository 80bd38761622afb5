// The tail sampler's index of trace ids, per tenant: a trace id maps to its buffer slot while the trace
// waits for its decision, then to the decision itself (keep or drop), remembered for the last
// `capacity` decisions so that spans arriving after the decision follow it.
//
// One map entry per (tenant, trace id) for both roles: a new trace costs one lookup (buffered? decided?
// neither?) and its decision one store in place, instead of a lookup, insert and delete in two maps.
// The maps are per tenant and keyed by the trace id string itself (V8 caches a string's hash on the
// string object, so the id is hashed once, whereas a joined `${tenant}\0${traceId}` key would be built
// and hashed again at every use). Decisions are forgotten in the order they were taken (a ring): that
// order, not recency of use, is what matters for late spans, which arrive soon after their decision.
//
// Values: v >= 0 is a buffer slot; v < 0 encodes a decision: -(2 × ringSlot + keep) − 1.
export interface TraceIndex {
  /** The entry of (tenant, traceId): a slot (>= 0), a decision (< 0, see keepOf), or undefined. */
  get(tenant: string, traceId: string): number | undefined;
  /** Records a newly buffered trace (not in the index). */
  setSlot(tenant: string, traceId: string, slot: number): void;
  /** Replaces whatever (tenant, traceId) maps to by a decision, forgetting the oldest decision when full. */
  decide(tenant: string, traceId: string, keep: boolean): void;
  /** Buffer slots of `tenant`, or of every tenant (undefined). */
  slots(tenant: string | undefined): number[];
  /** Decisions remembered. */
  readonly decisions: number;
}

/** The decision an entry < 0 holds. */
export const keepOf = (v: number): boolean => ((-v - 1) & 1) === 1;

export function createTraceIndex(capacity: number): TraceIndex {
  const maps = new Map<string, Map<string, number>>();
  // The ring of decisions, filled in order (packed arrays, grown by appending until `capacity`).
  const ringTenant: string[] = [];
  const ringId: string[] = [];
  let head = 0;
  let count = 0;
  // The last tenant's map: requests come one tenant at a time, so this spares most outer lookups.
  let lastTenant: string | undefined;
  let lastMap: Map<string, number> | undefined;

  function mapOf(tenant: string): Map<string, number> | undefined {
    if (tenant === lastTenant) return lastMap;
    const m = maps.get(tenant);
    if (m) {
      lastTenant = tenant;
      lastMap = m;
    }
    return m;
  }

  function ensureMap(tenant: string): Map<string, number> {
    let m = mapOf(tenant);
    if (!m) {
      m = new Map();
      maps.set(tenant, m);
      lastTenant = tenant;
      lastMap = m;
    }
    return m;
  }

  function remove(tenant: string, m: Map<string, number>, traceId: string): void {
    m.delete(traceId);
    if (m.size === 0) {
      maps.delete(tenant);
      if (lastTenant === tenant) lastTenant = lastMap = undefined;
    }
  }

  return {
    get: (tenant, traceId) => mapOf(tenant)?.get(traceId),
    setSlot(tenant, traceId, slot) {
      ensureMap(tenant).set(traceId, slot);
    },
    decide(tenant, traceId, keep) {
      const current = mapOf(tenant)?.get(traceId);
      if (current !== undefined && current < 0) {
        // Decided again (an incident keeps a trace remembered as dropped): in place, same age.
        const ring = (-current - 1) >> 1;
        mapOf(tenant)!.set(traceId, -(2 * ring + (keep ? 1 : 0)) - 1);
        return;
      }
      if (capacity <= 0) {
        const m = mapOf(tenant);
        if (m && current !== undefined) remove(tenant, m, traceId);
        return;
      }
      if (count === capacity) {
        // Forget the oldest decision (unless its id was buffered again since: then it maps to a slot).
        const oldTenant = ringTenant[head]!;
        const oldId = ringId[head]!;
        const old = mapOf(oldTenant);
        const v = old?.get(oldId);
        if (old && v !== undefined && v < 0 && (-v - 1) >> 1 === head) remove(oldTenant, old, oldId);
      } else count++;
      ensureMap(tenant).set(traceId, -(2 * head + (keep ? 1 : 0)) - 1);
      if (head === ringId.length) {
        ringTenant.push(tenant);
        ringId.push(traceId);
      } else {
        ringTenant[head] = tenant;
        ringId[head] = traceId;
      }
      head = head + 1 === capacity ? 0 : head + 1;
    },
    slots(tenant) {
      const out: number[] = [];
      const each = (m: Map<string, number>) => {
        for (const v of m.values()) if (v >= 0) out.push(v);
      };
      if (tenant === undefined) for (const m of maps.values()) each(m);
      else {
        const m = maps.get(tenant);
        if (m) each(m);
      }
      return out;
    },
    get decisions() {
      return count;
    },
  };
}
