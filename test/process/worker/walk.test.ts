import t, { type Test } from 'tap';
import { MAX_ANY_VALUE_DEPTH, MAX_MESSAGE_DEPTH, walkRequest, type WalkResult } from '../../../src/process/worker/walk.js';
import { referenceProcess } from '../../../src/process/reference/reference.js';
import type { Signal } from '../../../src/signals.js';
import {
  anyInt,
  anyString,
  bytes,
  double,
  doubleBytes,
  fixed32,
  fixed64,
  kv,
  le,
  len,
  logsRequest,
  metricsRequest,
  msg,
  nest,
  raw,
  span,
  str,
  tag,
  tracesRequest,
  varint,
  vint,
  type Bytes,
} from '../../helpers/wire-builder.js';

const T1 = '0102030405060708090a0b0c0d0e0f10';
const T2 = 'ffeeddccbbaa99887766554433221100';
const S1 = '1111111111111111';
const S2 = '2222222222222222';

function ok(t: Test, r: WalkResult): asserts r is Extract<WalkResult, { ok: true }> {
  if (!r.ok) t.fail(`expected acceptance, got: ${r.message}`);
}
function refused(t: Test, r: WalkResult, pattern: RegExp): void {
  if (r.ok) t.fail(`expected a refusal matching ${pattern}`);
  else t.match(r.message, pattern);
}
/** The reference (protobufjs) path must accept whatever the walker accepts. */
function referenceAccepts(t: Test, signal: Signal, body: Uint8Array): void {
  const r = referenceProcess(signal, body);
  t.equal(r.status, 'ok', `reference accepts too${r.status === 'rejected' ? `: ${r.message}` : ''}`);
}

t.test('an empty request is valid and holds nothing', async (t) => {
  for (const signal of ['traces', 'metrics', 'logs'] as const) {
    const r = walkRequest(signal, new Uint8Array(0));
    ok(t, r);
    t.equal(r.items, 0);
    t.equal(r.foreignTopLevel, false);
  }
  const r = walkRequest('traces', new Uint8Array(0));
  ok(t, r);
  t.same(r.traces, []);
});

t.test('traces: spans are counted and grouped by trace id in first-seen order', async (t) => {
  const big = 2n ** 63n + 12345n; // above 2^53 and with the top bit set: exact and unsigned
  const body = tracesRequest(
    span({ traceId: T2, spanId: S1, parentSpanId: S2, start: 500n, end: 900n, statusCode: 1 }),
    span({ traceId: T1, spanId: S1, start: 100n, end: 200n, attributes: [kv('a', anyString('x'))] }),
    span({ traceId: T2, spanId: S2, start: 300n, end: big, statusCode: 2 }),
    span({ spanId: S2, start: 7n, end: 8n }),
    span({ traceId: T1, spanId: S2, parentSpanId: S1, start: 50n, end: 60n }),
  );
  const r = walkRequest('traces', body);
  ok(t, r);
  t.equal(r.items, 5);
  t.same(r.traces, [
    { traceId: T2, spans: 2, error: true, root: true, startNs: 300n, endNs: big },
    { traceId: T1, spans: 2, error: false, root: true, startNs: 50n, endNs: 200n },
    { traceId: '', spans: 1, error: false, root: true, startNs: 7n, endNs: 8n },
  ]);
  const ref = referenceProcess('traces', body);
  t.equal(ref.status, 'ok');
  if (ref.status === 'ok') t.same(r.traces, ref.traces, 'the same summary as the reference');
});

