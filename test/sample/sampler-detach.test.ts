// A released body the sampler owns alone is freed at once (its ArrayBuffer transferred away), never one
// that anything else may still read: a kept trace's body, or a body offered without `owned`.
import t from 'tap';
import { createSampler, type SamplerConfig } from '../../src/sample/sampler.js';
import { policyOf, request, sink, spansOf, testClock, traceId, type SplitRequest } from './helpers.js';

const BASE: SamplerConfig = { decisionWaitMs: 10_000, rootGraceMs: 2_000, maxTraces: 100_000, maxBytes: 64 * 1024 * 1024, decisionCacheSize: 100_000 };
const P = '0000000000000001';
const keepAll = policyOf({ rules: [], otherwise: 'keep' });
const dropAll = policyOf({ rules: [], otherwise: 'drop' });

/** The request's body in an ArrayBuffer of its own, as the worker pool hands bodies over. */
function owning(r: SplitRequest): SplitRequest {
  const body = new Uint8Array(new ArrayBuffer(r.body.byteLength));
  body.set(r.body);
  return { ...r, body };
}

function setup(policy = dropAll) {
  const clock = testClock();
  const out = sink();
  const sampler = createSampler(BASE, { emit: out.emit, policy: () => policy, clock, tickMs: 10 });
  return { clock, out, sampler };
}

t.test('an owned body is freed once all its traces are dropped, not before', async (t) => {
  const { clock, sampler } = setup();
  const r = owning(request({ spans: [{ traceId: traceId(1), name: 'a', parentSpanId: P }] }, { spans: [{ traceId: traceId(2), name: 'b', parentSpanId: P }] }));
  const size = r.body.byteLength;
  sampler.offer('acme', r.body, r.traces, r.layout, true);
  clock.advance(5_000);
  t.equal(r.body.byteLength, size, 'still buffered: untouched');
  clock.advance(5_100);
  t.equal(sampler.stats().traces, 0);
  t.equal(r.body.byteLength, 0, 'released and owned: detached (its memory freed without waiting for a full GC)');
});

t.test('a partly kept body is freed once the kept trace is copied out', async (t) => {
  const { clock, out, sampler } = setup(policyOf({ rules: [{ name: 'errors', when: { error: true } }], otherwise: 'drop' }));
  const r = owning(request({ spans: [{ traceId: traceId(6), name: 'failed', parentSpanId: P, statusCode: 2 }] }, { spans: [{ traceId: traceId(7), name: 'fine', parentSpanId: P }] }));
  sampler.offer('acme', r.body, r.traces, r.layout, true);
  clock.advance(10_100);
  t.same(out.spans().map((s) => s.name), ['failed'], 'the kept trace reached the sink intact');
  t.equal(r.body.byteLength, 0, 'then the body was detached');
});

t.test('a body emitted as a view is never freed: the exporters read it later', async (t) => {
  const { clock, out, sampler } = setup(keepAll);
  const r = owning(spansOf({ traceId: traceId(3), name: 'kept', parentSpanId: P }));
  const size = r.body.byteLength;
  sampler.offer('acme', r.body, r.traces, r.layout, true);
  clock.advance(10_100);
  t.equal(r.body.byteLength, size);
  t.same(out.spans().map((s) => s.name), ['kept'], 'the kept span reached the sink intact');
});

t.test('a body not owned (the tee still holds it) is left to the GC', async (t) => {
  const { clock, sampler } = setup();
  const r = owning(spansOf({ traceId: traceId(4), name: 'teed', parentSpanId: P }));
  const size = r.body.byteLength;
  sampler.offer('acme', r.body, r.traces, r.layout);
  clock.advance(10_100);
  t.equal(sampler.stats().traces, 0);
  t.equal(r.body.byteLength, size);
});

t.test('a body that is a view into a larger buffer is never detached', async (t) => {
  const { clock, sampler } = setup();
  const r = spansOf({ traceId: traceId(5), name: 'pooled', parentSpanId: P });
  const backing = new Uint8Array(r.body.byteLength + 16);
  backing.set(r.body, 8);
  const body = backing.subarray(8, 8 + r.body.byteLength);
  sampler.offer('acme', body, r.traces, r.layout, true);
  clock.advance(10_100);
  t.equal(sampler.stats().traces, 0);
  t.equal(backing.byteLength, r.body.byteLength + 16, 'the shared buffer is intact');
});
