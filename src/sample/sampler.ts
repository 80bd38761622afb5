// The tail sampler (DESIGN.md: "tail sampler keyed by (tenant, trace id); incident mode = keep 100%").
// Traces requests arrive from the worker pool as they were sent, with each trace located
// (ProcessTask.splitTraces: ProcessOk.traceLayout, offsets into the body). The sampler buffers each
// trace's (body, trace index) per (tenant, trace id) and decides the trace
//   - decisionWait after its first span arrived, or
//   - rootGrace after its root span (no parent) arrived, when that is sooner,
// by the tenant's sampling policy (policy.ts). Kept traces go to the export router as concatenated
// resource_spans (a valid batch: DESIGN.md decision 1): a request whose traces are all kept in one flush
// goes on as its original body (no copy, no regrouping); only the kept traces of partly kept requests are
// regrouped into runs of their own (split-traces.ts writeTrace), written straight into the emitted
// batch, on the main thread: measured, locating in the worker and writing only kept traces here costs
// less than half of regrouping every request in the worker (README "Tail sampling").
// Decisions are remembered (trace-index.ts), so spans arriving after the decision follow it.
//
// Bounded by traces and by bytes: when either bound is exceeded, the oldest traces are decided early by
// the same policies, never dropped unseen; every early decision is counted by reason
// (sampling_early_decisions_total), as is every span kept or dropped (sampling_spans_total).
// Incident mode (deps.incidents): while a tenant, or the fleet, is in incident, its traces are kept
// whole and forwarded at once; when an incident starts, every trace of its scope already buffered is
// decided keep.
//
// Memory: a buffered fragment is (request body, trace index), or (body, offset, length) for a body laid
// out by trace, no copy: the body stays alive while any of its traces is buffered, and maxBytes counts
// the bodies kept alive (what the memory really holds), not just the fragments. Bodies are released in
// about the order they arrived (traces are decided oldest first), so evicting the oldest traces frees the
// oldest bodies; a body the caller gave up (offer's `owned`: the tee does not hold it) is freed as soon
// as it is released (detach()), not at the next full GC. Copying each fragment out instead costs
// an ArrayBuffer per (trace, request): more CPU and, measured, several hundred bytes more per trace.
// The per-trace state is kept in typed-array columns (no object per trace), see createSampler, and so
// is the index of trace ids (trace-index.ts): under churn a Map of id strings was the part of the main
// thread's heap that grew (README "Tail sampling", Cost).
import { LRUCache } from 'lru-cache';
import type { SamplingConfig } from '../config/sections/sampling.js';
import { DEFAULT_BATCH } from '../config/types.js';
import type { Outcome } from '../errors.js';
import { FLEET, type IncidentState } from '../incident/types.js';
import type { TraceSummary } from '../process/protocol.js';
import { layoutTraces, traceSize } from '../process/wire/trace-layout.js';
import { locateTraces } from '../process/wire/locate-traces.js';
import { writeTrace } from '../process/wire/write-traces.js';
import { ownsWholeBuffer } from '../process/wire/transfer.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { evaluate, type CompiledSampling, type TraceFacts } from './policy.js';
import { createTraceIndex, keepOf } from './trace-index.js';
import { systemClock, type Clock } from '../incident/clock.js';

/** The sampler's time: the same injectable clock as the incident store's (tests drive it by hand). */
export type SamplerClock = Clock;

export type SamplerConfig = Pick<SamplingConfig, 'decisionWaitMs' | 'rootGraceMs' | 'maxTraces' | 'maxBytes' | 'decisionCacheSize'>;

export type SamplerMetrics = Pick<
  GatewayMetrics,
  'samplingDecisions' | 'samplingSpans' | 'samplingEarlyDecisions' | 'samplingLateSpans' | 'samplingDroppedSpans' | 'samplingStats'
>;

