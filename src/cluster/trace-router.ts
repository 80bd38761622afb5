// Trace-affine routing (DESIGN.md decision 11; docs/guides/cluster.md "Trace-affine routing"). With
// sampling on and a cluster configured, each trace id has one owner among the live replicas
// (rendezvous.ts); this stage sits in front of the tail sampler: the traces this replica owns go to its
// sampler, the others are forwarded to their owners, which offer them to their samplers as if received
// locally. So the spans of one trace, wherever the load balancer sent them, meet in one sampler and get
// one decision.
//
// Bytes: the worker already located every trace in the processed body (ProcessOk.traceLayout); each
// owner's share is written as the traces' runs (process/wire/write-traces.ts writeTrace: verbatim copies, two new
// length prefixes per run) behind a small index (forward-wire.ts). No span is decoded or re-encoded.
// The owner does not re-run the policies: forwarded spans already passed the sender's redaction and
// allowlists (the same policy files fleet-wide), were stamped with their tenant, teed and charged to the
// tenant's quota there; running them again would redact nothing new, double the policy metrics and cost
// the owner a walk per span.
//
// Failures: a forward that fails (peer down, refused, timed out) or cannot start (the in-flight byte
// budget is spent) is decided here instead: its runs go to the local sampler, counted in
// cluster_forward_failures_total{reason} and cluster_forward_fallback_spans_total. Nothing is dropped:
// at worst a trace gets two decisions (the owner's and this one), exactly as without a cluster. A
// forward that timed out may still have reached the owner: its spans can then be exported twice
// (at-least-once, DESIGN.md decision 7), never lost.
// Bounds: forwards in flight hold at most maxInflightBytes; each waits at most timeoutMs; and offer()'s
// promise lets the gateway answer the client only once the request's forwards have their answers, so
// the clients' requests in flight bound the forwards as well (without it, a busy owner let forwards
// pile up until they timed out).
// Not forwarded: traces of a tenant in incident mode (kept whole wherever they are), spans without a trace
// id (no owner to agree on), and anything while only this replica is live.
import type { IncidentState } from '../incident/types.js';
import type { TraceSummary } from '../process/protocol.js';
import { traceSize } from '../process/wire/trace-layout.js';
import { writeTrace } from '../process/wire/write-traces.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { indexSize, writeIndex } from './forward-wire.js';
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

/** Sends one forward message (forward-wire.ts) of `tenant` to peer `peer`; never rejects. */
export type ForwardSend = (peer: string, tenant: string, message: Uint8Array, timeoutMs: number) => Promise<ForwardResult>;

export interface RoutingConfig {
  /** Forwards wait this long for the owner's answer before the traces are decided locally. */
  timeoutMs: number;
  /** Bytes of forwards in flight at once; beyond it traces are decided locally (counted). */
  maxInflightBytes: number;
}

export const DEFAULT_ROUTING: RoutingConfig = { timeoutMs: 2_000, maxInflightBytes: 64 * 1024 * 1024 };

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
  /** Forwards in flight: count and bytes. */
  stats(): { inflight: number; inflightBytes: number };
  /** Stops forwarding (later offers stay local) and waits for the forwards in flight (each bounded by timeoutMs). */
  stop(): Promise<void>;
}

export function createTraceRouter(config: RoutingConfig, deps: TraceRouterDeps): TraceRouter {
  const { membership, local, send, incidents, metrics, logger } = deps;
  const self = membership.self;
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
  const inflight = new Set<Promise<void>>();
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
   * Writes the picked traces as one message: with `index`, the forward message (index, then runs);
   * without, the runs only. Sets each picked summary's offset/length to its run (relative to the runs).
   */
  function build(body: Uint8Array, traces: readonly TraceSummary[], layout: Int32Array | null | undefined, picks: number[], withIndex: boolean): { message: Buffer; runsAt: number; picked: TraceSummary[]; spans: number } {
    const lengths = new Int32Array(picks.length);
    let runs = 0;
    let spans = 0;
    for (let i = 0; i < picks.length; i++) {
      lengths[i] = runSize(body, traces, layout, picks[i]!);
      runs += lengths[i]!;
      spans += traces[picks[i]!]!.spans;
    }
    const picked = picks.map((t) => traces[t]!);
    const head = withIndex ? indexSize(picks.length) : 0;
    // Every byte is written below (no zero-fill); an ArrayBuffer of its own (the sampler may detach it).
    const message = Buffer.allocUnsafeSlow(head + runs);
    let at = withIndex ? writeIndex(message, picked, lengths) : 0;
    for (let i = 0; i < picks.length; i++) {
      const start = at;
      at = writeRun(body, traces, layout, picks[i]!, message, at);
      // Summaries are this request's own objects (trace-groups.ts summariesOf): set in place.
      picked[i]!.offset = start - head;
      picked[i]!.length = at - start;
    }
    if (at !== message.length) throw new Error(`trace router: wrote ${at} bytes, sized ${message.length}`);
    return { message, runsAt: head, picked, spans };
  }

  function forward(peer: string, tenant: string, body: Uint8Array, traces: readonly TraceSummary[], layout: Int32Array | null | undefined, picks: number[], timeoutMs: number): Promise<void> | undefined {
    const { message, runsAt, picked, spans } = build(body, traces, layout, picks, true);
    const runs = message.subarray(runsAt);
    if (inflightBytes + message.length > config.maxInflightBytes) {
      fallback(tenant, runs, picked, spans, 'budget', peer);
      return undefined;
    }
    inflightBytes += message.length;
    metrics?.clusterForwardInflightBytes.set(inflightBytes);
    const done = send(peer, tenant, message, timeoutMs).then(
      (r) => r,
      (err: unknown): ForwardResult => ({ status: 'failed', reason: 'unavailable', message: (err as Error)?.message }),
    ).then((r) => {
      inflightBytes -= message.length;
      metrics?.clusterForwardInflightBytes.set(inflightBytes);
      inflight.delete(done);
      if (r.status === 'ok') metrics?.clusterForwardedSpans.inc(spans);
      else fallback(tenant, runs, picked, spans, r.reason, peer, r.message);
    });
    inflight.add(done);
    return done;
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
      const timeoutMs = deadlineAt === undefined ? config.timeoutMs : Math.max(1, Math.min(config.timeoutMs, deadlineAt - Date.now()));
      const pending: Promise<void>[] = [];
      for (let o = 0; o < members; o++) {
        if (o === selfIndex || picks[o]!.length === 0) continue;
        const p = forward(r.members[o]!, tenant, body, traces, layout, picks[o]!, timeoutMs);
        if (p) pending.push(p);
      }
      const mine = picks[selfIndex]!;
      const done = pending.length === 0 ? undefined : pending.length === 1 ? pending[0] : Promise.all(pending).then(() => undefined);
      if (mine.length === 0) return done;
      // Only this replica's traces stay: written out as their runs, so that the sampler holds (and its
      // maxBytes counts) them alone, not the whole request.
      const { message, picked } = build(body, traces, layout, mine, false);
      local(tenant, message, picked, null, true);
      return done;
    },
    stats: () => ({ inflight: inflight.size, inflightBytes }),
    async stop() {
      stopped = true;
      unsubscribe();
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
}
