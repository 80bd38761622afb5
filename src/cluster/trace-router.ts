// Trace-affine routing (DESIGN.md decision 11; docs/guides/cluster.md "Trace-affine routing"). With
// sampling on and a cluster configured, each trace id has one owner among the live replicas
// (rendezvous.ts); this stage sits in front of the tail sampler: the traces this replica owns go to its
// sampler, the others are forwarded to their owners, which offer them to their samplers as if received
// locally. So the spans of one trace, wherever the load balancer sent them, meet in one sampler and get
// one decision.
//
// Bytes: the worker already located every trace in the processed body (ProcessOk.traceLayout); each
// owner's share is written as the traces' runs (process/wire/write-traces.ts writeTrace: verbatim copies,
// two new length prefixes per run) and sent behind a small index (forward-wire.ts). No span is decoded or
// re-encoded. The owner does not re-run the policies: forwarded spans already passed the sender's
// redaction and allowlists (the same policy files fleet-wide), were stamped with their tenant, teed and
// charged to the tenant's quota there; running them again would redact nothing new, double the policy
// metrics and cost the owner a walk per span.
//
// Calls: per peer, at most MAX_CALLS_PER_PEER forward calls are in flight. A share for a peer whose
// calls are all in flight joins the next batch for that peer and tenant (natural batching: no linger
// delay; when the peer keeps up, every share goes out at once), so under load many requests' traces
// travel in one call and the per-call costs (stream, headers, timers, promises, frames) are paid once.
// The runs are written straight into the batch's buffer, taken from a small pool and given back when the
// call is answered (allocating a fresh buffer per forward made the garbage collector run a full mark
// every few tens of ms: buffers are memory outside the heap that V8 counts towards its GC triggers).
//
// Failures: a forward that fails (peer down, refused, timed out) or cannot start (the in-flight byte
// budget is spent) is decided here instead: its runs go to the local sampler, counted in
// cluster_forward_failures_total{reason} (once per call) and cluster_forward_fallback_spans_total (every
// span of every request in the call). Nothing is dropped: at worst a trace gets two decisions (the
// owner's and this one), exactly as without a cluster. A forward that timed out may still have reached
// the owner: its spans can then be exported twice (at-least-once, DESIGN.md decision 7), never lost.
// Bounds: forwards waiting or in flight hold at most maxInflightBytes; a batch holds at most
// BATCH_BYTES (and the owner's maxMessageBytes) unless one request's share alone is larger; each share
// waits at most timeoutMs, and never past its client's deadline, whether its batch is still waiting for
// a call or in flight (then it is decided here); and offer()'s promise lets the gateway answer the client
// only once the request's forwards have their answers, so the clients' requests in flight bound the
// forwards as well (without it, a busy owner let forwards pile up until they timed out).
// Not forwarded: traces of a tenant in incident mode (kept whole wherever they are), spans without a trace
// id (no owner to agree on), and anything while only this replica is live.
import type { IncidentState } from '../incident/types.js';
import type { TraceSummary } from '../process/protocol.js';
import { traceSize } from '../process/wire/trace-layout.js';
import { writeTrace } from '../process/wire/write-traces.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { ENTRY_BYTES, indexSize, writeIndex } from './forward-wire.js';
import { createRendezvous, traceHashHex, type Rendezvous } from './rendezvous.js';

/** What routing needs of the membership (src/cluster/membership.ts Membership). */
export interface LiveMembers {
  readonly self: string;
  /** Live member ids (this replica included or not: it is added). */
  live(): readonly string[];
  onChange(listener: (live: readonly string[]) => void): () => void;
}

/** The tail sampler's offer (src/sample/sampler.ts TailSampler.offer). */
export type LocalOffer = (tenant: string, body: Uint8Array, traces: readonly TraceSummary[], layout?: Int32Array | null, owned?: boolean) => void;

export type ForwardFailure = 'unavailable' | 'timeout' | 'refused';
export type ForwardResult = { status: 'ok' } | { status: 'failed'; reason: ForwardFailure; message?: string };

