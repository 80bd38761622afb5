// Locating traces in a body (locate-traces.ts, the worker's share) and writing a trace's run from the
// layout (write-traces.ts, the sampler's), together: what is written must be what splitByTrace lays out.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { TraceSummary } from '../../../src/process/protocol.js';
import { otlpJsonToProtobuf } from '../../../src/process/wire/otlp-json.js';
import { processRequest } from '../../../src/process/worker/process-request.js';
import { layoutTraces, traceSize } from '../../../src/process/wire/trace-layout.js';
import { locateTraceColumns, locateTraces } from '../../../src/process/wire/locate-traces.js';
import { splitByTrace, writeTrace } from '../../../src/process/wire/write-traces.js';
import { summariesOf } from '../../../src/process/wire/trace-columns.js';
import { walkRequest } from '../../../src/process/worker/walk.js';
import { generateRequestPool } from '../../../bench/generate.js';
import { otlpJsonFixtures } from '../../helpers/fixtures.js';
import { flattenRequests, type FlatItem } from '../../helpers/flatten.js';
import { createRng, generateRequest } from '../../helpers/generate-otlp.js';
import { bytes, fixed64, len, raw, span, str, hex, vint } from '../../helpers/wire-builder.js';

const A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const C = '0102030405060708090a0b0c0d0e0f10';

function summaries(body: Uint8Array): TraceSummary[] {
  const w = walkRequest('traces', body);
  if (!w.ok) throw new Error(w.message);
  return w.traces!;
}

/** The trace id of a flattened span, as decodeForComparison renders bytes (hex). */
const traceOf = (f: FlatItem): string => ((f.item as { traceId?: string }).traceId ?? '').toLowerCase();

/** The walk's columns (the worker's form) say what its summaries say, and locate the traces the same. */
function checkColumns(t: Test, body: Uint8Array, traces: readonly TraceSummary[], label: string): void {
  const w = walkRequest('traces', body, 'columns');
  if (!w.ok || !w.traceColumns) return void t.fail(`${label}: columns`);
  t.equal(w.traces, undefined, `${label}: columns instead of objects`);
  t.same(summariesOf(w.traceColumns), traces.map(({ offset: _o, length: _l, ...rest }) => rest), `${label}: columns hold the summaries`);
  t.same(locateTraceColumns(body, w.traceColumns), locateTraces(body, traces), `${label}: and the same layout`);
}

/**
 * Splits `body` and checks the whole contract: same spans (with their resource and scope) overall, one
 * contiguous run per trace in summary order, each run decoding to exactly that trace's spans, and the
 * output walking to the same summaries.
 */
function checkSplit(t: Test, body: Uint8Array, label: string): { out: Uint8Array; traces: TraceSummary[] } {
  const traces = summaries(body);
  checkColumns(t, body, traces, label);
  const before = traces.map((s) => ({ ...s }));
  const out = splitByTrace(body, traces);
  t.same(flattenRequests('traces', [out]), flattenRequests('traces', [body]), `${label}: decoded spans equal`);
  let expectOffset = 0;
  for (const s of traces) {
    t.equal(s.offset, expectOffset, `${label}: ${s.traceId} starts where the previous run ended`);
    expectOffset += s.length!;
    const range = out.subarray(s.offset!, s.offset! + s.length!);
    const flat = flattenRequests('traces', [range]);
    t.equal(flat.length, s.spans, `${label}: the run of ${s.traceId || '(empty id)'} has its ${s.spans} spans`);
    t.ok(flat.every((f) => traceOf(f) === s.traceId), `${label}: and only spans of ${s.traceId || '(empty id)'}`);
    const w = walkRequest('traces', range);
    t.ok(w.ok && w.traces!.length === 1 && w.traces![0]!.traceId === s.traceId, `${label}: the run is a valid request of one trace`);
  }
  // A body without spans has no runs and is returned as is.
  t.equal(expectOffset, traces.length === 0 ? 0 : out.length, `${label}: the runs cover the output`);
  if (traces.length === 0) t.equal(out, body, `${label}: no spans: the body as is`);
  const again = summaries(out).map(({ offset: _o, length: _l, ...rest }) => rest);
  t.same(again, before.map(({ offset: _o, length: _l, ...rest }) => rest), `${label}: the output has the same summaries`);
  checkLocate(t, body, traces, out, label);
  return { out, traces };
}

/**
 * locateTraces leaves the body alone; writeTrace builds exactly the run splitByTrace lays out for a
 * trace, and a subset of traces written in any order decodes to exactly their spans.
 */