export interface SamplerDeps {
  /** Hands kept spans on (the export router's offer): a concatenation of resource_spans entries. */
  emit(tenant: string, body: Uint8Array, items: number): Outcome;
  /** The active policy (hot-reloaded: read at every decision). */
  policy(): CompiledSampling;
  /** Incident mode; absent = never. */
  incidents?: Pick<IncidentState, 'isActive' | 'onChange'>;
  metrics?: SamplerMetrics;
  /** Tenant → metric label (caps the label set); identity by default. */
  tenantLabel?: (tenant: string) => string;
  clock?: SamplerClock;
  logger?: Logger;
  /** Decisions due within this many ms of each other are taken together (one emit per tenant). Default 50. */
  tickMs?: number;
  /**
   * Kept ranges of at least this many bytes are emitted on their own, as views of the request body (no
   * copy); smaller ones are copied together. Default: the exporters' default batch passThroughBytes
   * (which they forward without copying).
   */
  viewBytes?: number;
}

export type EarlyReason = 'max_traces' | 'max_bytes' | 'incident' | 'shutdown';

export interface TailSampler {
  /**
   * Takes one processed traces request of `tenant` (after close(): forwarded whole, reason shutdown) and its
   * per-trace summaries. `layout` (ProcessOk.traceLayout) locates the traces in `body`; without it, the
   * body is either laid out by trace (TraceSummary offset/length) or located here, on the main thread.
   * Never blocks and never refuses: the bounds are kept by deciding old traces early.
   * `owned`: nothing else keeps `body` (nor another view of its ArrayBuffer) after the call, so once none
   * of its traces is buffered or emitted the sampler may free its memory at once (see release()).
   */
  offer(tenant: string, body: Uint8Array, traces: readonly TraceSummary[], layout?: Int32Array | null, owned?: boolean): void;
  /** Decides every buffered trace now (reason: shutdown) and emits the kept ones. Idempotent. */
  drain(): void;
  /** Stops the timer and the incident subscription (drain first to keep what is buffered). */
  close(): void;
  stats(): { traces: number; bytes: number; decisionsCached: number };
}

/**
 * A fragment beyond a trace's first (rare: a trace split across requests): a chunk's range and its spans.
 * length < 0: `offset` is the index of the trace in the chunk's layout.
 */
interface Fragment {
  chunk: number;
  offset: number;
  length: number;
  spans: number;
}

/**
 * Pending output of one tenant, per entry either a byte range of a request body (adjacent ranges of one
 * body are merged) or, with a layout, the kept traces of a located body (consecutive ones merged).
 */
interface EmitGroup {
  bodies: Uint8Array[];
  starts: number[];
  ends: number[];
  layouts: Array<Int32Array | null>;
  /** With a layout: the kept trace indexes. */
  picks: Array<number[] | null>;
  /** Spans in each entry. */
  rangeItems: number[];
  /** Bytes as emitted (for picks: their regrouped runs; all of a body's traces become the body). */
  bytes: number;
  items: number;
}

/** Decisions and spans counted per reason / tenant between flushes (index 0 = drop, 1 = keep). */
type Pair = [number, number];

const EMPTY = new Uint8Array(0);

/**
 * Frees a released body's memory now rather than at the main thread's next full GC. A buffered body
 * outlives young-generation GCs, so once released it waits for a full GC, which V8 starts only after 64 MiB
 * more external memory: under churn that was up to 64 MiB of dead bodies in the resident set (README
 * "Tail sampling", Cost). Transferring the ArrayBuffer moves its memory to a new, unreferenced
 * ArrayBuffer in the young generation, which the next scavenge frees (milliseconds under load). Only for
 * bodies the caller gave up (offer's `owned`), after the flush that copied what was kept of them, and
 * never for one emitted as a view: any other view of it would be emptied.
 */
function detach(body: Uint8Array | Int32Array): void {
  // Only a view of a whole buffer: a slice's buffer (Node's pool, a larger body) holds other bytes too.
  if (!ownsWholeBuffer(body)) return;
  try {
    structuredClone(body.buffer, { transfer: [body.buffer as ArrayBuffer] });
  } catch {
    // Not transferable (e.g. marked untransferable by Node): left to the GC as before.
  }
}
const NONE = -1;
const F_ERROR = 1;
const F_ROOT = 2;
const F_LIVE = 4;

/** One emit is at most this large (the exporters' default batch is 4 MiB; they pass big items through whole). */
const MAX_EMIT_BYTES = 2 * 1024 * 1024;

