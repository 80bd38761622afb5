// The tail sampler (DESIGN.md: "tail sampler keyed by (tenant, trace id); incident mode = keep 100%").
// Traces requests arrive from the worker pool split by trace id (ProcessTask.splitTraces): one byte range
// per trace. The sampler buffers each trace's ranges per (tenant, trace id) and decides the trace
//   - decisionWait after its first span arrived, or
//   - rootGrace after its root span (no parent) arrived, when that is sooner,
// by the tenant's sampling policy (policy.ts). Kept traces go to the export router as concatenated runs of
// resource_spans (a valid batch: DESIGN.md decision 1). Decisions are remembered (lru-cache), so spans
// arriving after the decision follow it.
//
// Bounded by traces and by bytes: when either bound is exceeded, the oldest traces are decided early by
// the same policies, never dropped unseen; every early decision is counted by reason
// (sampling_early_decisions_total), as is every span kept or dropped (sampling_spans_total).
// Incident mode (deps.incidents): while a tenant, or the fleet, is in incident, its traces are kept
// whole and forwarded at once; when an incident starts, every trace of its scope already buffered is
// decided keep.
//
// Memory: a buffered fragment is (request body, offset, length), no copy: the body stays alive while any
// of its traces is buffered, and maxBytes counts the bodies kept alive (what the memory really holds), not
// just the fragments. Bodies are released in about the order they arrived (traces are decided oldest
// first), so evicting the oldest traces frees the oldest bodies. Copying each fragment out instead costs
// an ArrayBuffer per (trace, request): more CPU and, measured, several hundred bytes more per trace.
import { LRUCache } from 'lru-cache';
import type { SamplingConfig } from '../config/sections/sampling.js';
import type { Outcome } from '../errors.js';
import { FLEET, type IncidentState } from '../incident/types.js';
import type { TraceSummary } from '../process/protocol.js';
import { splitByTrace } from '../process/worker/split-traces.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { evaluate, type CompiledSampling, type TraceFacts } from './policy.js';

export interface SamplerClock {
  now(): number;
  /** Runs fn after ms; must not keep the process alive on its own. */
  setTimer(fn: () => void, ms: number): { cancel(): void };
}

export const systemSamplerClock: SamplerClock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

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
}

export type EarlyReason = 'max_traces' | 'max_bytes' | 'incident' | 'shutdown';

export interface TailSampler {
  /**
   * Takes one processed traces request of `tenant` (after close(): forwarded whole, reason shutdown): `body` laid out by trace (TraceSummary offset/length;
   * without them the body is split here) and its per-trace summaries. Never blocks and never refuses:
   * the bounds are kept by deciding old traces early.
   */
  offer(tenant: string, body: Uint8Array, traces: readonly TraceSummary[]): void;
  /** Decides every buffered trace now (reason: shutdown) and emits the kept ones. Idempotent. */
  drain(): void;
  /** Stops the timer and the incident subscription (drain first to keep what is buffered). */
  close(): void;
  stats(): { traces: number; bytes: number; decisionsCached: number };
}

/** A request body that buffered fragments point into; its bytes count while refs > 0. */
interface Chunk {
  body: Uint8Array;
  refs: number;
}

/** A fragment beyond a trace's first: a range of a chunk and its span count. */
interface Fragment {
  chunk: Chunk;
  offset: number;
  length: number;
  spans: number;
}

/** One buffered trace; an intrusive doubly linked list keeps them in arrival order (oldest first). */
interface Trace {
  tenant: string;
  traceId: string;
  /** The first fragment, inline (most traces have one per decision): chunk, offset, length, spans. */
  chunk: Chunk;
  offset: number;
  length: number;
  firstSpans: number;
  /** Fragments from later requests. */
  more: Fragment[] | null;
  spans: number;
  error: boolean;
  root: boolean;
  /** Earliest start and latest end over the spans seen, ns (0 = some span had no time). */
  startNs: number;
  endNs: number;
  /** When the first span arrived, and when the trace is due (first + wait, or root + grace). */
  firstAt: number;
  dueAt: number;
  prev: Trace | null;
  next: Trace | null;
  decided: boolean;
}

interface EmitGroup {
  parts: Uint8Array[];
  bytes: number;
  items: number;
}

const EMPTY = new Uint8Array(0);
const NO_CHUNK: Chunk = { body: EMPTY, refs: 1 };