t.test('traces: the last occurrence of a field wins, and repeated Status messages merge', async (t) => {
  const s = msg(
    span({ traceId: T1, parentSpanId: S1, start: 10n, end: 20n }),
    raw(1, []), // trace_id again, empty: the span has no trace id
    raw(4, []), // parent_span_id again, empty: the span is a root
    fixed64(7, 5n),
    len(15, vint(3, 2)), // status { code: ERROR }
    len(15, str(2, 'more')), // status { message } merges, code stays ERROR
  );
  const r = walkRequest('traces', tracesRequest(s));
  ok(t, r);
  t.same(r.traces, [{ traceId: '', spans: 1, error: true, root: true, startNs: 5n, endNs: 20n }]);
  const ref = referenceProcess('traces', tracesRequest(s));
  if (ref.status === 'ok') t.same(r.traces, ref.traces, 'as protobufjs decodes it');
  else t.fail(ref.message);
});

t.test('traces: a status code above 32 bits keeps its low 32 bits, as int32 enums do', async (t) => {
  const s = msg(span({ traceId: T1 }), len(15, vint(3, 2n ** 32n + 2n)));
  const r = walkRequest('traces', tracesRequest(s));
  ok(t, r);
  t.equal(r.traces?.[0]?.error, true);
  const ref = referenceProcess('traces', tracesRequest(s));
  if (ref.status === 'ok') t.same(r.traces, ref.traces);
  else t.fail(ref.message);
});

t.test('traces: thousands of distinct traces group correctly', async (t) => {
  const spans: Bytes[] = [];
  for (let i = 0; i < 5000; i++) {
    const id = (i % 2500).toString(16).padStart(32, '0');
    spans.push(span({ traceId: id, spanId: S1, start: BigInt(i), end: BigInt(i + 10), statusCode: i === 4999 ? 2 : 0 }));
  }
  const r = walkRequest('traces', tracesRequest(...spans));
  ok(t, r);
  t.equal(r.items, 5000);
  t.equal(r.traces?.length, 2500);
  t.same(r.traces?.[0], { traceId: '0'.repeat(32), spans: 2, error: false, root: true, startNs: 0n, endNs: 2510n });
  t.same(r.traces?.[2499], { traceId: (2499).toString(16).padStart(32, '0'), spans: 2, error: true, root: true, startNs: 2499n, endNs: 5009n });
  t.ok(r.traces?.every((g, i) => g.traceId === i.toString(16).padStart(32, '0') && g.spans === 2), 'first-seen order, two spans each');
  // The next request starts from a clean table.
  const again = walkRequest('traces', tracesRequest(span({ traceId: T1 })));
  ok(t, again);
  t.same(again.traces?.map((g) => [g.traceId, g.spans]), [[T1, 1]]);
});

t.test('metrics: data points of all five types are counted', async (t) => {
  const point = msg(fixed64(3, 1n), double(4, 1.5));
  const histPoint = msg(fixed64(4, 3n), len(6, le(1n, 8), le(2n, 8)), len(7, doubleBytes(10)));
  const expPoint = msg(vint(6, 3), len(8, vint(1, 2), len(2, varint(1), varint(2))));
  const summaryPoint = msg(fixed64(4, 2n), double(5, 3.5), len(6, double(1, 0.5), double(2, 1)));
  const body = metricsRequest(
    msg(str(1, 'g'), len(5, len(1, point), len(1, point))),
    msg(str(1, 's'), len(7, len(1, point), vint(2, 2), vint(3, 1))),
    msg(str(1, 'h'), len(9, len(1, histPoint), len(1, histPoint), len(1, histPoint), vint(2, 1))),
    msg(str(1, 'e'), len(10, len(1, expPoint))),
    msg(str(1, 'q'), len(11, len(1, summaryPoint), len(1, summaryPoint))),
    msg(str(1, 'empty')),
  );
  const r = walkRequest('metrics', body);
  ok(t, r);
  t.equal(r.items, 9);
  t.equal(r.traces, undefined);
  referenceAccepts(t, 'metrics', body);
});