function checkLocate(t: Test, body: Uint8Array, traces: TraceSummary[], out: Uint8Array, label: string): void {
  const copy = Uint8Array.from(body);
  const layout = locateTraces(body, traces);
  t.ok(Buffer.from(body).equals(copy), `${label}: locateTraces leaves the body as it is`);
  if (traces.length <= 1) {
    t.equal(layout, null, `${label}: at most one trace: no layout`);
    return;
  }
  t.equal(layoutTraces(layout!), traces.length, `${label}: one layout entry per trace`);
  for (const [i, s] of traces.entries()) {
    const run = Buffer.alloc(traceSize(layout!, i) + 3, 0xee);
    const end = writeTrace(body, layout!, i, run, 3);
    t.equal(end, run.length, `${label}: writeTrace of ${s.traceId || '(empty id)'} writes traceSize bytes`);
    t.ok(run.subarray(3).equals(out.subarray(s.offset!, s.offset! + s.length!)), `${label}: the same bytes as the split's run`);
  }
  // Every other trace, last first: what the sampler writes for the kept traces of a partly kept body.
  const picked = traces.map((_, i) => i).filter((i) => i % 2 === 1).reverse();
  let size = 0;
  for (const i of picked) size += traceSize(layout!, i);
  const sub = new Uint8Array(size);
  let at = 0;
  for (const i of picked) at = writeTrace(body, layout!, i, sub, at);
  t.equal(at, size, `${label}: the subset fills its size`);
  const ids = new Set(picked.map((i) => traces[i]!.traceId));
  t.same(flattenRequests('traces', [sub]), flattenRequests('traces', [body]).filter((f) => ids.has(traceOf(f))), `${label}: a subset decodes to exactly its traces' spans, each with its resource and scope`);
}

t.test('interleaved traces across resources and scopes: each run carries its resource and scope', async (t) => {
  const res1 = len(1, len(1, str(1, 'service.name'), len(2, str(1, 'checkout')))); // resource { attributes }
  const res2 = len(1, len(1, str(1, 'service.name'), len(2, str(1, 'payments'))));
  const scope = (name: string) => len(1, str(1, name));
  const body = bytes(
    len(
      1,
      res1,
      len(2, scope('http'), len(2, span({ traceId: A, name: 'a1' })), len(2, span({ traceId: B, name: 'b1', parentSpanId: '0000000000000001' })), str(3, 'https://schema/1')),
      len(2, scope('db'), len(2, span({ traceId: B, name: 'b2', parentSpanId: '0000000000000002' }))),
      str(3, 'https://schema/res1'),
    ),
    len(1, len(2, len(2, span({ traceId: A, name: 'a2', parentSpanId: '0000000000000003' })), scope('late-scope')), res2),
  );
  const { out, traces } = checkSplit(t, body, 'handmade');
  t.same(traces.map((s) => [s.traceId, s.spans]), [[A, 2], [B, 2]]);
  t.ok(out.length > body.length, 'resources and scopes are repeated per trace');

  // The run of B: one resource (res1) holding two scopes; A: two resources.
  const rangeOf = (s: TraceSummary) => out.subarray(s.offset!, s.offset! + s.length!);
  const b = flattenRequests('traces', [rangeOf(traces[1]!)]);
  t.same(b.map((f) => [(f.scope as { name: string }).name, f.scopeSchemaUrl ?? '', f.resourceSchemaUrl]), [
    ['db', '', 'https://schema/res1'],
    ['http', 'https://schema/1', 'https://schema/res1'],
  ]);
  const a = flattenRequests('traces', [rangeOf(traces[0]!)]);
  t.same(a.map((f) => (f.item as { name: string }).name).sort(), ['a1', 'a2']);
});

t.test('spans without a trace id form their own run; empty resources and scopes are left out', async (t) => {
  const body = bytes(
    len(1, len(2, len(2, span({ name: 'no-id' })), len(2, span({ traceId: C, name: 'c' })), len(2, raw(1, []), str(5, 'empty-id')))),
    len(1, len(1, len(1, str(1, 'k'), len(2, str(1, 'v'))))), // a resource without scope_spans
    len(1, len(2, len(1, str(1, 'empty-scope')))), // a scope without spans
  );
  const { out, traces } = checkSplit(t, body, 'empty ids');
  t.same(traces.map((s) => [s.traceId, s.spans]), [['', 2], [C, 1]]);
  t.equal(flattenRequests('traces', [out]).length, 3);
});

t.test('the last trace_id field of a span wins, as protobuf decoding has it', async (t) => {
  const body = bytes(len(1, len(2, len(2, raw(1, hex(A)), str(5, 'x'), raw(1, hex(B))), len(2, span({ traceId: A, name: 'y' })))));
  const { traces } = checkSplit(t, body, 'last wins');
  t.same(traces.map((s) => [s.traceId, s.spans]), [[B, 1], [A, 1]]);
});