/** One emit is at most this large (the exporters' default batch is 4 MiB; they pass big items through whole). */
const MAX_EMIT_BYTES = 2 * 1024 * 1024;

export function createSampler(config: SamplerConfig, deps: SamplerDeps): TailSampler {
  const clock = deps.clock ?? systemSamplerClock;
  const tickMs = deps.tickMs ?? 50;
  const metrics = deps.metrics;
  const label = deps.tenantLabel ?? ((t: string) => t);
  const incidents = deps.incidents;
  const { decisionWaitMs, rootGraceMs, maxTraces, maxBytes } = config;

  /** tenant → trace id → buffered trace. Two levels: a tenant name may hold any character, so no joined key. */
  const buffered = new Map<string, Map<string, Trace>>();
  let oldest: Trace | null = null;
  let newest: Trace | null = null;
  let traceCount = 0;
  let byteCount = 0;
  /** Traces whose root arrived, in the order they became due (rootGrace is constant). */
  let rootQueue: Trace[] = [];
  let rootHead = 0;

  const cache = config.decisionCacheSize > 0 ? new LRUCache<string, boolean>({ max: config.decisionCacheSize }) : undefined;
  /** Rate-limit buckets per (tenant, rule): tokens and the time they were counted. */
  const buckets = new LRUCache<string, { tokens: number; at: number }>({ max: 10_000 });

  // Counts aggregated between flushes: prom-client label lookups cost more than the decisions.
  const decisionCounts = new Map<string, number>();
  const spanCounts = new Map<string, { tenant: string; decision: string; n: number }>();
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
    for (const [tenant, traces] of [...buffered]) {
      if (scope !== FLEET && tenant !== scope) continue;
      for (const trace of [...traces.values()]) decide(trace, 'incident', true);
    }
    flush();
  });

  const cacheKey = (tenant: string, traceId: string): string => `${tenant}\u0000${traceId}`;

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

  function unlink(t: Trace): void {
    if (t.prev) t.prev.next = t.next;
    else oldest = t.next;
    if (t.next) t.next.prev = t.prev;
    else newest = t.prev;
    t.prev = t.next = null;
  }

  function countSpans(tenant: string, keep: boolean, n: number): void {
    const decision = keep ? 'keep' : 'drop';
    const key = `${decision}\u0000${tenant}`;
    const c = spanCounts.get(key);
    if (c) c.n += n;
    else spanCounts.set(key, { tenant, decision, n });
  }

  function addEmit(tenant: string, part: Uint8Array, items: number): void {
    let g = emits.get(tenant);
    if (!g) {
      g = { parts: [], bytes: 0, items: 0 };
      emits.set(tenant, g);
    }
    if (g.bytes > 0 && g.bytes + part.length > MAX_EMIT_BYTES) {
      emitGroup(tenant, g);
      g.parts = [];
      g.bytes = 0;
      g.items = 0;
    }
    g.parts.push(part);
    g.bytes += part.length;
    g.items += items;
  }

  function emitGroup(tenant: string, g: EmitGroup): void {
    let body: Uint8Array;
    if (g.parts.length === 1) body = g.parts[0]!;
    else {
      // Every byte is written below: no zero-fill (allocUnsafeSlow: an ArrayBuffer of its own, never Node's pool).
      body = Buffer.allocUnsafeSlow(g.bytes);
      let at = 0;
      for (const p of g.parts) {
        body.set(p, at);
        at += p.length;
      }
    }
    const outcome = deps.emit(tenant, body, g.items);
    if (outcome.status !== 'ok') exportRefused += g.items;
  }

  function release(c: Chunk): void {
    if (--c.refs === 0) {
      byteCount -= c.body.length;
      c.body = EMPTY;
    }
  }

  /** Decides one buffered trace; kept fragments join the pending emits (flush() sends them). */
  function decide(t: Trace, early: EarlyReason | undefined, forceKeep = false): void {
    if (t.decided) return;
    t.decided = true;
    unlink(t);
    const perTenant = buffered.get(t.tenant);
    perTenant?.delete(t.traceId);
    if (perTenant && perTenant.size === 0) buffered.delete(t.tenant);
    traceCount--;
    const parts: Uint8Array[] = [t.chunk.body.subarray(t.offset, t.offset + t.length)];
    release(t.chunk);
    if (t.more) {
      for (const f of t.more) {
        parts.push(f.chunk.body.subarray(f.offset, f.offset + f.length));
        release(f.chunk);
      }
    }

    let keep: boolean;
    let reason: string;
    if (forceKeep || incidents?.isActive(t.tenant)) {
      keep = true;
      reason = 'incident';
    } else {
      const facts: TraceFacts = {
        traceId: t.traceId,
        spans: t.spans,
        error: t.error,
        durationNs: t.startNs > 0 && t.endNs > t.startNs ? t.endNs - t.startNs : 0,
        parts,
      };
      const d = evaluate(deps.policy().forTenant(t.tenant), facts, t.tenant, rateGate);
      keep = d.keep;
      reason = d.reason;
    }
    if (early) earlyCounts.set(early, (earlyCounts.get(early) ?? 0) + 1);
    const dKey = `${keep ? 'keep' : 'drop'}\u0000${reason}`;
    decisionCounts.set(dKey, (decisionCounts.get(dKey) ?? 0) + 1);
    countSpans(t.tenant, keep, t.spans);
    cache?.set(cacheKey(t.tenant, t.traceId), keep);
    if (keep) {
      addEmit(t.tenant, parts[0]!, t.firstSpans);
      if (t.more) for (let i = 0; i < t.more.length; i++) addEmit(t.tenant, parts[i + 1]!, t.more[i]!.spans);
    }
    t.chunk = NO_CHUNK;
    t.more = null;
  }

  /** Sends the pending emits and the aggregated counts. */
  function flush(): void {
    for (const [tenant, g] of emits) if (g.bytes > 0) emitGroup(tenant, g);
    emits.clear();
    if (!metrics) {
      decisionCounts.clear();
      spanCounts.clear();
      earlyCounts.clear();
      lateKept = lateDropped = exportRefused = 0;
      return;
    }
    for (const [key, n] of decisionCounts) {
      const sep = key.indexOf('\u0000');
      metrics.samplingDecisions.inc({ decision: key.slice(0, sep), reason: key.slice(sep + 1) }, n);
    }
    decisionCounts.clear();
    for (const c of spanCounts.values()) metrics.samplingSpans.inc({ tenant: label(c.tenant), decision: c.decision }, c.n);
    spanCounts.clear();
    for (const [reason, n] of earlyCounts) metrics.samplingEarlyDecisions.inc({ reason }, n);
    earlyCounts.clear();
    if (lateKept > 0) metrics.samplingLateSpans.inc({ decision: 'keep' }, lateKept);
    if (lateDropped > 0) metrics.samplingLateSpans.inc({ decision: 'drop' }, lateDropped);
    if (exportRefused > 0) metrics.samplingDroppedSpans.inc({ reason: 'export_refused' }, exportRefused);
    lateKept = lateDropped = exportRefused = 0;
  }

  /** Decides what is due at `now`: the oldest traces past decisionWait, and roots past their grace. */
  function decideDue(now: number): void {
    while (oldest !== null && oldest.firstAt + decisionWaitMs <= now) decide(oldest, undefined);
    while (rootHead < rootQueue.length) {
      const t = rootQueue[rootHead]!;
      if (!t.decided && t.dueAt > now) break;
      rootHead++;
      if (!t.decided) decide(t, undefined);
    }
    if (rootHead > 1024 && rootHead * 2 > rootQueue.length) {
      rootQueue = rootQueue.slice(rootHead);
      rootHead = 0;
    }
  }

  function nextDue(): number {
    let due = oldest !== null ? oldest.firstAt + decisionWaitMs : Infinity;
    while (rootHead < rootQueue.length && rootQueue[rootHead]!.decided) rootHead++;
    if (rootHead < rootQueue.length) due = Math.min(due, rootQueue[rootHead]!.dueAt);
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
    const at = Math.max(due, clock.now() + tickMs);
    if (timer && timerAt <= at) return;
    timer?.cancel();
    timerAt = at;
    timer = clock.setTimer(onTimer, at - clock.now());
  }

  function enforceBounds(): void {
    while (oldest !== null && (traceCount > maxTraces || byteCount > maxBytes)) {
      decide(oldest, traceCount > maxTraces ? 'max_traces' : 'max_bytes');
    }
  }

  return {
    offer(tenant, body, traces) {
      if (traces.length === 0) return;
      if (closed) {
        // After shutdown's drain: nothing may wait any more; kept whole rather than lost unseen.
        let items = 0;
        for (const x of traces) {
          items += x.spans;
          countSpans(tenant, true, x.spans);
        }
        const key = 'keep\u0000shutdown';
        decisionCounts.set(key, (decisionCounts.get(key) ?? 0) + traces.length);
        addEmit(tenant, body, items);
        flush();
        return;
      }
      if (traces.length === 1 && traces[0]!.offset === undefined) {
        traces[0]!.offset = 0;
        traces[0]!.length = body.length;
      } else if (traces[0]!.offset === undefined) {
        // The worker did not split (a task without splitTraces): do it here, on the main thread.
        body = splitByTrace(body, traces as TraceSummary[]);
      }
      const now = clock.now();
      const inIncident = incidents?.isActive(tenant) === true;
      let perTenant = buffered.get(tenant);
      /** Spans forwarded at once (incident, or late spans of kept traces), and the spans in each part. */
      let passParts: Uint8Array[] | undefined;
      let passSpans: number[] | undefined;
      let passItems = 0;
      const whole = traces.length === 1;
      /** This request's body, once a fragment of it is buffered. */
      let chunk: Chunk | undefined;

      for (const s of traces) {
        const start = s.offset!;
        const end = start + s.length!;
        const existing = perTenant?.get(s.traceId);
        if (inIncident) {
          if (existing) decide(existing, 'incident', true);
          cache?.set(cacheKey(tenant, s.traceId), true);
          countSpans(tenant, true, s.spans);
          (passParts ??= []).push(whole ? body : body.subarray(start, end));
          (passSpans ??= []).push(s.spans);
          passItems += s.spans;
          continue;
        }
        if (existing) {
          chunk ??= { body, refs: 0 };
          chunk.refs++;
          (existing.more ??= []).push({ chunk, offset: start, length: end - start, spans: s.spans });
          existing.spans += s.spans;
          if (s.error) existing.error = true;
          mergeTimes(existing, s);
          if (s.root && !existing.root) onRoot(existing, now);
          continue;
        }
        const cached = cache?.get(cacheKey(tenant, s.traceId));
        if (cached !== undefined) {
          countSpans(tenant, cached, s.spans);
          if (cached) {
            lateKept += s.spans;
            (passParts ??= []).push(whole ? body : body.subarray(start, end));
            (passSpans ??= []).push(s.spans);
            passItems += s.spans;
          } else lateDropped += s.spans;
          continue;
        }
        chunk ??= { body, refs: 0 };
        chunk.refs++;
        const t: Trace = {
          tenant,
          traceId: s.traceId,
          chunk,
          offset: start,
          length: end - start,
          firstSpans: s.spans,
          more: null,
          spans: s.spans,
          error: s.error,
          root: false,
          startNs: Number(s.startNs),
          endNs: Number(s.endNs),
          firstAt: now,
          dueAt: now + decisionWaitMs,
          prev: newest,
          next: null,
          decided: false,
        };
        if (newest) newest.next = t;
        else oldest = t;
        newest = t;
        if (!perTenant) {
          perTenant = new Map();
          buffered.set(tenant, perTenant);
        }
        perTenant.set(s.traceId, t);
        traceCount++;
        if (s.root) onRoot(t, now);
      }
      if (chunk) byteCount += body.length;

      if (passParts) {
        // Every trace of the request is forwarded: the body itself, one part.
        if (passParts.length === traces.length && !whole) addEmit(tenant, body, passItems);
        else for (let i = 0; i < passParts.length; i++) addEmit(tenant, passParts[i]!, passSpans![i]!);
      }
      if (traceCount > maxTraces || byteCount > maxBytes) enforceBounds();
      flush();
      arm();
    },

    drain() {
      while (oldest !== null) decide(oldest, 'shutdown');
      rootQueue = [];
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

    stats: () => ({ traces: traceCount, bytes: byteCount, decisionsCached: cache?.size ?? 0 }),
  };

  function mergeTimes(t: Trace, s: TraceSummary): void {
    const start = Number(s.startNs);
    const end = Number(s.endNs);
    if (t.startNs === 0 || start === 0) t.startNs = 0;
    else if (start < t.startNs) t.startNs = start;
    if (end > t.endNs) t.endNs = end;
  }

  function onRoot(t: Trace, now: number): void {
    t.root = true;
    const due = now + rootGraceMs;
    if (due < t.dueAt) {
      t.dueAt = due;
      rootQueue.push(t);
    }
  }
}
