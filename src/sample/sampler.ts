// The tail sampler (DESIGN.md: "tail sampler keyed by (tenant, trace id); incident mode = keep 100%").
// Traces requests arrive from the worker pool as they were sent, with each trace located
// (ProcessTask.splitTraces: ProcessOk.traceLayout, offsets into the body). The sampler buffers each
// trace's (body, trace index) per (tenant, trace id) and decides the trace
//   - decisionWait after its first span arrived, or
//   - rootGrace after its root span (no parent) arrived, when that is sooner,
// by the tenant's sampling policy (policy.ts). Kept traces go to the export router as concatenated
// resource_spans (a valid batch: DESIGN.md decision 1): a request whose traces are all kept in one flush
// goes on as its original body (no copy, no regrouping); only the kept traces of partly kept requests are
// regrouped into runs of their own (process/wire/write-traces.ts writeTrace), written straight into the emitted
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
// The per-trace state is kept in typed-array columns (no object per trace), see trace-slots.ts, and so
// is the index of trace ids (trace-index.ts): under churn a Map of id strings was the part of the main
// thread's heap that grew (README "Tail sampling", Cost).
//
// createSampler composes the parts: trace-slots.ts (the buffered traces' columns, arrival order, root
// queue), chunks.ts (the request bodies they point into, released and freed), decide.ts (one trace's
// decision), emit-groups.ts (forwarding kept traces to the export router), sampler-counts.ts (metrics),
// trace-index.ts (trace ids → slots, then decisions). Here: taking requests in (offer), incident mode,
// the due timer, the bounds, drain and close.
import type { SamplingConfig } from '../config/sections/sampling.js';
import { DEFAULT_BATCH } from '../config/types.js';
import type { Outcome } from '../errors.js';
import { FLEET, type IncidentState } from '../incident/types.js';
import type { TraceSummary } from '../process/protocol.js';
import { locateTraces } from '../process/wire/locate-traces.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { Chunks } from './chunks.js';
import { createDecide } from './decide.js';
import { createEmits } from './emit-groups.js';
import type { CompiledSampling } from './policy.js';
import { SamplerCounts } from './sampler-counts.js';
import { createTraceIndex, keepOf } from './trace-index.js';
import { F_ERROR, F_LIVE, F_ROOT, NONE, TraceSlots } from './trace-slots.js';
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