t.test('metrics: repeated fixed64/double fields are accepted packed and unpacked', async (t) => {
  const packed = msg(len(6, le(1n, 8), le(2n, 8), le(3n, 8)), len(7, doubleBytes(1), doubleBytes(2)));
  const unpacked = msg(fixed64(6, 1n), fixed64(6, 2n), fixed64(6, 3n), double(7, 1), double(7, 2));
  const mixed = msg(fixed64(6, 1n), len(6, le(2n, 8), le(3n, 8)), double(7, 1), len(7, doubleBytes(2)));
  for (const [name, point] of [['packed', packed], ['unpacked', unpacked], ['mixed', mixed]] as const) {
    const body = metricsRequest(msg(str(1, 'h'), len(9, len(1, point))));
    const r = walkRequest('metrics', body);
    ok(t, r);
    t.equal(r.items, 1, name);
    referenceAccepts(t, 'metrics', body);
  }
  // Exponential histogram buckets: repeated uint64, packed varints or unpacked.
  for (const buckets of [len(2, varint(1), varint(2n ** 64n - 1n)), msg(vint(2, 1), vint(2, 2n ** 64n - 1n))]) {
    const body = metricsRequest(msg(len(10, len(1, len(8, buckets)))));
    ok(t, walkRequest('metrics', body));
    referenceAccepts(t, 'metrics', body);
  }
});

t.test('metrics: malformed packed runs are refused', async (t) => {
  const body = metricsRequest(msg(str(1, 'h'), len(9, len(1, len(6, le(1n, 8), [1, 2, 3, 4])))));
  refused(t, walkRequest('metrics', body), /^resource_metrics\[0\]\.scope_metrics\[0\]\.metrics\[0\]\.histogram\.data_points\[0\]: field 6 \(bucket_counts\) packed length 12 is not a multiple of 8 \(offset \d+\)$/);
  const exp = metricsRequest(msg(len(10, len(1, len(9, len(2, varint(1), [0x80])))))); // last varint cut short
  refused(t, walkRequest('metrics', exp), /exponential_histogram\.data_points\[0\]\.negative: field 2 \(bucket_counts\) packed varints: truncated/);
  const wrong = metricsRequest(msg(len(9, len(1, fixed32(6, 1)))));
  refused(t, walkRequest('metrics', wrong), /field 6 \(bucket_counts\) has wire type 5, expected 2/);
});

t.test('logs: records are counted; bodies of every AnyValue kind are accepted', async (t) => {
  const body = logsRequest(
    msg(fixed64(1, 1n), vint(2, 9), str(3, 'INFO'), len(5, anyString('hello')), raw(9, Buffer.from(T1, 'hex')), raw(10, Buffer.from(S1, 'hex')), fixed32(8, 1), str(12, 'ev')),
    msg(len(5, len(5, len(1, anyInt(-1)), len(1, double(4, 2.5)), len(1, vint(2, 1)), len(1, raw(7, [0, 1, 255]))))),
    msg(len(5, len(6, len(1, kv('k', anyString('v')), kv('n', len(6, len(1, kv('deep', anyInt(1))))))))),
    msg(),
  );
  const r = walkRequest('logs', body);
  ok(t, r);
  t.equal(r.items, 4);
  referenceAccepts(t, 'logs', body);
});

