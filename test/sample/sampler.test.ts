import t from 'tap';
import { FLEET } from '../../src/incident/types.js';
import { walkRequest } from '../../src/process/worker/walk.js';
import { locateTraces as locate } from '../../src/process/wire/locate-traces.js';
import { createSampler, type SamplerConfig } from '../../src/sample/sampler.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { flattenRequests, type FlatItem } from '../helpers/flatten.js';
import { createRng, generateRequest } from '../helpers/generate-otlp.js';
import { anyString, bytes, kv, len, span } from '../helpers/wire-builder.js';
import { incidents, laidOut, NS_PER_MS, policyOf, request, sink, spansOf, testClock, traceId, type SplitRequest } from './helpers.js';

const BASE: SamplerConfig = { decisionWaitMs: 10_000, rootGraceMs: 2_000, maxTraces: 100_000, maxBytes: 64 * 1024 * 1024, decisionCacheSize: 100_000 };
const DEFAULT_POLICY = policyOf(null); // the built-in defaults: errors, slow (> 2 s), 10 % of the rest
const P = '0000000000000001';

async function counter(m: GatewayMetrics, name: keyof GatewayMetrics, labels: Record<string, string>): Promise<number> {
  const metric = m[name] as unknown as { get(): Promise<{ values: Array<{ value: number; labels: Record<string, string | number> }> }> };
  const got = await metric.get();
  return got.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

/** offer()'s arguments after the tenant. */
const args = (r: SplitRequest): [Uint8Array, SplitRequest['traces'], Int32Array | null] => [r.body, r.traces, r.layout];

function setup(config: Partial<SamplerConfig> = {}, policy = DEFAULT_POLICY) {
  const clock = testClock();
  const out = sink();
  const inc = incidents();
  const metrics = createMetrics({ defaultMetrics: false });
  const sampler = createSampler({ ...BASE, ...config }, { emit: out.emit, policy: () => policy, incidents: inc, metrics, clock, tickMs: 10 });
  return { clock, out, inc, metrics, sampler };
}

t.test('a trace is decided decisionWait after its first span, or rootGrace after its root', async (t) => {
  const keepAll = policyOf({ rules: [], otherwise: 'keep' });
  const { clock, out, sampler } = setup({}, keepAll);
  const A = traceId(1);
  const B = traceId(2);
  sampler.offer('acme', ...args(spansOf({ traceId: A, name: 'a-child', parentSpanId: P })));
  sampler.offer('acme', ...args(spansOf({ traceId: B, name: 'b-child', parentSpanId: P })));
  clock.advance(1000);
  sampler.offer('acme', ...args(spansOf({ traceId: A, name: 'a-child-2', parentSpanId: P })));
  sampler.offer('acme', ...args(spansOf({ traceId: B, name: 'b-root' }))); // root of B at t=1000
  t.equal(sampler.stats().traces, 2);
  clock.advance(1990);
  t.equal(out.emitted.length, 0, 'nothing before the root grace');
  clock.advance(20);
  t.same(out.spans().map((s) => s.name).sort(), ['b-child', 'b-root'], 'B decided 2 s after its root arrived, whole');
  clock.advance(6900);
  t.equal(out.spans().length, 2, 'A still waits (first span at t=0, wait 10 s)');
  clock.advance(200);
  t.same(out.spans().map((s) => s.name).sort(), ['a-child', 'a-child-2', 'b-child', 'b-root']);
  t.same(out.traceIds('acme'), new Set([A, B]));
  t.equal(sampler.stats().traces, 0);
  t.equal(sampler.stats().bytes, 0);
  t.equal(out.items(), 4, 'items counted with the spans');
});

t.test('defaults: error and slow traces always kept, about 10% of the rest, deterministic by trace id', async (t) => {
  const { clock, out, sampler, metrics } = setup();
  const rng = createRng(7);
  const n = 4000;
  const kinds = new Map<string, 'error' | 'slow' | 'plain'>();
  const pending: Parameters<typeof span>[0][] = [];
  for (let i = 0; i < n; i++) {
    const id = rng.hex(32);
    const kind = i % 10 === 0 ? 'error' : i % 10 === 1 ? 'slow' : 'plain';
    kinds.set(id, kind);
    const start = 1_700_000_000_000n * NS_PER_MS;
    const end = start + (kind === 'slow' ? 2_500n : 30n) * NS_PER_MS;
    // Three spans per trace, in one request with 20 traces: the fragments are split by trace.
    const spans = [0, 1, 2].map((k) => ({ traceId: id, name: `s${k}`, parentSpanId: k === 0 ? undefined : P, start, end: k === 0 ? end : start + 1n, statusCode: kind === 'error' && k === 2 ? 2 : 1 }));
    pending.push(...spans);
    if (pending.length === 60) flushPending();
  }
  function flushPending(): void {
    sampler.offer('acme', ...args(request({ spans: pending.splice(0) })));
  }
  clock.advance(30_000);
  const kept = out.traceIds();
  const all = [...kinds];
  t.ok(all.filter(([, k]) => k !== 'plain').every(([id]) => kept.has(id)), 'every error and every slow trace kept');
  const plain = all.filter(([, k]) => k === 'plain');
  const share = plain.filter(([id]) => kept.has(id)).length / plain.length;
  t.ok(Math.abs(share - 0.1) < 0.02, `about 10% of the rest kept (${(share * 100).toFixed(1)}%)`);
  // Whole traces: three spans each.
  t.equal(out.spans().length, kept.size * 3);
  t.equal(await counter(metrics, 'samplingDecisions', { decision: 'keep', reason: 'errors' }), n / 10);
  t.equal(await counter(metrics, 'samplingDecisions', { decision: 'keep', reason: 'slow' }), n / 10);
  t.equal(await counter(metrics, 'samplingDecisions', { decision: 'drop', reason: 'otherwise' }), plain.length - plain.filter(([id]) => kept.has(id)).length);
  t.equal(await counter(metrics, 'samplingSpans', { tenant: 'acme' }), n * 3, 'every span counted, kept or dropped');

  // The same ids decide the same way in another sampler (another gateway).
  const other = setup();
  for (const [id] of plain.slice(0, 500)) other.sampler.offer('acme', ...args(spansOf({ traceId: id, name: 'x' })));
  other.clock.advance(30_000);
  const otherKept = other.out.traceIds();
  t.ok(plain.slice(0, 500).every(([id]) => kept.has(id) === otherKept.has(id)), 'the same traces in both');
});
t.test('probability follows the trace id rightmost 56 bits (TraceIdRatioBased)', async (t) => {
  // T = (1 − 0.25) × 2^56 = 0xc0000000000000: R at T is kept, R one below is not; the high 9 bytes do not matter.
  const policy = policyOf({ rules: [{ name: 'quarter', probability: 0.25 }] });
  const { clock, out, sampler } = setup({}, policy);
  const at = 'ffffffffffffffffff' + 'c0000000000000';
  const below = 'ffffffffffffffffff' + 'bfffffffffffff';
  const top = '000000000000000000' + 'ffffffffffffff';
  const zero = 'ffffffffffffffffff' + '00000000000000';
  for (const id of [at, below, top, zero]) sampler.offer('a', ...args(spansOf({ traceId: id, name: id })));
  clock.advance(20_000);
  t.same(out.traceIds(), new Set([at, top]));
});

t.test('late spans follow the decision; a forgotten decision starts a new trace', async (t) => {
  const policy = policyOf({ rules: [{ name: 'errors', when: { error: true } }], otherwise: 'drop' });
  const { clock, out, sampler, metrics } = setup({ decisionCacheSize: 2 }, policy);
  const K = traceId(10);
  const D = traceId(11);
  sampler.offer('acme', ...args(spansOf({ traceId: K, name: 'k1', statusCode: 2 }, { traceId: D, name: 'd1' })));
  clock.advance(10_100);
  t.same(out.spans().map((s) => s.name), ['k1']);
  // Late spans: the kept trace's are forwarded at once, the dropped trace's are dropped (and counted).
  sampler.offer('acme', ...args(spansOf({ traceId: K, name: 'k2' }, { traceId: D, name: 'd2' }, { traceId: D, name: 'd3' })));
  t.same(out.spans().map((s) => s.name).sort(), ['k1', 'k2'], 'k2 forwarded without waiting');
  t.equal(sampler.stats().traces, 0, 'nothing buffered for decided traces');
  t.equal(await counter(metrics, 'samplingLateSpans', { decision: 'keep' }), 1);
  t.equal(await counter(metrics, 'samplingLateSpans', { decision: 'drop' }), 2);
  t.equal(await counter(metrics, 'samplingSpans', { decision: 'drop' }), 3);
  // The cache holds 2 decisions: after two more traces, K is forgotten and a late K span is a new trace.
  sampler.offer('acme', ...args(spansOf({ traceId: traceId(12), name: 'x', statusCode: 2 }, { traceId: traceId(13), name: 'y', statusCode: 2 })));
  clock.advance(10_100);
  sampler.offer('acme', ...args(spansOf({ traceId: K, name: 'k3' })));
  t.equal(sampler.stats().traces, 1, 'buffered again once the decision is forgotten');
  // Tenants never share decisions: the same id under another tenant is another trace.
  sampler.offer('globex', ...args(spansOf({ traceId: traceId(12), name: 'g' })));
  t.equal(sampler.stats().traces, 2);
});

t.test('incident mode: 100% kept, including traces already buffered; back to the policies after', async (t) => {
  const dropAll = policyOf({ rules: [], otherwise: 'drop' });
  const { clock, out, sampler, inc, metrics } = setup({}, dropAll);
  for (let i = 0; i < 50; i++) {
    sampler.offer('acme', ...args(spansOf({ traceId: traceId(i), name: `acme-${i}` })));
    sampler.offer('globex', ...args(spansOf({ traceId: traceId(i), name: `globex-${i}` })));
  }
  t.equal(sampler.stats().traces, 100);
  inc.start('acme');
  t.equal(out.spans('acme').length, 50, 'every buffered acme trace kept the moment the incident starts');
  t.equal(out.spans('globex').length, 0, 'other tenants are not in incident');
  t.equal(sampler.stats().traces, 50);
  t.equal(await counter(metrics, 'samplingEarlyDecisions', { reason: 'incident' }), 50);
  // During the incident new acme traces (and more spans of buffered ones) go straight through.
  sampler.offer('acme', ...args(spansOf({ traceId: traceId(500), name: 'during-1' }, { traceId: traceId(501), name: 'during-2' })));
  t.equal(out.spans('acme').length, 52, 'forwarded at once, not buffered');
  t.equal(await counter(metrics, 'samplingDecisions', { decision: 'keep', reason: 'incident' }), 52, 'the traces first seen during the incident count as kept by it');
  t.equal(sampler.stats().traces, 50);
  inc.end('acme');
  sampler.offer('acme', ...args(spansOf({ traceId: traceId(501), name: 'during-2-late' }), ));
  sampler.offer('acme', ...args(spansOf({ traceId: traceId(900), name: 'after' })));
  clock.advance(20_000);
  const names = out.spans('acme').map((s) => s.name);
  t.ok(names.includes('during-2-late'), 'a trace kept during the incident keeps its late spans');
  t.notOk(names.includes('after'), 'after the incident the policies decide again');
  t.equal(out.spans('globex').length, 0);

  // Fleet-wide: every tenant.
  const fleet = setup({}, dropAll);
  fleet.sampler.offer('a', ...args(spansOf({ traceId: traceId(1), name: 'a' })));
  fleet.sampler.offer('b', ...args(spansOf({ traceId: traceId(2), name: 'b' })));
  fleet.inc.start(FLEET);
  t.same(fleet.out.spans().map((s) => s.name).sort(), ['a', 'b']);
  fleet.sampler.offer('c', ...args(spansOf({ traceId: traceId(3), name: 'c' })));
  t.equal(fleet.out.spans('c').length, 1);
});

t.test('a flood of one-span traces stays within the byte and trace bounds; early decisions are counted, nothing is lost unseen', async (t) => {
  const maxBytes = 128 * 1024;
  const keepErrors = policyOf({ rules: [{ name: 'errors', when: { error: true } }], otherwise: 'drop' });
  const { out, sampler, metrics } = setup({ maxBytes, maxTraces: 100_000 }, keepErrors);
  const n = 20_000;
  let peak = 0;
  let offeredBytes = 0;
  let within = true;
  for (let i = 0; i < n; i += 50) {
    const r = request({ spans: Array.from({ length: 50 }, (_, k) => ({ traceId: traceId(i + k), name: `span-${i + k}`, statusCode: (i + k) % 100 === 0 ? 2 : 0, attributes: [] })) });
    offeredBytes += r.body.length;
    sampler.offer('acme', ...args(r));
    peak = Math.max(peak, sampler.stats().bytes);
    if (sampler.stats().bytes > maxBytes) within = false;
  }
  t.ok(within, 'within maxBytes after every offer');
  t.ok(offeredBytes > 4 * maxBytes, `the flood (${offeredBytes} B) is much larger than the bound`);
  t.ok(peak > maxBytes * 0.9, `the buffer filled up (peak ${peak} B)`);
  const early = await counter(metrics, 'samplingEarlyDecisions', { reason: 'max_bytes' });
  t.ok(early > n / 2, `oldest traces decided early (${early})`);
  const buffered = sampler.stats().traces;
  t.equal((await counter(metrics, 'samplingSpans', {})) + buffered, n, 'every span decided or still buffered');
  // Early decisions follow the policies: every error trace decided so far was kept.
  const kept = out.traceIds();
  const decidedErrors = Array.from({ length: n / 100 }, (_, k) => traceId(k * 100)).filter((id) => kept.has(id));
  t.ok(decidedErrors.length >= (n - buffered) / 100 - 1, 'error traces decided early were kept');
  t.equal(kept.size, out.spans().length, 'one span each');

  // The trace bound works the same way.
  const small = setup({ maxTraces: 100 }, keepErrors);
  for (let i = 0; i < 1000; i++) small.sampler.offer('a', ...args(spansOf({ traceId: traceId(i), name: 'x' })));
  t.equal(small.sampler.stats().traces, 100);
  t.equal(await counter(small.metrics, 'samplingEarlyDecisions', { reason: 'max_traces' }), 900);
});

t.test('drain decides everything at once (shutdown) and close stops the timer', async (t) => {
  const keepAll = policyOf({ rules: [], otherwise: 'keep' });
  const { clock, out, sampler, metrics } = setup({}, keepAll);
  for (let i = 0; i < 10; i++) sampler.offer('acme', ...args(spansOf({ traceId: traceId(i), name: `s${i}` })));
  t.ok(clock.pending() > 0, 'a decision timer is armed');
  sampler.drain();
  t.equal(out.spans().length, 10);
  t.equal(sampler.stats().traces, 0);
  t.equal(await counter(metrics, 'samplingEarlyDecisions', { reason: 'shutdown' }), 10);
  sampler.close();
  clock.advance(60_000);
  t.equal(out.spans().length, 10);
  // A request that arrives after the drain is forwarded whole, not lost.
  sampler.offer('acme', ...args(spansOf({ traceId: traceId(99), name: 'late-comer' })));
  t.equal(out.spans().length, 11);
  t.equal(await counter(metrics, 'samplingDecisions', { decision: 'keep', reason: 'shutdown' }), 1);
});

t.test('kept spans the exporters refuse are counted, not silently lost', async (t) => {
  const keepAll = policyOf({ rules: [], otherwise: 'keep' });
  const { clock, out, sampler, metrics } = setup({}, keepAll);
  sampler.offer('acme', ...args(spansOf({ traceId: traceId(1), name: 'a' }, { traceId: traceId(2), name: 'b' })));
  out.refuse = true;
  clock.advance(11_000);
  t.equal(await counter(metrics, 'samplingDroppedSpans', { reason: 'export_refused' }), 2);
});

t.test('bodies whose traces the worker did not locate are located here', async (t) => {
  const keepAll = policyOf({ rules: [{ name: 'errors', when: { error: true } }] , otherwise: 'drop' });
  const { clock, out, sampler } = setup({}, keepAll);
  const body = bytes(len(1, len(2, len(2, span({ traceId: traceId(1), name: 'x', statusCode: 2 })), len(2, span({ traceId: traceId(2), name: 'y' })))));
  const w = walkRequest('traces', body);
  if (!w.ok) throw new Error(w.message);
  sampler.offer('acme', body, w.traces!);
  clock.advance(11_000);
  t.same(out.spans().map((s) => s.name), ['x']);
});

t.test('rate-limited rules use per-tenant budgets on the sampler clock', async (t) => {
  const policy = policyOf({ rules: [{ name: 'capped', spansPerSecond: 100 }], otherwise: 'drop' });
  const { clock, out, sampler } = setup({}, policy);
  const tenSpans = (id: string) => spansOf(...Array.from({ length: 10 }, (_, k) => ({ traceId: id, name: `s${k}`, parentSpanId: P })));
  for (let i = 0; i < 50; i++) {
    sampler.offer('a', ...args(tenSpans(traceId(i))));
    sampler.offer('b', ...args(tenSpans(traceId(i))));
  }
  clock.advance(10_100);
  t.equal(out.spans('a').length, 100, 'one second of rate for tenant a');
  t.equal(out.spans('b').length, 100, 'and its own budget for tenant b');
  for (let i = 100; i < 150; i++) sampler.offer('a', ...args(tenSpans(traceId(i))));
  clock.advance(10_100);
  t.equal(out.spans('a').length, 200, 'refilled by the time the next traces are decided');
});

t.test('a body whose traces are all kept goes on as it is; big ones without a copy; partly kept bodies as their kept traces', async (t) => {
  const keepAll = policyOf({ rules: [], otherwise: 'keep' });
  const dropMiddle = policyOf({ rules: [{ name: 'no-b', when: { spansAtLeast: 2 }, action: 'drop' }], otherwise: 'keep' });
  const run = (viewBytes: number | undefined, policy = keepAll, form: (r: SplitRequest) => SplitRequest = (r) => r) => {
    const clock = testClock();
    const raw: Array<{ body: Uint8Array; items: number }> = [];
    const out = sink();
    const sampler = createSampler(BASE, {
      emit: (tenant, body, items) => {
        raw.push({ body, items });
        return out.emit(tenant, body, items);
      },
      policy: () => policy,
      clock,
      tickMs: 10,
      ...(viewBytes === undefined ? {} : { viewBytes }),
    });
    const r1 = form(spansOf({ traceId: traceId(1), name: 'a' }, { traceId: traceId(2), name: 'b1' }, { traceId: traceId(2), name: 'b2', parentSpanId: P }, { traceId: traceId(3), name: 'c' }));
    const r2 = form(spansOf({ traceId: traceId(4), name: 'd' }, { traceId: traceId(5), name: 'e' }));
    sampler.offer('acme', ...args(r1));
    sampler.offer('acme', ...args(r2));
    clock.advance(2_100);
    return { raw, out, r1, r2 };
  };
  // Every range is "big": each request's traces, all kept, go on as the request body itself.
  const views = run(1);
  t.equal(views.raw.length, 2, 'one emit per request body');
  t.equal(views.raw[0]!.body, views.r1.body, 'the first body itself, not a copy');
  t.equal(views.raw[1]!.body, views.r2.body);
  t.same(views.raw.map((e) => e.items), [4, 2]);
  t.same(views.out.spans().map((s) => s.name).sort(), ['a', 'b1', 'b2', 'c', 'd', 'e']);
  // Small ranges (the default threshold, 256 KiB): copied together into one body.
  const copied = run(undefined);
  t.equal(copied.raw.length, 1, 'one emit for both requests');
  t.not(copied.raw[0]!.body.buffer, copied.r1.body.buffer, 'a body of its own');
  t.equal(copied.raw[0]!.items, 6);
  t.same(copied.out.spans().map((s) => s.name).sort(), ['a', 'b1', 'b2', 'c', 'd', 'e']);
  // A dropped trace in the middle: the kept traces of the first body are written out, each with its own
  // resource and scope; the second body, all kept, goes on as it is.
  const partial = run(1, dropMiddle);
  t.same(partial.out.spans().map((s) => s.name).sort(), ['a', 'c', 'd', 'e']);
  t.equal(partial.raw.length, 2, 'the second body as it is, and the kept traces of the first');
  t.equal(partial.raw[0]!.body, partial.r2.body, 'the second body itself');
  t.not(partial.raw[1]!.body.buffer, partial.r1.body.buffer, 'the first body\'s kept traces in a body of their own');
  t.same(partial.raw.map((e) => e.items), [2, 2]);
  t.ok(partial.raw[1]!.body.length < partial.r1.body.length, 'without the dropped trace');

  // Bodies laid out by trace (TraceSummary offset/length) are still taken: a dropped trace in the middle
  // splits the body's kept ranges in two views.
  const laid = run(1, dropMiddle, laidOut);
  t.same(laid.out.spans().map((s) => s.name).sort(), ['a', 'c', 'd', 'e']);
  t.equal(laid.raw.length, 3, 'two ranges of the first body, one of the second');
  t.ok(laid.raw.slice(0, 2).every((e) => e.body.buffer === laid.r1.body.buffer), 'views of the first body');
  t.same(laid.raw.map((e) => e.items), [1, 1, 2]);
  const laidAll = run(1, keepAll, laidOut);
  t.equal(laidAll.raw[0]!.body, laidAll.r1.body, 'all kept: the laid-out body itself');
  t.same(laidAll.out.spans().map((s) => s.name).sort(), ['a', 'b1', 'b2', 'c', 'd', 'e']);
});

t.test('partly kept requests: the kept traces arrive whole, each span with its own resource and scope, nothing else', async (t) => {
  // Generated requests (several resources, scopes and interleaved traces, concatenated in twos and threes),
  // decided by a 40 % probability rule: most requests are partly kept.
  const rng = createRng(11);
  const policy = policyOf({ rules: [{ name: 'some', probability: 0.4 }], otherwise: 'drop' });
  const { clock, out, sampler } = setup({}, policy);
  const offered: Uint8Array[] = [];
  let partly = 0;
  for (let i = 0; i < 60; i++) {
    const body = Buffer.concat(Array.from({ length: 1 + (i % 3) }, () => generateRequest('traces', rng).bytes));
    const w = walkRequest('traces', body);
    if (!w.ok) throw new Error(w.message);
    offered.push(body);
    sampler.offer('acme', body, w.traces!, locate(body, w.traces!));
  }
  clock.advance(30_000);
  const traceOf = (f: FlatItem) => ((f.item as { traceId?: string }).traceId ?? '').toLowerCase();
  const kept = out.traceIds();
  const expected = flattenRequests('traces', offered).filter((f) => kept.has(traceOf(f)));
  t.ok(kept.size > 10, `some traces kept (${kept.size})`);
  t.same(flattenRequests('traces', out.emitted.map((e) => e.body)), expected, 'exactly the spans of the kept traces, with their resources and scopes');
  for (const body of offered) {
    const ids = new Set(flattenRequests('traces', [body]).map(traceOf));
    const k = [...ids].filter((id) => kept.has(id)).length;
    if (k > 0 && k < ids.size) partly++;
  }
  t.ok(partly > 10, `most requests partly kept (${partly})`);
  t.equal(out.items(), expected.length, 'items counted as emitted');
});

t.test('attribute rules see a located trace\'s own spans and resource, not its neighbours\' in the request', async (t) => {
  const policy = policyOf({ rules: [{ name: 'payments', when: { attributes: { 'service.name': 'payments', 'http.route': '/pay' } } }], otherwise: 'drop' });
  const { clock, out, sampler } = setup({}, policy);
  const res = (name: string) => len(1, kv('service.name', anyString(name))); // Resource.attributes
  const route = (r: string) => [kv('http.route', anyString(r))];
  const r = request(
    { resource: res('payments'), spans: [{ traceId: traceId(1), name: 'pay', attributes: route('/pay') }, { traceId: traceId(2), name: 'other-route', attributes: route('/other') }] },
    { resource: res('checkout'), spans: [{ traceId: traceId(3), name: 'checkout-pay', attributes: route('/pay') }, { traceId: traceId(2), name: 'b2', attributes: [] }] },
  );
  t.ok(r.layout, 'several traces: located');
  sampler.offer('acme', ...args(r));
  clock.advance(11_000);
  t.same(out.spans().map((x) => x.name), ['pay'], 'only the trace whose own resource and span match');
});