t.test('one trace: the body itself, whole', async (t) => {
  const body = bytes(len(1, len(2, len(2, span({ traceId: A, name: 'x', start: 1n, end: 2n })), len(2, span({ traceId: A, name: 'y' })))));
  const traces = summaries(body);
  t.equal(splitByTrace(body, traces), body);
  t.same([traces[0]!.offset, traces[0]!.length], [0, body.length]);
  t.equal(splitByTrace(new Uint8Array(0), []).length, 0, 'no spans, nothing to do');
});

t.test('unknown fields in resource_spans, scope_spans and spans are kept verbatim', async (t) => {
  const body = bytes(
    len(1, vint(77, 5), len(2, fixed64(99, 7n), len(2, span({ traceId: A, extra: [vint(200, 1)] })), len(2, span({ traceId: B })))),
  );
  const { out } = checkSplit(t, body, 'unknown fields');
  // Each run repeats the resource's and the scope's unknown fields (5 bytes: tag 77 is two bytes).
  const n77 = [...out].filter((_, i) => out[i] === 0xe8 && out[i + 1] === 0x04).length;
  t.equal(n77, 2, 'the unknown resource_spans field is in both runs');
});

t.test('contract violations throw rather than produce a wrong layout', async (t) => {
  const body = bytes(len(1, len(2, len(2, span({ traceId: A })), len(2, span({ traceId: B })))));
  t.throws(() => splitByTrace(body, [summaries(body)[0]!, { ...summaries(body)[0]!, traceId: C }]), /no summary has/);
});

t.test('the OTLP JSON example and generated requests (alone and concatenated)', async (t) => {
  const json = otlpJsonToProtobuf('traces', readFileSync(join(otlpJsonFixtures, 'trace.json')));
  if (!json.ok) throw new Error(json.message);
  checkSplit(t, json.bytes, 'trace.json');
  const rng = createRng(42);
  let multi = 0;
  for (let i = 0; i < 150; i++) {
    const parts = Array.from({ length: 1 + (i % 4) }, () => generateRequest('traces', rng).bytes);
    const body = Buffer.concat(parts);
    if (summaries(body).length > 1) multi++;
    checkSplit(t, body, `generated #${i}`);
  }
  t.ok(multi > 50, `most generated bodies hold several traces (${multi})`);
});

t.test('processRequest with splitTraces returns the body as it is and the layout of its traces', async (t) => {
  const body = bytes(len(1, len(2, len(2, span({ traceId: A, name: 'a' })), len(2, span({ traceId: B, name: 'b' })), len(2, span({ traceId: A, name: 'a2' })))));
  const r = processRequest({ signal: 'traces', encoding: 'protobuf', body: body.slice(), tenant: 't', splitTraces: true });
  if (r.status !== 'ok') throw new Error('rejected');
  t.ok(Buffer.from(r.body).equals(body), 'the body, not regrouped');
  t.ok(r.traceLayout instanceof Int32Array, 'a layout');
  t.equal(r.traces, undefined, 'the summaries come as columns');
  t.same(summariesOf(r.traceColumns!).map((s) => [s.traceId, s.spans, s.offset]), [[A, 2, undefined], [B, 1, undefined]], 'no offsets: the layout locates the traces');
  const a = new Uint8Array(traceSize(r.traceLayout!, 0));
  writeTrace(r.body, r.traceLayout!, 0, a, 0);
  t.same(flattenRequests('traces', [a]).map((f) => (f.item as { name: string }).name), ['a', 'a2']);
  const one = processRequest({ signal: 'traces', encoding: 'protobuf', body: bytes(len(1, len(2, len(2, span({ traceId: A }))))), tenant: 't', splitTraces: true });
  t.ok(one.status === 'ok' && one.traceLayout === undefined, 'one trace: no layout (the body is the trace)');
  const plain = processRequest({ signal: 'traces', encoding: 'protobuf', body: body.slice(), tenant: 't' });
  t.ok(plain.status === 'ok' && plain.traceLayout === undefined, 'without splitTraces: no layout');
});

t.test('a realistic 500-span request (the bench generator)', async (t) => {
  const pool = generateRequestPool({ count: 4, spansPerRequest: 500, seed: 3 });
  for (const [i, body] of pool.requests.entries()) checkSplit(t, body, `bench #${i}`);
  // Cost per span, printed for the record only: cost is measured in the bench harness
  // (`node dist/bench/sampling.js micro|cpu`), never asserted in a unit test on a shared machine.
  const body = pool.requests[0]!;
  const base = summaries(body);
  const rounds = 200;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) splitByTrace(body, base.map((s) => ({ ...s })));
  const nsPerSpan = Number(process.hrtime.bigint() - t0) / (rounds * 500);
  t.comment(`splitByTrace: ${nsPerSpan.toFixed(0)} ns per span (${base.length} traces per request)`);
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) locateTraces(body, base);
  t.comment(`locateTraces: ${(Number(process.hrtime.bigint() - t1) / (rounds * 500)).toFixed(0)} ns per span`);
});