t.test('wrong wire types are refused with the field path and the offset', async (t) => {
  // resource_spans[0].scope_spans[1].spans[4].attributes[2].value sent as a varint.
  const attrs = [kv('a', anyString('1')), kv('b', anyString('2')), msg(str(1, 'c'), vint(2, 5))];
  const spans = [0, 1, 2, 3].map(() => span({ traceId: T1 }));
  spans.push(span({ traceId: T1, attributes: attrs }));
  const scope0 = len(2, len(2, span({ traceId: T1 })));
  const scope1 = len(2, ...spans.map((s) => len(2, s)));
  const body = bytes(len(1, scope0, scope1));
  const r = walkRequest('traces', body);
  refused(t, r, /^resource_spans\[0\]\.scope_spans\[1\]\.spans\[4\]\.attributes\[2\]: field 2 \(value\) has wire type 0, expected 2 \(offset (\d+)\)$/);
  if (!r.ok) {
    const offset = Number(/offset (\d+)/.exec(r.message)![1]);
    t.equal(body[offset], 0x10, 'the offset points at the offending tag (field 2, wire type 0)');
  }

  refused(t, walkRequest('traces', tracesRequest(msg(fixed32(7, 1)))), /spans\[0\]: field 7 \(start_time_unix_nano\) has wire type 5, expected 1/);
  refused(t, walkRequest('traces', tracesRequest(msg(vint(5, 1)))), /spans\[0\]: field 5 \(name\) has wire type 0, expected 2/);
  refused(t, walkRequest('traces', tracesRequest(msg(fixed64(16, 1n)))), /spans\[0\]: field 16 \(flags\) has wire type 1, expected 5/);
  refused(t, walkRequest('traces', tracesRequest(msg(str(10, 'x')))), /spans\[0\]: field 10 \(dropped_attributes_count\) has wire type 2, expected 0/);
  refused(t, walkRequest('logs', bytes(vint(1, 1))), /^ExportLogsServiceRequest: field 1 \(resource_logs\) has wire type 0, expected 2 \(offset 0\)$/);
});

t.test('unknown fields are skipped by wire type; groups and invalid wire types are refused', async (t) => {
  const unknowns = msg(vint(99, 2n ** 63n), fixed64(100, 1n), fixed32(101, 1), str(102, 'x'), vint(2 ** 29 - 1, 1), str(1000, 'reserved field'));
  const body = tracesRequest(msg(span({ traceId: T1 }), unknowns));
  const r = walkRequest('traces', body);
  ok(t, r);
  t.equal(r.items, 1);
  t.equal(r.foreignTopLevel, false, 'nested unknown fields stay where they are');
  referenceAccepts(t, 'traces', body);

  const top = bytes(vint(2, 7), [...tracesRequest(span({ traceId: T1 }))], str(3, 'x'));
  const rt = walkRequest('traces', top);
  ok(t, rt);
  t.equal(rt.foreignTopLevel, true);

  refused(t, walkRequest('traces', tracesRequest(msg(tag(50, 3), tag(50, 4)))), /spans\[0\]: field 50 has group wire type 3, which OTLP does not use/);
  refused(t, walkRequest('traces', tracesRequest(msg(tag(50, 4)))), /field 50 has group wire type 4/);
  refused(t, walkRequest('traces', tracesRequest(msg(tag(50, 6), [0]))), /field 50 has invalid wire type 6/);
  refused(t, walkRequest('traces', tracesRequest(msg(tag(50, 7), [0]))), /field 50 has invalid wire type 7/);
  refused(t, walkRequest('traces', tracesRequest(msg([0x00, 0x01]))), /spans\[0\]: field number 0 is invalid/);
  refused(t, walkRequest('traces', bytes([0x80, 0x80, 0x80, 0x80, 0x10])), /^ExportTraceServiceRequest: tag: tag is not a 32-bit varint \(offset 0\)$/);
});

t.test('truncation anywhere is refused (or lands on a field boundary), never thrown', async (t) => {
  const body = tracesRequest(span({ traceId: T1, spanId: S1, name: 'n', start: 1n, end: 2n, attributes: [kv('k', anyString('v'))], statusCode: 2 }));
  let accepted = 0;
  for (let cut = 0; cut < body.length; cut++) {
    const r = walkRequest('traces', body.subarray(0, cut));
    if (r.ok) accepted++;
    else t.match(r.message, /(truncated|exceeds the enclosing message)/, `cut at ${cut}`);
  }
  t.equal(accepted, 1, 'only the empty prefix is a whole request');
  refused(t, walkRequest('traces', tracesRequest(msg(tag(7, 1), [1, 2, 3]))), /field 7 \(start_time_unix_nano\) truncated/);
});