export function createSampler(config: SamplerConfig, deps: SamplerDeps): TailSampler {
  const clock = deps.clock ?? systemClock;
  const tickMs = deps.tickMs ?? 50;
  const metrics = deps.metrics;
  const incidents = deps.incidents;
  const { decisionWaitMs, rootGraceMs, maxTraces, maxBytes } = config;

  const slots = new TraceSlots();
  const chunks = new Chunks();
  /** (tenant, trace id) → buffer slot, then → decision (the decision cache): trace-index.ts. */
  const index = createTraceIndex(config.decisionCacheSize);
  const counts = new SamplerCounts(metrics, deps.tenantLabel ?? ((t: string) => t));
  const emits = createEmits({
    emit: (tenant, body, items) => deps.emit(tenant, body, items),
    viewBytes: deps.viewBytes ?? DEFAULT_BATCH.passThroughBytes,
    viewed: chunks.viewed,
    onRefused: (items) => {
      counts.exportRefused += items;
    },
  });
  const decide = createDecide({ slots, chunks, emits, counts, index, policy: () => deps.policy(), incidents, clock });

  let timer: { cancel(): void } | undefined;
  let timerAt = Infinity;
  let closed = false;

  if (metrics) metrics.samplingStats = () => ({ traces: slots.count, bytes: chunks.bytes });

  // ---- incident mode -------------------------------------------------------------------------------

  const unsubscribe = incidents?.onChange((event) => {
    if (event.type !== 'start' || closed) return;
    // Everything of the scope already buffered is kept: an incident wants the traces in flight too.
    const scope = event.incident.scope;
    for (const slot of index.slots(scope === FLEET ? undefined : scope)) decide(slot, 'incident', true);
    flush();
  });

  /** Sends the pending emits and the aggregated counts. */
  function flush(): void {
    emits.flush();
    chunks.detachReleased();
    counts.publish();
  }

  // ---- when traces are due -------------------------------------------------------------------------

  /** Decides what is due at `now`: the oldest traces past decisionWait, and roots past their grace. */
  function decideDue(now: number): void {
    while (slots.oldest !== NONE && slots.firstAtOf[slots.oldest]! + decisionWaitMs <= now) decide(slots.oldest, undefined);
    while (slots.rootHead < slots.rootSlots.length) {
      const slot = slots.rootSlots[slots.rootHead]!;
      const live = slots.rootLive(slots.rootHead);
      if (live && slots.dueAtOf[slot]! > now) break;
      slots.rootHead++;
      if (live) decide(slot, undefined);
    }
    slots.compactRoots();
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
    const due = slots.nextDue(decisionWaitMs);
    if (due === Infinity) return;
    // Coalesce: fire no sooner than tickMs from now, so close decisions are taken (and emitted) together.
    const now = clock.now();
    const at = Math.max(due, now + tickMs);
    if (timer && timerAt <= at) return;
    timer?.cancel();
    timerAt = at;
    timer = clock.setTimer(onTimer, at - now);
  }

  /** The oldest traces decided early while a bound is exceeded. */
  function enforceBounds(): void {
    while (slots.oldest !== NONE && (slots.count > maxTraces || chunks.bytes > maxBytes)) {
      decide(slots.oldest, slots.count > maxTraces ? 'max_traces' : 'max_bytes');
    }
  }

  // ---- taking requests in --------------------------------------------------------------------------

  return {
    offer(tenant, body, traces, layout, owned = false) {
      if (traces.length === 0) return;
      if (closed) {
        // After shutdown's drain: nothing may wait any more; kept whole rather than lost unseen.
        let items = 0;
        for (const x of traces) {
          items += x.spans;
          counts.countSpans(tenant, true, x.spans);
        }
        counts.countDecision('shutdown', true, traces.length);
        emits.addRange(tenant, body, 0, body.length, items);
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
          // Forwarded at once (adjacent traces of the body merge into one range in addRange).
          if (entry !== undefined && entry >= 0) decide(entry, 'incident', true);
          else {
            // A trace first seen during the incident is decided here, without a buffer slot: counted as
            // one kept by the incident (a trace already decided before is not counted twice).
            if (entry === undefined) counts.countDecision('incident', true, 1);
            index.decide(tenant, s.traceId, true);
          }
          counts.countSpans(tenant, true, s.spans);
          if (lay) emits.addTrace(tenant, body, lay, k, s.spans);
          else emits.addRange(tenant, body, start, start + length, s.spans);
          continue;
        }
        if (entry !== undefined && entry >= 0) {
          // Buffered already: one more fragment of it.
          const existing = entry;
          if (chunk === NONE) chunk = chunks.add(body, lay);
          chunks.refs[chunk]!++;
          (slots.moreOf[existing] ??= []).push({ chunk, offset: start, length, spans: s.spans });
          slots.spansOf[existing]! += s.spans;
          if (s.error) slots.flagsOf[existing]! |= F_ERROR;
          const st = Number(s.startNs);
          const en = Number(s.endNs);
          if (slots.startNsOf[existing] === 0 || st === 0) slots.startNsOf[existing] = 0;
          else if (st < slots.startNsOf[existing]!) slots.startNsOf[existing] = st;
          if (en > slots.endNsOf[existing]!) slots.endNsOf[existing] = en;
          if (s.root && (slots.flagsOf[existing]! & F_ROOT) === 0) slots.onRoot(existing, now, rootGraceMs);
          continue;
        }
        if (entry !== undefined) {
          // Decided already: late spans follow the decision.
          const cached = keepOf(entry);
          counts.countSpans(tenant, cached, s.spans);
          if (cached) {
            counts.lateKept += s.spans;
            if (lay) emits.addTrace(tenant, body, lay, k, s.spans);
            else emits.addRange(tenant, body, start, start + length, s.spans);
          } else counts.lateDropped += s.spans;
          continue;
        }
        // A new trace: buffered in a slot of its own.
        if (chunk === NONE) chunk = chunks.add(body, lay);
        chunks.refs[chunk]!++;
        const slot = slots.take();
        slots.tenantOf[slot] = tenant;
        slots.idOf[slot] = s.traceId;
        slots.chunkOf[slot] = chunk;
        slots.offsetOf[slot] = start;
        slots.lengthOf[slot] = length;
        slots.firstSpansOf[slot] = s.spans;
        slots.spansOf[slot] = s.spans;
        slots.flagsOf[slot] = s.error ? F_LIVE | F_ERROR : F_LIVE;
        slots.startNsOf[slot] = Number(s.startNs);
        slots.endNsOf[slot] = Number(s.endNs);
        slots.firstAtOf[slot] = now;
        slots.dueAtOf[slot] = now + decisionWaitMs;
        slots.append(slot);
        index.setSlot(tenant, s.traceId, slot);
        if (s.root) slots.onRoot(slot, now, rootGraceMs);
      }

      if (chunk !== NONE && owned) chunks.owned[chunk] = 1;
      if (slots.count > maxTraces || chunks.bytes > maxBytes) enforceBounds();
      flush();
      arm();
    },

    drain() {
      while (slots.oldest !== NONE) decide(slots.oldest, 'shutdown');
      slots.clearRoots();
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

    stats: () => ({ traces: slots.count, bytes: chunks.bytes, decisionsCached: index.decisions }),
  };
}
