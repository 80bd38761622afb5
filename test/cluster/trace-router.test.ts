// The routing stage in front of three tail samplers: every trace ends in its owner's sampler whole and
// byte-for-byte (runs written from the worker's layout, index decoded by the owner), forwards that fail
// or exceed the budget are decided locally and counted, incidents and single-member clusters stay local.
import t from 'tap';
import { readForward } from '../../src/cluster/forward-wire.js';
import { createRendezvous, traceHashHex } from '../../src/cluster/rendezvous.js';
import { createTraceRouter, DEFAULT_ROUTING, type ForwardResult, type ForwardSend, type LiveMembers, type RoutingConfig } from '../../src/cluster/trace-router.js';
import { locateTraces } from '../../src/process/wire/locate-traces.js';
import { walkRequest } from '../../src/process/worker/walk.js';
import { createSampler } from '../../src/sample/sampler.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { flattenRequests } from '../helpers/flatten.js';
import { createRng, generateRequest } from '../helpers/generate-otlp.js';
import { incidents, policyOf, request, sink, testClock, traceId, type Sink } from '../sample/helpers.js';

const MEMBERS = ['gw-a', 'gw-b', 'gw-c'];
const KEEP_ALL = policyOf({ rules: [], otherwise: 'keep' });
const BASE = { decisionWaitMs: 10_000, rootGraceMs: 2_000, maxTraces: 100_000, maxBytes: 64 * 1024 * 1024, decisionCacheSize: 100_000 };

function members(self: string, live: string[]): LiveMembers & { set(live: string[]): void } {
  const listeners = new Set<(live: readonly string[]) => void>();
  let current = live;
  return {
    self,
    live: () => current,
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    set(next) {
      current = next;
      for (const fn of listeners) fn(next);
    },
  };
}