t.test('lengths that overflow their parent are refused', async (t) => {
  // A span whose name claims 50 bytes inside a span of 10.
  const inner = [...tag(5, 2), 50, ...Buffer.from('abcdefg')];
  const body = bytes(len(1, len(2, len(2, inner))));
  refused(t, walkRequest('traces', body), /^resource_spans\[0\]\.scope_spans\[0\]\.spans\[0\]: field 5 \(name\) length exceeds the enclosing message/);
  // The request-level length larger than the body.
  refused(t, walkRequest('traces', bytes([...tag(1, 2), ...varint(1000)], [0, 0])), /^ExportTraceServiceRequest: field 1 \(resource_spans\) length exceeds the enclosing message \(offset 0\)$/);
  // A 5-byte length beyond 2^31.
  refused(t, walkRequest('traces', bytes([...tag(1, 2), 0xff, 0xff, 0xff, 0xff, 0x0f])), /length prefix is not a 32-bit varint/);
});

t.test('varints: 10 bytes are fine, 11 bytes or 64-bit overflow are refused', async (t) => {
  const ten = tracesRequest(msg(span({ traceId: T1 }), vint(6, -1))); // kind = -1: a 10-byte varint
  ok(t, walkRequest('traces', ten));
  referenceAccepts(t, 'traces', ten);
  const eleven = tracesRequest(msg(tag(6, 0), Array(10).fill(0xff), [0x01]));
  refused(t, walkRequest('traces', eleven), /spans\[0\]: field 6 \(kind\) varint longer than 10 bytes/);
  const overflow = tracesRequest(msg(tag(6, 0), Array(9).fill(0xff), [0x03]));
  refused(t, walkRequest('traces', overflow), /field 6 \(kind\) varint overflows 64 bits/);
  const unknown = tracesRequest(msg(tag(77, 0), Array(10).fill(0x80), [0x00]));
  refused(t, walkRequest('traces', unknown), /field 77 varint longer than 10 bytes/);
  // Non-minimal (but valid) encodings: a 2-byte tag and a 2-byte length.
  const nonMinimal = bytes([0x8a, 0x00, 0x80, 0x00]);
  const r = walkRequest('traces', nonMinimal);
  ok(t, r);
  referenceAccepts(t, 'traces', nonMinimal);
});

t.test('strings must be valid UTF-8; bytes may hold anything', async (t) => {
  const bad = tracesRequest(msg(span({ traceId: T1, attributes: [kv('k', raw(1, [0x61, 0xff]))] })));
  refused(t, walkRequest('traces', bad), /spans\[0\]\.attributes\[0\]\.value: field 1 \(string_value\) is not valid UTF-8/);
  t.equal(referenceProcess('traces', bad).status, 'rejected', 'protobufjs refuses it too');
  const badKey = tracesRequest(msg(span({ traceId: T1 }), len(9, raw(1, [0xc0, 0x80]))));
  refused(t, walkRequest('traces', badKey), /attributes\[0\]: field 1 \(key\) is not valid UTF-8/);
  const okBytes = tracesRequest(msg(span({ traceId: T1, attributes: [kv('k', raw(7, [0xff, 0xfe]))] })));
  ok(t, walkRequest('traces', okBytes));
});