/**
 * Sends one forward message (forward-wire.ts) of `tenant` to peer `peer`, given as its pieces in order
 * (the index, then the runs: written out without being joined); never rejects. The pieces are not
 * touched once the promise settled with 'ok' or 'refused' (the call is over).
 */
export type ForwardSend = (peer: string, tenant: string, message: readonly Uint8Array[], timeoutMs: number) => Promise<ForwardResult>;

export interface RoutingConfig {
  /** Forwards wait this long for the owner's answer before the traces are decided locally. */
  timeoutMs: number;
  /** Bytes of forwards waiting or in flight at once; beyond it traces are decided locally (counted). */
  maxInflightBytes: number;
  /** The largest message an owner takes (its cluster.maxBodyBytes): batches stay below it. */
  maxMessageBytes?: number;
}

export const DEFAULT_ROUTING: RoutingConfig = { timeoutMs: 2_000, maxInflightBytes: 64 * 1024 * 1024 };

/** Forward calls in flight per peer; what arrives meanwhile waits for the next call. */
export const MAX_CALLS_PER_PEER = 2;
/** A batch's buffer (pooled); a request's share larger than this travels in a buffer of its own. */
export const BATCH_BYTES = 1024 * 1024;
/** Free batch buffers kept for reuse (per router). */
const POOL_SIZE = 8;

export type RoutingMetrics = Pick<
  GatewayMetrics,
  'clusterRoutedSpans' | 'clusterForwardedSpans' | 'clusterForwardFailures' | 'clusterForwardFallbackSpans' | 'clusterForwardInflightBytes'
>;

export interface TraceRouterDeps {
  membership: LiveMembers;
  /** The local tail sampler. */
  local: LocalOffer;
  send: ForwardSend;
  incidents?: Pick<IncidentState, 'isActive'>;
  metrics?: RoutingMetrics;
  logger?: Logger;
}

export interface TraceRouter {
  /**
   * TailSampler.offer's arguments: routes each trace to its owner (this replica's sampler or a peer).
   * Resolves once every forward of the request has its answer (or was decided here after failing):
   * the gateway answers the client then, so a client's in-flight requests bound the forwards too.
   * Undefined when nothing was forwarded. Never rejects.
   */
  offer(tenant: string, body: Uint8Array, traces: readonly TraceSummary[], layout?: Int32Array | null, owned?: boolean, deadlineAt?: number): Promise<void> | undefined;
  /** Forward calls in flight, and the bytes of forwards waiting or in flight. */
  stats(): { inflight: number; inflightBytes: number };
  /** Stops forwarding (later offers stay local) and waits for the forwards waiting or in flight (each bounded by timeoutMs). */
  stop(): Promise<void>;
}

/** Traces of one tenant for one peer, sent in one call: their runs one after the other in `buf`. */
interface Batch {
  tenant: string;
  buf: Buffer;
  pooled: boolean;
  /** Bytes of runs written. */
  bytes: number;
  /** One summary per run, offset/length into buf. */
  traces: TraceSummary[];
  spans: number;
  /** Bytes charged to maxInflightBytes. */
  held: number;
  /** The earliest deadline of its requests' forwards. */
  deadlineAt: number;
  /** Called once the batch has its answer (or was decided here): one per request share. */
  waiters: Array<() => void>;
}