export function createSampler(config: SamplerConfig, deps: SamplerDeps): TailSampler {
  const clock = deps.clock ?? systemClock;
  const tickMs = deps.tickMs ?? 50;
  const viewBytes = deps.viewBytes ?? DEFAULT_BATCH.passThroughBytes;
  const metrics = deps.metrics;
  const label = deps.tenantLabel ?? ((t: string) => t);
  const incidents = deps.incidents;
  const { decisionWaitMs, rootGraceMs, maxTraces, maxBytes } = config;

  // Buffered traces live in columns indexed by a slot (typed arrays, like trace-groups.ts) rather than
  // one object each: a buffered trace outlives several young-generation GCs, so every object per trace
  // would be copied and promoted, and per-trace objects were most of the sampler's CPU and memory.
  let cap = 0;
  const tenantOf: string[] = [];
  const idOf: string[] = [];
  /** The first fragment, inline (most traces have one per decision): chunk, offset, length, spans. */
  let chunkOf = new Int32Array(0);
  let offsetOf = new Int32Array(0);
  let lengthOf = new Int32Array(0);
  let firstSpansOf = new Int32Array(0);
  let spansOf = new Int32Array(0);
  let flagsOf = new Uint8Array(0);
  /** Generation of each slot, bumped when it is freed: root-queue entries of a freed slot are stale. */
  let genOf = new Int32Array(0);
  /** Earliest start and latest end over the spans seen, ns (0 = some span had no time). */
  let startNsOf = new Float64Array(0);
  let endNsOf = new Float64Array(0);
  /** When the first span arrived, and when the trace is due (first + wait, or root + grace). */
  let firstAtOf = new Float64Array(0);
  let dueAtOf = new Float64Array(0);
  /** Arrival order, oldest first: a doubly linked list of slots. */
  let prevOf = new Int32Array(0);
  let nextOf = new Int32Array(0);
  /** Fragments from later requests (sparse). */
  const moreOf: Array<Fragment[] | null> = [];
  const freeSlots: number[] = [];
  let oldest = NONE;
  let newest = NONE;

  // Chunks: the request bodies that buffered fragments point into; a body's bytes count while refs > 0.
  const chunkBody: Uint8Array[] = [];
  /** The chunk's trace layout (null: a single trace, or a body laid out by trace). */
  const chunkLayout: Array<Int32Array | null> = [];
  let chunkRefs = new Int32Array(64);
  /** 1: the caller gave the chunk's body up (offer's `owned`): freed after its release unless emitted as a view. */
  let chunkOwned = new Uint8Array(64);
  /** Owned bodies (and their layouts) released since the last flush: detached once the flush has copied what it keeps of them. */
  const released: Array<Uint8Array | Int32Array> = [];
  /** Bodies handed to the exporters as views (they read them later): never detached. */
  const viewed = new WeakSet<ArrayBufferView>();
  const freeChunks: number[] = [];

  /** (tenant, trace id) → buffer slot, then → decision (the decision cache): trace-index.ts. */
  const index = createTraceIndex(config.decisionCacheSize);
  let traceCount = 0;
  let byteCount = 0;
  /** Traces whose root arrived, in the order they became due (rootGrace is constant): slot and generation. */
  let rootSlots: number[] = [];
  let rootGens: number[] = [];
  let rootHead = 0;

  /** Rate-limit buckets per (tenant, rule): tokens and the time they were counted. */
  const buckets = new LRUCache<string, { tokens: number; at: number }>({ max: 10_000 });

  // Counts aggregated between flushes: prom-client label lookups cost more than the decisions.
  const decisionCounts = new Map<string, Pair>();
  const spanCounts = new Map<string, Pair>();
  const earlyCounts = new Map<EarlyReason, number>();
  let lateKept = 0;
  let lateDropped = 0;
  let exportRefused = 0;

  const emits = new Map<string, EmitGroup>();
  let timer: { cancel(): void } | undefined;
  let timerAt = Infinity;
  let closed = false;

  if (metrics) metrics.samplingStats = () => ({ traces: traceCount, bytes: byteCount });

  const unsubscribe = incidents?.onChange((event) => {
    if (event.type !== 'start' || closed) return;
    // Everything of the scope already buffered is kept: an incident wants the traces in flight too.
    const scope = event.incident.scope;
    for (const slot of index.slots(scope === FLEET ? undefined : scope)) decide(slot, 'incident', true);
    flush();
  });

  function grow(need: number): void {
    if (need <= cap) return;
    const n = Math.max(need, cap * 2, 1024);
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    chunkOf = i32(chunkOf);
    offsetOf = i32(offsetOf);
    lengthOf = i32(lengthOf);
    firstSpansOf = i32(firstSpansOf);
    spansOf = i32(spansOf);
    genOf = i32(genOf);
    prevOf = i32(prevOf);
    nextOf = i32(nextOf);
    const flags = new Uint8Array(n);
    flags.set(flagsOf);
    flagsOf = flags;
    startNsOf = f64(startNsOf);
    endNsOf = f64(endNsOf);
    firstAtOf = f64(firstAtOf);
    dueAtOf = f64(dueAtOf);
    for (let i = n - 1; i >= cap; i--) freeSlots.push(i);
    for (let i = cap; i < n; i++) {
      tenantOf.push('');
      idOf.push('');
      moreOf.push(null);
    }
    cap = n;
  }

  function newChunk(body: Uint8Array, layout: Int32Array | null): number {
    let c = freeChunks.pop();
    if (c === undefined) {
      c = chunkBody.length;
      chunkBody.push(body);
      chunkLayout.push(layout);
      if (c >= chunkRefs.length) {
        const r = new Int32Array(chunkRefs.length * 2);
        r.set(chunkRefs);
        chunkRefs = r;
        const o = new Uint8Array(r.length);
        o.set(chunkOwned);
        chunkOwned = o;
      }
    } else {
      chunkBody[c] = body;
      chunkLayout[c] = layout;
    }
    chunkRefs[c] = 0;
    chunkOwned[c] = 0;
    // The layout is held as long as the body (a few % of it): counted with it.
    byteCount += body.length + (layout ? layout.byteLength : 0);
    return c;
  }

  function release(c: number): void {
    if (--chunkRefs[c]! === 0) {
      byteCount -= chunkBody[c]!.length + (chunkLayout[c]?.byteLength ?? 0);
      if (chunkOwned[c] === 1) {
        released.push(chunkBody[c]!);
        // The layout came with the body (ProcessOk.traceLayout) and only the sampler ever reads it.
        if (chunkLayout[c]) released.push(chunkLayout[c]!);
      }
      chunkBody[c] = EMPTY;
      chunkLayout[c] = null;
      freeChunks.push(c);
    }
  }

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

  function unlink(slot: number): void {
    const p = prevOf[slot]!;
    const n = nextOf[slot]!;
    if (p !== NONE) nextOf[p] = n;
    else oldest = n;
    if (n !== NONE) prevOf[n] = p;
    else newest = p;
  }

  function countSpans(tenant: string, keep: boolean, n: number): void {
    let c = spanCounts.get(tenant);
    if (!c) spanCounts.set(tenant, (c = [0, 0]));
    c[keep ? 1 : 0] += n;
  }

  function countDecision(reason: string, keep: boolean, n: number): void {
    let c = decisionCounts.get(reason);
    if (!c) decisionCounts.set(reason, (c = [0, 0]));
    c[keep ? 1 : 0] += n;
  }

  function group(tenant: string, n: number): EmitGroup {
    let g = emits.get(tenant);
    if (!g) {
      g = { bodies: [], starts: [], ends: [], layouts: [], picks: [], rangeItems: [], bytes: 0, items: 0 };
      emits.set(tenant, g);
    }
    if (g.bytes > 0 && g.bytes + n > MAX_EMIT_BYTES) {
      emitGroup(tenant, g);
      g.bodies.length = g.starts.length = g.ends.length = g.layouts.length = g.picks.length = g.rangeItems.length = 0;
      g.bytes = 0;
      g.items = 0;
    }
    return g;
  }

  /** Queues body[start, end) for the tenant's next emit; a range right after the previous one of the same body extends it. */
  function addEmit(tenant: string, body: Uint8Array, start: number, end: number, items: number): void {
    const n = end - start;
    const g = group(tenant, n);
    const last = g.bodies.length - 1;
    if (last >= 0 && g.bodies[last] === body && g.layouts[last] === null && g.ends[last] === start) {
      g.ends[last] = end;
      g.rangeItems[last]! += items;
    } else {
      g.bodies.push(body);
      g.starts.push(start);
      g.ends.push(end);
      g.layouts.push(null);
      g.picks.push(null);
      g.rangeItems.push(items);
    }
    g.bytes += n;
    g.items += items;
  }

  /** Queues trace t of a located body for the tenant's next emit (with the body's other kept traces queued just before). */
  function addTrace(tenant: string, body: Uint8Array, layout: Int32Array, t: number, items: number): void {
    const g = group(tenant, traceSize(layout, t));
    const last = g.bodies.length - 1;
    if (last >= 0 && g.bodies[last] === body && g.layouts[last] === layout) {
      const picks = g.picks[last]!;
      picks.push(t);
      g.rangeItems[last]! += items;
      g.bytes -= g.ends[last]! - g.starts[last]!;
      // Every trace of the body kept: the body itself, smaller than the runs (no repeated headers).
      if (picks.length === layoutTraces(layout)) g.ends[last] = body.length;
      else g.ends[last]! += traceSize(layout, t);
      g.bytes += g.ends[last]! - g.starts[last]!;
    } else {
      g.bodies.push(body);
      g.starts.push(0);
      g.ends.push(traceSize(layout, t));
      g.layouts.push(layout);
      g.picks.push([t]);
      g.rangeItems.push(items);
      g.bytes += traceSize(layout, t);
    }
    g.items += items;
  }

  /** Entry i is the whole of its body (a range of all of it, or every trace of a located body). */
  function whole(g: EmitGroup, i: number): boolean {
    const layout = g.layouts[i];
    if (layout) return g.picks[i]!.length === layoutTraces(layout);
    return g.starts[i] === 0 && g.ends[i] === g.bodies[i]!.length;
  }

  function emitGroup(tenant: string, g: EmitGroup): void {
    const n = g.bodies.length;
    let copied = g.bytes;
    let copiedItems = g.items;
    if (n > 1) {
      // Ranges big enough to be an export request of their own (e.g. every trace of a request kept, which
      // is the body itself) go on as views: the exporters' batcher passes them through, no copy.
      for (let i = 0; i < n; i++) {
        const size = g.ends[i]! - g.starts[i]!;
        if (size < viewBytes || (g.layouts[i] && !whole(g, i))) continue;
        send(tenant, view(g, i), g.rangeItems[i]!);
        copied -= size;
        copiedItems -= g.rangeItems[i]!;
        g.ends[i] = g.starts[i]!; // emptied: skipped below
        g.layouts[i] = null;
      }
    }
    if (copied === 0) return;
    let body: Uint8Array | undefined;
    if (n === 1 && (g.layouts[0] === null || whole(g, 0))) body = view(g, 0);
    else {
      // Every byte is written below: no zero-fill (allocUnsafeSlow: an ArrayBuffer of its own, never Node's pool).
      const out = Buffer.allocUnsafeSlow(copied);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const s = g.starts[i]!;
        const e = g.ends[i]!;
        if (e === s) continue;
        const b = g.bodies[i]!;
        const layout = g.layouts[i];
        if (layout && !whole(g, i)) {
          for (const t of g.picks[i]!) at = writeTrace(b, layout, t, out, at);
          continue;
        }
        out.set(s === 0 && e === b.length ? b : b.subarray(s, e), at);
        at += e - s;
      }
      if (at !== copied) throw new Error(`sampler: emitted ${at} bytes, sized ${copied}`);
      body = out;
    }
    send(tenant, body, copiedItems);
  }

  function view(g: EmitGroup, i: number): Uint8Array {
    const b = g.bodies[i]!;
    viewed.add(b);
    if (g.layouts[i]) return b; // every trace of it kept
    const s = g.starts[i]!;
    const e = g.ends[i]!;
    return s === 0 && e === b.length ? b : b.subarray(s, e);
  }

  /** The bytes of a buffered fragment: a range of its body, or its trace's run written out (a copy). */
  function fragment(chunk: number, offset: number, length: number): Uint8Array {
    const b = chunkBody[chunk]!;
    if (length >= 0) return b.subarray(offset, offset + length);
    const layout = chunkLayout[chunk]!;
    const out = Buffer.allocUnsafe(traceSize(layout, offset));
    writeTrace(b, layout, offset, out, 0);
    return out;
  }

  /** Queues a buffered fragment for the tenant's next emit. */
  function emitFragment(tenant: string, chunk: number, offset: number, length: number, items: number): void {
    if (length >= 0) addEmit(tenant, chunkBody[chunk]!, offset, offset + length, items);
    else addTrace(tenant, chunkBody[chunk]!, chunkLayout[chunk]!, offset, items);
  }

  function send(tenant: string, body: Uint8Array, items: number): void {
    const outcome = deps.emit(tenant, body, items);
    if (outcome.status !== 'ok') exportRefused += items;
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
      const parts = [fragment(chunkOf[slot]!, offsetOf[slot]!, lengthOf[slot]!)];
      for (const f of moreOf[slot] ?? []) parts.push(fragment(f.chunk, f.offset, f.length));
      return parts;
    },
  };

  /** Decides one buffered trace; kept fragments join the pending emits (flush() sends them). */
  function decide(slot: number, early: EarlyReason | undefined, forceKeep = false): void {
    if ((flagsOf[slot]! & F_LIVE) === 0) return;
    const tenant = tenantOf[slot]!;
    const traceId = idOf[slot]!;
    unlink(slot);
    traceCount--;
    const spans = spansOf[slot]!;

    let keep: boolean;
    let reason: string;
    if (forceKeep || incidents?.isActive(tenant)) {
      keep = true;
      reason = 'incident';
    } else {
      const start = startNsOf[slot]!;
      const end = endNsOf[slot]!;
      factsSlot = slot;
      facts.traceId = traceId;
      facts.spans = spans;
      facts.error = (flagsOf[slot]! & F_ERROR) !== 0;
      facts.durationNs = start > 0 && end > start ? end - start : 0;
      const d = evaluate(deps.policy().forTenant(tenant), facts, tenant, rateGate);
      factsSlot = NONE;
      keep = d.keep;
      reason = d.reason;
    }
    if (early) earlyCounts.set(early, (earlyCounts.get(early) ?? 0) + 1);
    countDecision(reason, keep, 1);
    countSpans(tenant, keep, spans);
    index.decideSlot(slot, keep);
    const chunk = chunkOf[slot]!;
    const more = moreOf[slot];
    if (keep) {
      emitFragment(tenant, chunk, offsetOf[slot]!, lengthOf[slot]!, firstSpansOf[slot]!);
      if (more) for (const f of more) emitFragment(tenant, f.chunk, f.offset, f.length, f.spans);
    }
    release(chunk);
    if (more) {
      for (const f of more) release(f.chunk);
      moreOf[slot] = null;
    }
    flagsOf[slot] = 0;
    genOf[slot]!++;
    tenantOf[slot] = '';
    idOf[slot] = '';
    freeSlots.push(slot);
  }

  /** Sends the pending emits and the aggregated counts. */
  function flush(): void {
    if (emits.size > 0) {
      for (const [tenant, g] of emits) if (g.bytes > 0) emitGroup(tenant, g);
      emits.clear();
    }
    if (released.length > 0) {
      for (const b of released) if (!viewed.has(b)) detach(b);
      released.length = 0;
    }
    if (!metrics) {
      decisionCounts.clear();
      spanCounts.clear();
      earlyCounts.clear();
      lateKept = lateDropped = exportRefused = 0;
      return;
    }
    if (decisionCounts.size > 0) {
      for (const [reason, c] of decisionCounts) {
        if (c[1] > 0) metrics.samplingDecisions.inc({ decision: 'keep', reason }, c[1]);
        if (c[0] > 0) metrics.samplingDecisions.inc({ decision: 'drop', reason }, c[0]);
      }
      decisionCounts.clear();
    }
    if (spanCounts.size > 0) {
      for (const [tenant, c] of spanCounts) {
        if (c[1] > 0) metrics.samplingSpans.inc({ tenant: label(tenant), decision: 'keep' }, c[1]);
        if (c[0] > 0) metrics.samplingSpans.inc({ tenant: label(tenant), decision: 'drop' }, c[0]);
      }
      spanCounts.clear();
    }
    if (earlyCounts.size > 0) {
      for (const [reason, n] of earlyCounts) metrics.samplingEarlyDecisions.inc({ reason }, n);
      earlyCounts.clear();
    }
    if (lateKept > 0) metrics.samplingLateSpans.inc({ decision: 'keep' }, lateKept);
    if (lateDropped > 0) metrics.samplingLateSpans.inc({ decision: 'drop' }, lateDropped);
    if (exportRefused > 0) metrics.samplingDroppedSpans.inc({ reason: 'export_refused' }, exportRefused);
    lateKept = lateDropped = exportRefused = 0;
  }

  /** Decides what is due at `now`: the oldest traces past decisionWait, and roots past their grace. */
  function decideDue(now: number): void {
    while (oldest !== NONE && firstAtOf[oldest]! + decisionWaitMs <= now) decide(oldest, undefined);
    while (rootHead < rootSlots.length) {
      const slot = rootSlots[rootHead]!;
      const live = genOf[slot] === rootGens[rootHead] && (flagsOf[slot]! & F_LIVE) !== 0;
      if (live && dueAtOf[slot]! > now) break;
      rootHead++;
      if (live) decide(slot, undefined);
    }
    compactRoots();
  }

  function compactRoots(): void {
    if (rootHead > 1024 && rootHead * 2 > rootSlots.length) {
      rootSlots = rootSlots.slice(rootHead);
      rootGens = rootGens.slice(rootHead);
      rootHead = 0;
    }
  }

  function nextDue(): number {
    let due = oldest !== NONE ? firstAtOf[oldest]! + decisionWaitMs : Infinity;
    while (rootHead < rootSlots.length) {
      const slot = rootSlots[rootHead]!;
      if (genOf[slot] === rootGens[rootHead] && (flagsOf[slot]! & F_LIVE) !== 0) {
        due = Math.min(due, dueAtOf[slot]!);
        break;
      }
      rootHead++;
    }
    compactRoots();
    return due;
  }

  function onTimer(): void {
    timer = undefined;
    timerAt = Infinity;
    if (closed) return;
    decideDue(clock.now());
    flush();
    arm();
  }

  function arm(): void {
    if (closed) return;
    const due = nextDue();
    if (due === Infinity) return;
    // Coalesce: fire no sooner than tickMs from now, so close decisions are taken (and emitted) together.
    const now = clock.now();
    const at = Math.max(due, now + tickMs);
    if (timer && timerAt <= at) return;
    timer?.cancel();
    timerAt = at;
    timer = clock.setTimer(onTimer, at - now);
  }

  function enforceBounds(): void {
    while (oldest !== NONE && (traceCount > maxTraces || byteCount > maxBytes)) {
      decide(oldest, traceCount > maxTraces ? 'max_traces' : 'max_bytes');
    }
  }

  function onRoot(slot: number, now: number): void {
    flagsOf[slot]! |= F_ROOT;
    const due = now + rootGraceMs;
    if (due < dueAtOf[slot]!) {
      dueAtOf[slot] = due;
      rootSlots.push(slot);
      rootGens.push(genOf[slot]!);
    }
  }

  return {
    offer(tenant, body, traces, layout, owned = false) {
      if (traces.length === 0) return;
      if (closed) {
        // After shutdown's drain: nothing may wait any more; kept whole rather than lost unseen.
        let items = 0;
        for (const x of traces) {
          items += x.spans;
          countSpans(tenant, true, x.spans);
        }
        countDecision('shutdown', true, traces.length);
        addEmit(tenant, body, 0, body.length, items);
        flush();
        return;
      }
      // lay: the traces are located in the body (fragments are (chunk, trace index), length -1);
      // otherwise each trace is a byte range of it (a single trace: the whole body).
      let lay: Int32Array | null = null;
      if (traces.length === 1) {
        if (traces[0]!.offset === undefined) {
          traces[0]!.offset = 0;
          traces[0]!.length = body.length;
        }
      } else if (layout) lay = layout;
      else if (traces[0]!.offset === undefined) {
        // The worker did not locate the traces (a task without splitTraces): do it here, on the main thread.
        lay = locateTraces(body, traces);
      }
      const now = clock.now();
      const inIncident = incidents?.isActive(tenant) === true;
      /** This request's body, once a fragment of it is buffered. */
      let chunk = NONE;

      for (let k = 0; k < traces.length; k++) {
        const s = traces[k]!;
        // Located traces: start is the trace index, length -1 (see Fragment).
        const start = lay ? k : s.offset!;
        const length = lay ? -1 : s.length!;
        const entry = index.get(tenant, s.traceId);
        if (inIncident) {
          // Forwarded at once (adjacent traces of the body merge into one range in addEmit).
          if (entry !== undefined && entry >= 0) decide(entry, 'incident', true);
          else {
            // A trace first seen during the incident is decided here, without a buffer slot: counted as
            // one kept by the incident (a trace already decided before is not counted twice).
            if (entry === undefined) countDecision('incident', true, 1);
            index.decide(tenant, s.traceId, true);
          }
          countSpans(tenant, true, s.spans);
          if (lay) addTrace(tenant, body, lay, k, s.spans);
          else addEmit(tenant, body, start, start + length, s.spans);
          continue;
        }
        if (entry !== undefined && entry >= 0) {
          const existing = entry;
          if (chunk === NONE) chunk = newChunk(body, lay);
          chunkRefs[chunk]!++;
          (moreOf[existing] ??= []).push({ chunk, offset: start, length, spans: s.spans });
          spansOf[existing]! += s.spans;
          if (s.error) flagsOf[existing]! |= F_ERROR;
          const st = Number(s.startNs);
          const en = Number(s.endNs);
          if (startNsOf[existing] === 0 || st === 0) startNsOf[existing] = 0;
          else if (st < startNsOf[existing]!) startNsOf[existing] = st;
          if (en > endNsOf[existing]!) endNsOf[existing] = en;
          if (s.root && (flagsOf[existing]! & F_ROOT) === 0) onRoot(existing, now);
          continue;
        }
        if (entry !== undefined) {
          // Decided already: late spans follow the decision.
          const cached = keepOf(entry);
          countSpans(tenant, cached, s.spans);
          if (cached) {
            lateKept += s.spans;
            if (lay) addTrace(tenant, body, lay, k, s.spans);
            else addEmit(tenant, body, start, start + length, s.spans);
          } else lateDropped += s.spans;
          continue;
        }
        if (chunk === NONE) chunk = newChunk(body, lay);
        chunkRefs[chunk]!++;
        if (freeSlots.length === 0) grow(cap + 1);
        const slot = freeSlots.pop()!;
        tenantOf[slot] = tenant;
        idOf[slot] = s.traceId;
        chunkOf[slot] = chunk;
        offsetOf[slot] = start;
        lengthOf[slot] = length;
        firstSpansOf[slot] = s.spans;
        spansOf[slot] = s.spans;
        flagsOf[slot] = s.error ? F_LIVE | F_ERROR : F_LIVE;
        startNsOf[slot] = Number(s.startNs);
        endNsOf[slot] = Number(s.endNs);
        firstAtOf[slot] = now;
        dueAtOf[slot] = now + decisionWaitMs;
        prevOf[slot] = newest;
        nextOf[slot] = NONE;
        if (newest !== NONE) nextOf[newest] = slot;
        else oldest = slot;
        newest = slot;
        index.setSlot(tenant, s.traceId, slot);
        traceCount++;
        if (s.root) onRoot(slot, now);
      }

      if (chunk !== NONE && owned) chunkOwned[chunk] = 1;
      if (traceCount > maxTraces || byteCount > maxBytes) enforceBounds();
      flush();
      arm();
    },

    drain() {
      while (oldest !== NONE) decide(oldest, 'shutdown');
      rootSlots = [];
      rootGens = [];
      rootHead = 0;
      flush();
    },

    close() {
      closed = true;
      timer?.cancel();
      timer = undefined;
      timerAt = Infinity;
      unsubscribe?.();
      if (metrics?.samplingStats) metrics.samplingStats = undefined;
    },

    stats: () => ({ traces: traceCount, bytes: byteCount, decisionsCached: index.decisions }),
  };
}