t.test('attributes in the common shape (checked in one step) are accepted and refused as field by field', async (t) => {
  const long = 'x'.repeat(200); // a two-byte length
  const huge = 'y'.repeat(20_000); // a three-byte length: not the shortcut's shape
  const cases: Array<[string, Bytes, RegExp | null]> = [
    ['string', kv('k', anyString('v')), null],
    ['empty key and value', kv('', anyString('')), null],
    ['empty AnyValue', kv('k', []), null],
    ['bool', kv('k', vint(2, 1)), null],
    ['int', kv('k', anyInt(-5n)), null],
    ['double', kv('k', double(4, 1.5)), null],
    ['bytes', kv('k', raw(7, [0xff, 0x00])), null],
    ['two-byte lengths', kv(long, anyString(long)), null],
    ['three-byte lengths', kv('k', anyString(huge)), null],
    ['value before key', msg(len(2, anyString('v')), str(1, 'k')), null],
    ['a second value', msg(kv('k', anyString('v')), len(2, anyString('w'))), null],
    ['an unknown field after the value', msg(kv('k', anyString('v')), vint(9, 1)), null],
    ['two scalars in the value', kv('k', msg(anyString('v'), vint(3, 1))), null],
    ['invalid UTF-8 key', msg(raw(1, [0x61, 0xff]), len(2, anyString('v'))), /spans\[0\]\.attributes\[1\]: field 1 \(key\) is not valid UTF-8/],
    ['invalid UTF-8 value', kv('k', raw(1, [0xed, 0xa0, 0x80])), /spans\[0\]\.attributes\[1\]\.value: field 1 \(string_value\) is not valid UTF-8/],
    ['a double of 7 bytes', kv('k', [...tag(4, 1), 1, 2, 3, 4, 5, 6, 7]), /spans\[0\]\.attributes\[1\]\.value: field 4 \(double_value\) truncated/],
    ['an int varint of 11 bytes', kv('k', [...tag(3, 0), ...Array(10).fill(0xff), 0x01]), /spans\[0\]\.attributes\[1\]\.value: field 3 \(int_value\)/],
    ['a string past the value', msg(str(1, 'k'), [...tag(2, 2), 3, ...tag(1, 2), 5, 0x61, 0x62]), /spans\[0\]\.attributes\[1\]\.value: field 1 \(string_value\)/],
  ];
  for (const [name, attribute, refusal] of cases) {
    const body = tracesRequest(msg(span({ traceId: T1, spanId: S1, attributes: [kv('before', anyString('ok')), attribute] })));
    const r = walkRequest('traces', body);
    const reference = referenceProcess('traces', body).status;
    if (refusal === null) {
      t.ok(r.ok, `${name}: accepted${r.ok ? '' : `, not refused: ${r.message}`}`);
      t.equal(reference, 'ok', `${name}: protobufjs accepts it too`);
    } else {
      t.notOk(r.ok, `${name}: refused`);
      if (!r.ok) t.match(r.message, refusal, `${name}: the field-by-field message`);
      t.equal(reference, 'rejected', `${name}: protobufjs refuses it too`);
    }
  }
  // An attribute whose value would be one AnyValue too deep is never taken in one step.
  let value: Bytes = len(6, len(1, kv('k', anyString('leaf')))); // a kvlist holding the attribute
  for (let i = 2; i < MAX_ANY_VALUE_DEPTH; i++) value = len(5, len(1, value));
  ok(t, walkRequest('logs', logsRequest(len(5, len(5, len(1, anyString('x')))))));
  const atLimit = logsRequest(len(5, value)); // the kvlist is the 31st AnyValue: its attribute's value the 32nd
  ok(t, walkRequest('logs', atLimit));
  referenceAccepts(t, 'logs', atLimit);
  const tooDeep = logsRequest(len(5, len(5, len(1, value))));
  refused(t, walkRequest('logs', tooDeep), new RegExp(`field 2 \\(value\\) nests AnyValues deeper than ${MAX_ANY_VALUE_DEPTH} levels`));
});

t.test('ids must be 16 (trace) or 8 (span) bytes, or empty', async (t) => {
  refused(t, walkRequest('traces', tracesRequest(msg(raw(1, [1, 2, 3])))), /spans\[0\]: field 1 \(trace_id\) must be 16 bytes or empty, got 3/);
  refused(t, walkRequest('traces', tracesRequest(msg(raw(4, Array(16).fill(1))))), /field 4 \(parent_span_id\) must be 8 bytes or empty, got 16/);
  refused(t, walkRequest('traces', tracesRequest(msg(len(13, raw(2, [1]))))), /spans\[0\]\.links\[0\]: field 2 \(span_id\) must be 8 bytes or empty, got 1/);
  refused(t, walkRequest('logs', logsRequest(msg(raw(9, [1])))), /log_records\[0\]: field 9 \(trace_id\) must be 16 bytes or empty/);
  refused(t, walkRequest('metrics', metricsRequest(msg(len(5, len(1, len(5, raw(5, [1]))))))), /exemplars\[0\]: field 5 \(trace_id\) must be 16 bytes or empty/);
});