async function value(m: GatewayMetrics, name: keyof GatewayMetrics, labels: Record<string, string> = {}): Promise<number> {
  const metric = m[name] as unknown as { get(): Promise<{ values: Array<{ value: number; labels: Record<string, string | number> }> }> };
  const got = await metric.get();
  return got.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

/** Three replicas: a sampler and a router each; forwards are handed to the owner's sampler in process. */
function fleet(options: { fail?: (peer: string) => ForwardResult | undefined; config?: Partial<RoutingConfig> } = {}) {
  const clock = testClock();
  const inc = incidents();
  const nodes = MEMBERS.map((self) => {
    const out = sink();
    const metrics = createMetrics({ defaultMetrics: false });
    const sampler = createSampler(BASE, { emit: out.emit, policy: () => KEEP_ALL, metrics, clock, tickMs: 10 });
    const membership = members(self, MEMBERS);
    return { self, out, metrics, sampler, membership, router: undefined as unknown as ReturnType<typeof createTraceRouter> };
  });
  let forwards = 0;
  const send: ForwardSend = async (peer, tenant, message) => {
    forwards++;
    const failed = options.fail?.(peer);
    if (failed) return failed;
    const read = readForward(Buffer.concat(message));
    if ('error' in read) return { status: 'failed', reason: 'refused', message: read.error };
    const owner = nodes.find((n) => n.self === peer)!;
    owner.metrics.clusterReceivedSpans.inc(read.spans);
    owner.sampler.offer(tenant, read.body, read.traces, null, true);
    return { status: 'ok' };
  };
  for (const n of nodes) {
    n.router = createTraceRouter({ ...DEFAULT_ROUTING, ...options.config }, { membership: n.membership, local: n.sampler.offer, send, incidents: inc, metrics: n.metrics });
  }
  return {
    clock,
    inc,
    nodes,
    forwards: () => forwards,
    /** Offers a request to replica i as the gateway does after the worker (summaries, layout). */
    offer(i: number, original: Uint8Array, tenant = 'acme') {
      // A copy: given up (owned), the sampler may free its memory (detach) once decided.
      const body = original.slice();
      const w = walkRequest('traces', body);
      if (!w.ok) throw new Error(w.message);
      const traces = w.traces!;
      const layout = traces.length > 1 ? locateTraces(body, traces) : null;
      nodes[i]!.router.offer(tenant, body, traces, layout, true);
    },
    async settle() {
      for (const n of nodes) await n.router.stop();
      for (const n of nodes) n.sampler.drain();
    },
  };
}

const ownerOf = (id: string): string => createRendezvous(MEMBERS).owner(traceHashHex(id));

t.test('every trace ends whole and unchanged in its owner\'s sampler, wherever its spans arrived', async (t) => {
  const f = fleet();
  const rng = createRng(22);
  const bodies: Uint8Array[] = [];
  for (let i = 0; i < 60; i++) {
    const body = generateRequest('traces', rng, { maxItems: 6 }).bytes;
    bodies.push(body);
    f.offer(i % 3, body);
  }
  await f.settle();
  const all = flattenRequests('traces', bodies);
  const got = flattenRequests('traces', f.nodes.flatMap((n) => n.out.emitted.map((e) => e.body)));
  t.same(got, all, 'the three samplers emitted exactly the spans sent, resources and scopes included');
  t.ok(all.length > 200, `${all.length} spans`);
  let misplaced = 0;
  const ids = new Set<string>();
  for (const n of f.nodes) {
    for (const s of n.out.spans()) {
      ids.add(s.traceId);
      if (s.traceId !== '' && ownerOf(s.traceId) !== n.self) misplaced++;
    }
  }
  t.equal(misplaced, 0, 'each span was emitted by its trace owner');
  // One decision per trace id across the fleet (ids without spans' trace id stay where they arrived).
  let decisions = 0;
  for (const n of f.nodes) decisions += await value(n.metrics, 'samplingDecisions');
  const withId = [...ids].filter((id) => id !== '').length;
  const empty = ids.has('') ? f.nodes.filter((n) => n.out.spans().some((s) => s.traceId === '')).length : 0;
  t.equal(decisions, withId + empty, 'one decision per trace');
  let forwarded = 0;
  let routed = 0;
  for (const n of f.nodes) {
    forwarded += await value(n.metrics, 'clusterForwardedSpans');
    routed += await value(n.metrics, 'clusterRoutedSpans');
    t.equal(await value(n.metrics, 'clusterForwardFailures'), 0);
    t.equal(n.router.stats().inflightBytes, 0, 'nothing left in flight');
  }
  t.equal(routed, all.length, 'every span routed once');
  t.ok(forwarded > all.length / 2 && forwarded < all.length * 0.85, `about two thirds forwarded (${forwarded} of ${all.length})`);
});

t.test('an error on one replica keeps the spans that arrived at the other two', async (t) => {
  const f = fleet();
  // The same trace, three requests, three replicas; the error is in the one that reached replica 2.
  const errorsOnly = policyOf({ rules: [{ name: 'errors', when: { error: true } }], otherwise: 'drop' });
  for (const n of f.nodes) {
    n.sampler.close();
    const out = (n.out = sink());
    n.sampler = createSampler(BASE, { emit: out.emit, policy: () => errorsOnly, metrics: n.metrics, clock: f.clock, tickMs: 10 });
    n.router = createTraceRouter(DEFAULT_ROUTING, { membership: n.membership, local: n.sampler.offer, send: async (peer, tenant, message) => {
      const r = readForward(Buffer.concat(message));
      if ('error' in r) return { status: 'failed', reason: 'refused' };
      f.nodes.find((x) => x.self === peer)!.sampler.offer(tenant, r.body, r.traces, null, true);
      return { status: 'ok' };
    }, metrics: n.metrics });
  }
  const kept = traceId(1);
  const dropped = traceId(2);
  for (const [i, id] of [kept, dropped].entries()) {
    for (let r = 0; r < 3; r++) {
      const error = i === 0 && r === 2;
      f.offer(r, request({ spans: [{ traceId: id, spanId: `000000000000000${r + 1}`, name: `s${r}`, statusCode: error ? 2 : 1 }] }).body);
    }
  }
  await f.settle();
  const emitted = f.nodes.flatMap((n) => n.out.spans());
  t.same(emitted.filter((s) => s.traceId === kept).map((s) => s.name).sort(), ['s0', 's1', 's2'], 'all three spans of the error trace kept');
  t.equal(emitted.filter((s) => s.traceId === dropped).length, 0, 'none of the other trace');
});

t.test('a failed forward is decided locally and counted; so is one beyond the byte budget', async (t) => {
  const f = fleet({ fail: (peer) => (peer === 'gw-c' ? { status: 'failed', reason: 'unavailable', message: 'connect ECONNREFUSED' } : undefined) });
  const rng = createRng(7);
  const bodies = Array.from({ length: 20 }, () => generateRequest('traces', rng, { maxItems: 6 }).bytes);
  for (const b of bodies) f.offer(0, b);
  await f.settle();
  const all = flattenRequests('traces', bodies);
  t.same(flattenRequests('traces', f.nodes.flatMap((n) => n.out.emitted.map((e) => e.body))), all, 'nothing lost');
  t.equal(f.nodes[2]!.out.emitted.length, 0, 'the unreachable owner got nothing');
  const a = f.nodes[0]!.metrics;
  const fallback = await value(a, 'clusterForwardFallbackSpans', { reason: 'unavailable' });
  const cOwned = f.nodes[0]!.out.spans().filter((s) => s.traceId !== '' && ownerOf(s.traceId) === 'gw-c').length;
  t.ok(cOwned > 0);
  t.equal(fallback, cOwned, "gw-c's spans were decided by gw-a and counted");
  t.ok((await value(a, 'clusterForwardFailures', { reason: 'unavailable' })) > 0);

  const g = fleet({ config: { maxInflightBytes: 16 } });
  for (const b of bodies) g.offer(1, b);
  await g.settle();
  t.same(flattenRequests('traces', g.nodes.flatMap((n) => n.out.emitted.map((e) => e.body))), all, 'nothing lost over budget');
  t.equal(g.forwards(), 0, 'no forward started');
  t.ok((await value(g.nodes[1]!.metrics, 'clusterForwardFallbackSpans', { reason: 'budget' })) > 0, 'counted as budget');
});

t.test('nothing is forwarded while the tenant is in incident or this replica is alone', async (t) => {
  const f = fleet();
  const rng = createRng(3);
  const sent: Uint8Array[] = [];
  const gen = (): Uint8Array => {
    const b = generateRequest('traces', rng, { maxItems: 6 }).bytes;
    sent.push(b);
    return b;
  };
  f.inc.start('acme');
  for (let i = 0; i < 5; i++) f.offer(0, gen());
  t.equal(f.forwards(), 0, 'incident: kept where they are');
  f.inc.end('acme');
  f.nodes[1]!.membership.set(['gw-b']);
  for (let i = 0; i < 5; i++) f.offer(1, gen());
  t.equal(f.forwards(), 0, 'alone: everything is local');
  f.nodes[1]!.membership.set(['gw-b', 'gw-c']);
  for (let i = 0; i < 5; i++) f.offer(1, gen());
  t.ok(f.forwards() > 0, 'a peer came: forwarding again');
  await f.settle();
  t.same(flattenRequests('traces', f.nodes.flatMap((n) => n.out.emitted.map((e) => e.body))), flattenRequests('traces', sent), 'every span emitted once');
});

t.test('the owner refuses a malformed forward message with a reason', async (t) => {
  t.match(readForward(new Uint8Array([0x0a, 0x00])), { error: /trace index/ });
  let message: Uint8Array | undefined;
  const capture: ForwardSend = async (_p, _t, m) => {
    message = Buffer.concat(m);
    return { status: 'ok' };
  };
  const r = createTraceRouter(DEFAULT_ROUTING, { membership: members('gw-a', MEMBERS), local: () => {}, send: capture });
  const id = [traceId(1), traceId(2), traceId(3), traceId(4), traceId(5)].find((x) => ownerOf(x) !== 'gw-a')!;
  const body = request({ spans: [{ traceId: id, spanId: '0000000000000001', name: 'x' }] }).body;
  const w = walkRequest('traces', body);
  r.offer('acme', body, w.ok ? w.traces! : [], null, true);
  await r.stop();
  t.ok(message);
  const ok = readForward(message!);
  t.notOk('error' in ok, 'well-formed');
  const cut = message!.subarray(0, message!.length - 3);
  t.match(readForward(cut), { error: /does not fit|covers/ }, 'truncated runs refused');
  const bad = Buffer.from(message!);
  bad[bad.length - (ok as { body: Uint8Array }).body.length] = 0x12; // the run no longer starts with resource_spans
  t.match(readForward(bad), { error: /not resource_spans/ });
});

t.test("a forward waits no longer than the client's deadline", async (t) => {
  const timeouts: number[] = [];
  const send: ForwardSend = async (_p, _t, _m, timeoutMs) => {
    timeouts.push(timeoutMs);
    return { status: 'ok' };
  };
  const r = createTraceRouter({ ...DEFAULT_ROUTING, timeoutMs: 2000 }, { membership: members('gw-a', MEMBERS), local: () => {}, send });
  const ids = Array.from({ length: 12 }, (_, i) => traceId(i));
  const body = request({ spans: ids.map((id, i) => ({ traceId: id, spanId: `00000000000000${(i + 16).toString(16)}`, name: `s${i}` })) }).body;
  const traces = () => {
    const w = walkRequest('traces', body);
    return w.ok ? w.traces! : [];
  };
  const tr1 = traces();
  await r.offer('acme', body, tr1, locateTraces(body, tr1), false, Date.now() + 300);
  const tr2 = traces();
  await r.offer('acme', body, tr2, locateTraces(body, tr2), false, Date.now() - 5);
  const tr3 = traces();
  await r.offer('acme', body, tr3, locateTraces(body, tr3), false);
  t.ok(timeouts.length >= 3, `${timeouts.length} forwards`);
  const perOffer = timeouts.length / 3;
  t.ok(timeouts.slice(0, perOffer).every((x) => x > 0 && x <= 300), 'bounded by a deadline 300 ms away');
  t.ok(timeouts.slice(perOffer, 2 * perOffer).every((x) => x === 1), 'a passed deadline: 1 ms');
  t.ok(timeouts.slice(2 * perOffer).every((x) => x === 2000), 'no deadline: cluster.routing.timeout');
  await r.stop();
});

/** gw-a's router with one peer, gw-b, whose calls are held until the test answers them. */
function heldPeer(config: Partial<RoutingConfig> = {}) {
  const calls: Array<{ traces: number; spans: number; answer(r: ForwardResult): void }> = [];
  let waiter: (() => void) | undefined;
  const send: ForwardSend = (_peer, _tenant, message) =>
    new Promise((answer) => {
      // A copy, read at once: the router reuses a batch's buffer once its call is answered.
      const read = readForward(Buffer.concat(message));
      if ('error' in read) throw new Error(read.error);
      calls.push({ traces: read.traces.length, spans: read.spans, answer });
      waiter?.();
    });
  const metrics = createMetrics({ defaultMetrics: false });
  const locals: Array<{ traces: number }> = [];
  const router = createTraceRouter({ ...DEFAULT_ROUTING, ...config }, {
    membership: members('gw-a', ['gw-a', 'gw-b']),
    local: (_t, _b, traces) => locals.push({ traces: traces.length }),
    send,
    metrics,
  });
  const ring = createRendezvous(['gw-a', 'gw-b']);
  const theirs = Array.from({ length: 200 }, (_, i) => traceId(i, 5)).filter((id) => ring.owner(traceHashHex(id)) === 'gw-b');
  let next = 0;
  const answered: number[] = [];
  return {
    calls,
    locals,
    metrics,
    router,
    answered,
    /** The calls sent so far reach n (resolves at once if they did). */
    sent: (n: number) => new Promise<void>((resolve) => {
      const check = (): void => {
        if (calls.length >= n) {
          waiter = undefined;
          resolve();
        }
      };
      waiter = check;
      check();
    }),
    /** Offers request k: two one-span traces, both owned by gw-b. */
    offer(k: number, deadlineAt?: number): Promise<void> {
      const ids = [theirs[next++]!, theirs[next++]!];
      const r = request({ spans: ids.map((id, i) => ({ traceId: id, spanId: `000000000000000${i + 1}`, name: `r${k}s${i}` })) });
      const p = router.offer('acme', r.body, r.traces, r.layout, true, deadlineAt);
      if (!p) throw new Error('nothing forwarded');
      return p.then(() => void answered.push(k));
    },
  };
}

/** Lets the promise callbacks queued so far run (one turn of the event loop, no timer). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('shares for a busy owner join one call; each client is answered after its own call', async (t) => {
  const p = heldPeer();
  const offers = [1, 2, 3, 4, 5].map((k) => p.offer(k));
  t.equal(p.calls.length, 2, 'two calls in flight to gw-b; requests 3–5 wait');
  p.calls[0]!.answer({ status: 'ok' });
  await p.sent(3);
  t.same(p.calls.map((c) => c.traces), [2, 2, 6], "requests 3, 4 and 5 travel in one call (their 6 traces)");
  await turn();
  t.same(p.answered, [1], 'request 1 answered after its call; 2 is still in flight, 3–5 too');
  // The coalesced call fails: all six spans of its three requests are decided here, counted per span.
  p.calls[2]!.answer({ status: 'failed', reason: 'refused', message: 'grpc-status 14' });
  await Promise.all(offers.slice(2));
  t.same(p.answered.slice().sort(), [1, 3, 4, 5], 'requests 3–5 answered once their call failed and was decided here');
  t.same(p.locals, [{ traces: 6 }], 'their traces went to the local sampler');
  t.equal(await value(p.metrics, 'clusterForwardFailures', { reason: 'refused' }), 1, 'one failed call');
  t.equal(await value(p.metrics, 'clusterForwardFallbackSpans', { reason: 'refused' }), 6, 'six spans decided here');
  p.calls[1]!.answer({ status: 'ok' });
  await Promise.all(offers);
  await p.router.stop();
  t.equal(await value(p.metrics, 'clusterForwardedSpans'), 4, 'requests 1 and 2 forwarded');
  t.same(p.router.stats(), { inflight: 0, inflightBytes: 0 }, 'nothing left waiting or in flight');
});

t.test("a share waiting for a busy owner is decided here at its client's deadline", async (t) => {
  const p = heldPeer({ timeoutMs: 60_000 });
  const first = [p.offer(1), p.offer(2)];
  const late = p.offer(3, Date.now() + 50);
  await late;
  t.equal(p.calls.length, 2, 'no call was made for it');
  t.same(p.locals, [{ traces: 2 }], 'its traces were decided here');
  t.equal(await value(p.metrics, 'clusterForwardFallbackSpans', { reason: 'timeout' }), 2, 'counted as timeout');
  t.same(p.answered, [3], 'answered while the calls before it are still in flight');
  for (const c of p.calls) c.answer({ status: 'ok' });
  await Promise.all(first);
  await p.router.stop();
  t.equal(p.calls.length, 2, 'nothing else sent');
});

t.test('a batch stays within the owner\'s largest message', async (t) => {
  const p = heldPeer({ maxMessageBytes: 200 });
  const offers = [1, 2, 3, 4].map((k) => p.offer(k));
  p.calls[0]!.answer({ status: 'ok' });
  p.calls[1]!.answer({ status: 'ok' });
  await p.sent(4);
  t.same(p.calls.map((c) => c.traces), [2, 2, 2, 2], 'requests 3 and 4 do not fit one message of 200 bytes: two calls');
  for (const c of p.calls.slice(2)) c.answer({ status: 'ok' });
  await Promise.all(offers);
  await p.router.stop();
  t.equal(await value(p.metrics, 'clusterForwardedSpans'), 8);
});
