// Deciding one buffered trace: incident (keep) or the tenant's sampling policy (policy.ts) on the
// trace's facts, with per-(tenant, rule) rate limits; kept fragments join the pending emits, the trace's
// slot and its references to request bodies are released, the decision is remembered (trace-index.ts).
import { LRUCache } from 'lru-cache';
import type { Clock } from '../incident/clock.js';
import type { IncidentState } from '../incident/types.js';
import type { Chunks } from './chunks.js';
import type { Emits } from './emit-groups.js';
import { evaluate, type CompiledSampling, type TraceFacts } from './policy.js';
import type { SamplerCounts } from './sampler-counts.js';
import type { EarlyReason } from './sampler.js';
import type { TraceIndex } from './trace-index.js';
import { F_ERROR, F_LIVE, NONE, type TraceSlots } from './trace-slots.js';

/** Decides the trace in `slot` (no-op for a free slot); `early` counts an early decision; `forceKeep` keeps it (incident). */
export type Decide = (slot: number, early: EarlyReason | undefined, forceKeep?: boolean) => void;

export function createDecide(deps: {
  slots: TraceSlots;
  chunks: Chunks;
  emits: Emits;
  counts: SamplerCounts;
  index: TraceIndex;
  policy(): CompiledSampling;
  incidents: Pick<IncidentState, 'isActive'> | undefined;
  clock: Clock;
}): Decide {
  const { slots, chunks, emits, counts, index, incidents, clock } = deps;

  /** Rate-limit buckets per (tenant, rule): tokens and the time they were counted. */
  const buckets = new LRUCache<string, { tokens: number; at: number }>({ max: 10_000 });

  function rateGate(tenant: string, rule: string, perSecond: number, spans: number): boolean {
    const key = `${tenant}\u0000${rule}`;
    const now = clock.now();
    let b = buckets.get(key);
    if (!b) {
      b = { tokens: perSecond, at: now };
      buckets.set(key, b);
    } else {
      b.tokens = Math.min(perSecond, b.tokens + ((now - b.at) / 1000) * perSecond);
      b.at = now;
    }
    if (b.tokens < spans) return false;
    b.tokens -= spans;
    return true;
  }

  // The facts of the trace being decided: one reusable object; `parts` (views of its fragments) is built
  // only when an attribute rule asks for it.
  let factsSlot = NONE;
  const facts: TraceFacts = {
    traceId: '',
    spans: 0,
    error: false,
    durationNs: 0,
    get parts(): Uint8Array[] {
      const slot = factsSlot;
      const parts = [chunks.fragment(slots.chunkOf[slot]!, slots.offsetOf[slot]!, slots.lengthOf[slot]!)];
      for (const f of slots.moreOf[slot] ?? []) parts.push(chunks.fragment(f.chunk, f.offset, f.length));
      return parts;
    },
  };

  /** Queues a buffered fragment for the tenant's next emit. */
  function emitFragment(tenant: string, chunk: number, offset: number, length: number, items: number): void {
    if (length >= 0) emits.addRange(tenant, chunks.body[chunk]!, offset, offset + length, items);
    else emits.addTrace(tenant, chunks.body[chunk]!, chunks.layout[chunk]!, offset, items);
  }

  return function decide(slot, early, forceKeep = false) {
    if ((slots.flagsOf[slot]! & F_LIVE) === 0) return;
    const tenant = slots.tenantOf[slot]!;
    const traceId = slots.idOf[slot]!;
    slots.unlink(slot);
    const spans = slots.spansOf[slot]!;

    let keep: boolean;
    let reason: string;
    if (forceKeep || incidents?.isActive(tenant)) {
      keep = true;
      reason = 'incident';
    } else {
      const start = slots.startNsOf[slot]!;
      const end = slots.endNsOf[slot]!;
      factsSlot = slot;
      facts.traceId = traceId;
      facts.spans = spans;
      facts.error = (slots.flagsOf[slot]! & F_ERROR) !== 0;
      facts.durationNs = start > 0 && end > start ? end - start : 0;
      const d = evaluate(deps.policy().forTenant(tenant), facts, tenant, rateGate);
      factsSlot = NONE;
      keep = d.keep;
      reason = d.reason;
    }
    if (early) counts.countEarly(early);
    counts.countDecision(reason, keep, 1);
    counts.countSpans(tenant, keep, spans);
    index.decideSlot(slot, keep);
    const chunk = slots.chunkOf[slot]!;
    const more = slots.moreOf[slot];
    if (keep) {
      emitFragment(tenant, chunk, slots.offsetOf[slot]!, slots.lengthOf[slot]!, slots.firstSpansOf[slot]!);
      if (more) for (const f of more) emitFragment(tenant, f.chunk, f.offset, f.length, f.spans);
    }
    chunks.release(chunk);
    if (more) {
      for (const f of more) chunks.release(f.chunk);
      slots.moreOf[slot] = null;
    }
    slots.free(slot);
  };
}