/** A log record whose body nests `depth` AnyValues through array_value. */
function nestedArrays(depth: number): Uint8Array {
  let value: Bytes = anyString('leaf');
  for (let i = 1; i < depth; i++) value = len(5, len(1, value));
  return logsRequest(len(5, value));
}

t.test(`AnyValues nest at most ${MAX_ANY_VALUE_DEPTH} deep`, async (t) => {
  const atLimit = nestedArrays(MAX_ANY_VALUE_DEPTH);
  ok(t, walkRequest('logs', atLimit));
  referenceAccepts(t, 'logs', atLimit);
  refused(t, walkRequest('logs', nestedArrays(MAX_ANY_VALUE_DEPTH + 1)), new RegExp(`field 1 \\(values\\) nests AnyValues deeper than ${MAX_ANY_VALUE_DEPTH} levels`));
});

t.test('10,000 levels of nesting are refused without overflowing the stack', async (t) => {
  // Built as raw bytes: arrays of arrays of arrays..., 10,000 AnyValues deep.
  const depth = 10_000;
  const body = logsRequest(len(5, nest(anyString('x'), depth - 1, [1, 5])));
  const started = process.hrtime.bigint();
  const r = walkRequest('logs', body);
  t.ok(process.hrtime.bigint() - started < 1_000_000_000n, 'answered quickly');
  refused(t, r, /nests AnyValues deeper than/);
});

t.test(`messages nest at most ${MAX_MESSAGE_DEPTH} deep, as in protobufjs`, async (t) => {
  // A histogram exemplar's attribute value: its AnyValues sit at message depth 8, 11, 14, ...
  const exemplarChain = (levels: number): Uint8Array => {
    let v: Bytes = anyString('x');
    for (let i = 1; i < levels; i++) v = len(6, len(1, kv('k', v)));
    return metricsRequest(msg(len(9, len(1, len(8, len(7, kv('k', v)))))));
  };
  const deepest = exemplarChain(31); // the 31st AnyValue at depth 98
  ok(t, walkRequest('metrics', deepest));
  referenceAccepts(t, 'metrics', deepest);
  const tooDeep = exemplarChain(32); // the 32nd at depth 101
  refused(t, walkRequest('metrics', tooDeep), new RegExp(`field 2 \\(value\\) nests messages deeper than ${MAX_MESSAGE_DEPTH} levels`));
  t.equal(referenceProcess('metrics', tooDeep).status, 'rejected', 'protobufjs refuses it too');
});

t.test('the path names singular fields without an index and counts repeated ones', async (t) => {
  const resource = len(1, len(1, msg(str(1, 'k'), len(2, vint(4, 1)))));
  const r = walkRequest('traces', bytes(len(1, resource)));
  refused(t, r, /^resource_spans\[0\]\.resource\.attributes\[0\]\.value: field 4 \(double_value\) has wire type 0, expected 1/);
  const scope = len(2, len(1, str(1, 'ok'), vint(2, 1)));
  refused(t, walkRequest('logs', bytes(len(1, scope))), /^resource_logs\[0\]\.scope_logs\[0\]\.scope: field 2 \(version\) has wire type 0, expected 2/);
  const second = bytes(len(1), len(1), len(1, len(2), len(2), len(2, len(2, msg()), len(2, msg(vint(5, 1))))));
  refused(t, walkRequest('logs', second), /^resource_logs\[2\]\.scope_logs\[2\]\.log_records\[1\]: field 5 \(body\) has wire type 0, expected 2/);
});