interface Lane {
  peer: string;
  /** Batches not yet sent, oldest first. */
  waiting: Batch[];
  calls: number;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

export function createTraceRouter(config: RoutingConfig, deps: TraceRouterDeps): TraceRouter {
  const { membership, local, send, incidents, metrics, logger } = deps;
  const self = membership.self;
  const maxMessageBytes = config.maxMessageBytes ?? Infinity;
  const batchBytes = Math.min(BATCH_BYTES, maxMessageBytes);
  let ring: Rendezvous | undefined;
  let selfIndex = 0;
  function rebuild(live: readonly string[]): void {
    ring = createRendezvous([...live, self]);
    selfIndex = ring.members.indexOf(self);
  }
  rebuild(membership.live());
  const unsubscribe = membership.onChange((live) => rebuild(live));

  let stopped = false;
  let inflightBytes = 0;
  let calls = 0;
  /** Batches waiting or in flight; stop() waits for none. */
  let open = 0;
  let drained: Array<() => void> = [];
  const lanes = new Map<string, Lane>();
  const pool: Buffer[] = [];
  // Owner index per trace of the request being routed (reused: routing is synchronous).
  let ownerOf = new Int32Array(256);
  // Spans routed per route, aggregated (a prom-client inc per request, not per trace).
  let routedLocal = 0;
  let routedRemote = 0;

  function countRouted(): void {
    if (!metrics) return;
    if (routedLocal > 0) metrics.clusterRoutedSpans.inc({ route: 'local' }, routedLocal);
    if (routedRemote > 0) metrics.clusterRoutedSpans.inc({ route: 'forwarded' }, routedRemote);
    routedLocal = routedRemote = 0;
  }

  function setInflight(delta: number): void {
    inflightBytes += delta;
    metrics?.clusterForwardInflightBytes.set(inflightBytes);
  }

  /** The run of trace t: [start, end) of the body (no layout), or to be written from the layout. */
  function runSize(body: Uint8Array, traces: readonly TraceSummary[], layout: Int32Array | null | undefined, t: number): number {
    if (layout) return traceSize(layout, t);
    if (traces.length === 1) return body.length;
    return traces[t]!.length!;
  }

  function writeRun(body: Uint8Array, traces: readonly TraceSummary[], layout: Int32Array | null | undefined, t: number, out: Buffer, at: number): number {
    if (layout) return writeTrace(body, layout, t, out, at);
    if (traces.length === 1) {
      out.set(body, at);
      return at + body.length;
    }
    const s = traces[t]!;
    out.set(body.subarray(s.offset!, s.offset! + s.length!), at);
    return at + s.length!;
  }

  /**
   * Writes the runs of the picked traces into out from `at` on, one after the other. Sets each picked
   * summary's offset/length to its run in out (summaries are this request's own objects,
   * trace-groups.ts summariesOf: set in place) and appends it to `into`.
   */
  function writeRuns(body: Uint8Array, traces: readonly TraceSummary[], layout: Int32Array | null | undefined, picks: number[], out: Buffer, at: number, into: TraceSummary[]): number {
    for (const t of picks) {
      const start = at;
      at = writeRun(body, traces, layout, t, out, at);
      const s = traces[t]!;
      s.offset = start;
      s.length = at - start;
      into.push(s);
    }
    return at;
  }

  /** The runs of the picked traces in a buffer of their own (what the local sampler takes and may free). */
  function ownRuns(body: Uint8Array, traces: readonly TraceSummary[], layout: Int32Array | null | undefined, picks: number[], size: number): { runs: Buffer; picked: TraceSummary[] } {
    // Every byte is written (no zero-fill); an ArrayBuffer of its own (the sampler may detach it).
    const runs = Buffer.allocUnsafeSlow(size);
    const picked: TraceSummary[] = [];
    const end = writeRuns(body, traces, layout, picks, runs, 0, picked);
    if (end !== size) throw new Error(`trace router: wrote ${end} bytes, sized ${size}`);
    return { runs, picked };
  }

  function laneOf(peer: string): Lane {
    let lane = lanes.get(peer);
    if (!lane) {
      lane = { peer, waiting: [], calls: 0, timer: undefined, timerAt: 0 };
      lanes.set(peer, lane);
    }
    return lane;
  }

  /** A waiting batch of `tenant` on the lane with room for `size` more bytes and `n` more traces, or a new one. */
  function batchFor(lane: Lane, tenant: string, size: number, n: number): Batch {
    for (const b of lane.waiting) {
      if (b.tenant === tenant && b.bytes + size <= b.buf.length && b.bytes + size + indexSize(b.traces.length + n) <= maxMessageBytes) return b;
    }
    const pooled = size <= batchBytes;
    const buf = pooled ? (pool.pop() ?? Buffer.allocUnsafeSlow(batchBytes)) : Buffer.allocUnsafeSlow(size);
    const b: Batch = { tenant, buf, pooled, bytes: 0, traces: [], spans: 0, held: 0, deadlineAt: Infinity, waiters: [] };
    lane.waiting.push(b);
    open++;
    return b;
  }

  /** Sends the lane's waiting batches while it has calls to spare; arms the deadline timer for the others. */
  function pump(lane: Lane, now = Date.now()): void {
    while (lane.calls < MAX_CALLS_PER_PEER && lane.waiting.length > 0) call(lane, lane.waiting.shift()!, now);
    armDeadline(lane);
  }

  function armDeadline(lane: Lane): void {
    let first = Infinity;
    for (const b of lane.waiting) first = Math.min(first, b.deadlineAt);
    if (first === lane.timerAt && lane.timer) return;
    if (lane.timer) clearTimeout(lane.timer);
    lane.timer = undefined;
    lane.timerAt = first;
    if (first === Infinity) return;
    lane.timer = setTimeout(() => expire(lane), Math.max(1, first - Date.now()));
  }

  /** Waiting batches past their deadline are decided here (their calls could not start in time). */
  function expire(lane: Lane): void {
    lane.timer = undefined;
    const now = Date.now();
    const late = lane.waiting.filter((b) => b.deadlineAt <= now);
    lane.waiting = lane.waiting.filter((b) => b.deadlineAt > now);
    lane.timerAt = 0;
    for (const b of late) settle(lane, b, { status: 'failed', reason: 'timeout', message: 'no call to the owner could start before the deadline' }, true);
    armDeadline(lane);
  }

  function call(lane: Lane, b: Batch, now: number): void {
    const timeoutMs = b.deadlineAt - now;
    if (timeoutMs < 1) {
      settle(lane, b, { status: 'failed', reason: 'timeout', message: 'the deadline passed before the call started' }, true);
      return;
    }
    const index = Buffer.allocUnsafe(indexSize(b.traces.length));
    writeIndex(index, b.traces);
    lane.calls++;
    calls++;
    send(lane.peer, b.tenant, [index, b.buf.subarray(0, b.bytes)], timeoutMs).then(
      (r) => r,
      (err: unknown): ForwardResult => ({ status: 'failed', reason: 'unavailable', message: (err as Error)?.message }),
    ).then((r) => {
      lane.calls--;
      calls--;
      // The call is over when answered (ok or refused): its buffer can be reused. After a timeout or a
      // broken stream, a write may still hold it: left to the garbage collector.
      settle(lane, b, r, r.status === 'ok' || r.reason === 'refused');
      pump(lane);
      // An idle lane is dropped (peers come and go with membership); the next share makes a new one.
      if (lane.calls === 0 && lane.waiting.length === 0 && lanes.get(lane.peer) === lane) lanes.delete(lane.peer);
    });
  }

  /** Counts and answers a batch: forwarded, or decided here (a copy of its runs to the local sampler). */
  function settle(lane: Lane, b: Batch, r: ForwardResult, reusable: boolean): void {
    setInflight(-b.held);
    if (r.status === 'ok') metrics?.clusterForwardedSpans.inc(b.spans);
    else {
      const runs = Buffer.allocUnsafeSlow(b.bytes);
      b.buf.copy(runs, 0, 0, b.bytes);
      fallback(b.tenant, runs, b.traces, b.spans, r.reason, lane.peer, r.message);
    }
    if (reusable && b.pooled && pool.length < POOL_SIZE) pool.push(b.buf);
    for (const w of b.waiters) w();
    if (--open === 0) {
      const waiting = drained;
      drained = [];
      for (const w of waiting) w();
    }
  }

  function fallback(tenant: string, runs: Uint8Array, picked: TraceSummary[], spans: number, reason: ForwardFailure | 'budget', peer: string, message?: string): void {
    metrics?.clusterForwardFailures.inc({ reason });
    metrics?.clusterForwardFallbackSpans.inc({ reason }, spans);
    logger?.warn({ peer, reason, spans, traces: picked.length, ...(message !== undefined && { err: message }) }, 'forward to the trace owner failed: deciding its traces here');
    // The runs are a body laid out by trace (each summary's offset/length): the sampler takes them as they are.
    local(tenant, runs, picked, null, true);
  }

  return {
    offer(tenant, body, traces, layout, owned, deadlineAt) {
      const members = ring!.members.length;
      if (stopped || members === 1 || traces.length === 0 || incidents?.isActive(tenant) === true) {
        local(tenant, body, traces, layout, owned);
        return undefined;
      }
      const r = ring!;
      const n = traces.length;
      if (ownerOf.length < n) ownerOf = new Int32Array(Math.max(n, ownerOf.length * 2));
      let remote = 0;
      for (let t = 0; t < n; t++) {
        const id = traces[t]!.traceId;
        const o = id.length === 32 ? r.ownerIndex(traceHashHex(id)) : selfIndex;
        ownerOf[t] = o;
        if (o !== selfIndex) remote += traces[t]!.spans;
        else routedLocal += traces[t]!.spans;
      }
      routedRemote += remote;
      countRouted();
      if (remote === 0) {
        local(tenant, body, traces, layout, owned);
        return undefined;
      }
      // Picks per owner (a handful of members: a small array of lists).
      const picks: number[][] = Array.from({ length: members }, () => []);
      for (let t = 0; t < n; t++) picks[ownerOf[t]!]!.push(t);
      // Within the client's deadline too: past it, the traces are decided here and the client is answered.
      const now = Date.now();
      const due = deadlineAt === undefined ? now + config.timeoutMs : Math.max(now + 1, Math.min(now + config.timeoutMs, deadlineAt));
      // One promise per request, resolved when its last share has its answer.
      let shares = 0;
      let resolve!: () => void;
      const done = new Promise<void>((res) => (resolve = res));
      const answered = (): void => {
        if (--shares === 0) resolve();
      };
      const touched: Lane[] = [];
      for (let o = 0; o < members; o++) {
        const mine = picks[o]!;
        if (o === selfIndex || mine.length === 0) continue;
        let size = 0;
        let spans = 0;
        for (const t of mine) {
          size += runSize(body, traces, layout, t);
          spans += traces[t]!.spans;
        }
        const held = size + mine.length * ENTRY_BYTES;
        const peer = r.members[o]!;
        if (inflightBytes + held > config.maxInflightBytes) {
          const { runs, picked } = ownRuns(body, traces, layout, mine, size);
          fallback(tenant, runs, picked, spans, 'budget', peer);
          continue;
        }
        const lane = laneOf(peer);
        const b = batchFor(lane, tenant, size, mine.length);
        const end = writeRuns(body, traces, layout, mine, b.buf, b.bytes, b.traces);
        if (end !== b.bytes + size) throw new Error(`trace router: wrote ${end - b.bytes} bytes, sized ${size}`);
        b.bytes = end;
        b.spans += spans;
        b.held += held;
        b.deadlineAt = Math.min(b.deadlineAt, due);
        b.waiters.push(answered);
        setInflight(held);
        shares++;
        touched.push(lane);
      }
      for (const lane of touched) pump(lane, now);
      const own = picks[selfIndex]!;
      if (own.length > 0) {
        // Only this replica's traces stay: written out as their runs, so that the sampler holds (and its
        // maxBytes counts) them alone, not the whole request.
        let size = 0;
        for (const t of own) size += runSize(body, traces, layout, t);
        const { runs, picked } = ownRuns(body, traces, layout, own, size);
        local(tenant, runs, picked, null, true);
      }
      return touched.length === 0 ? undefined : done;
    },
    stats: () => ({ inflight: calls, inflightBytes }),
    async stop() {
      stopped = true;
      unsubscribe();
      if (open > 0) await new Promise<void>((resolve) => drained.push(resolve));
    },
  };
}
