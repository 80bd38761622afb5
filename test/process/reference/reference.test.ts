// The reference path is the oracle: its counts must match counts taken independently from the JSON, its
// trace summaries must match a hand-built request, it must refuse broken bytes with a located message and
// never throw, and its output must decode to the same content as its input.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { Signal } from '../../../src/signals.js';
import type { TraceSummary } from '../../../src/process/protocol.js';
import { otlpJsonToProtobuf } from '../../../src/process/wire/otlp-json.js';
import { requestType } from '../../../src/process/wire/otlp-schema.js';
import { decodeForComparison, locateWireError, referenceProcess } from '../../../src/process/reference/reference.js';
import { otlpJsonFixtures, piiFixtures } from '../../helpers/fixtures.js';

type Obj = Record<string, unknown>;
const u64 = (s: string) => (protobuf.util.Long as unknown as { fromString(s: string, unsigned: boolean): protobuf.Long }).fromString(s, true);
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

const FIXTURES: [string, string, Signal][] = [
  [otlpJsonFixtures, 'trace.json', 'traces'],
  [otlpJsonFixtures, 'metrics.json', 'metrics'],
  [otlpJsonFixtures, 'logs.json', 'logs'],
  [otlpJsonFixtures, 'events.json', 'logs'],
  [piiFixtures, 'traces.json', 'traces'],
  [piiFixtures, 'metrics.json', 'metrics'],
  [piiFixtures, 'logs.json', 'logs'],
];

/** Items counted on the JSON text itself, not through any code under test. */
function jsonItems(signal: Signal, json: Obj): number {
  let n = 0;
  if (signal === 'traces') for (const r of arr(json.resourceSpans)) for (const s of arr(r.scopeSpans)) n += arr(s.spans).length;
  if (signal === 'logs') for (const r of arr(json.resourceLogs)) for (const s of arr(r.scopeLogs)) n += arr(s.logRecords).length;
  if (signal === 'metrics') {
    for (const r of arr(json.resourceMetrics)) {
      for (const s of arr(r.scopeMetrics)) {
        for (const m of arr(s.metrics)) {
          // whatever the metric type is called, its data points are under <type>.dataPoints
          for (const v of Object.values(m)) if (v && typeof v === 'object' && !Array.isArray(v) && 'dataPoints' in v) n += arr((v as Obj).dataPoints).length;
        }
      }
    }
  }
  return n;
}

function bytesOf(signal: Signal, text: string): Uint8Array {
  const r = otlpJsonToProtobuf(signal, text);
  if (!r.ok) throw new Error(r.message);
  return r.bytes;
}

t.test('item counts on the fixtures match counts taken from the JSON', async (t) => {
  const seen: Record<string, number> = {};
  for (const [dir, file, signal] of FIXTURES) {
    const text = readFileSync(join(dir, file), 'utf8');
    const expected = jsonItems(signal, JSON.parse(text) as Obj);
    const r = referenceProcess(signal, bytesOf(signal, text));
    t.equal(r.status, 'ok', `${file}: ok`);
    if (r.status !== 'ok') continue;
    t.equal(r.items, expected, `${file}: ${expected} items`);
    t.equal(r.rejectedItems, 0);
    t.equal(r.traces !== undefined, signal === 'traces', `${file}: trace summaries only for traces`);
    seen[dir === piiFixtures ? `pii/${file}` : file] = r.items;
  }
  // the pii README states the sizes; a miscount of a whole metric type would show here
  t.equal(seen['pii/traces.json'], 120);
  t.equal(seen['pii/logs.json'], 40);
  t.equal(seen['pii/metrics.json'], 23);
});

t.test('the pii trace summaries agree with a JSON-side grouping', async (t) => {
  const text = readFileSync(join(piiFixtures, 'traces.json'), 'utf8');
  const json = JSON.parse(text) as Obj;
  const groups = new Map<string, { spans: number; error: boolean; root: boolean; start: bigint; end: bigint }>();
  for (const r of arr(json.resourceSpans)) {
    for (const s of arr(r.scopeSpans)) {
      for (const span of arr(s.spans)) {
        const id = String(span.traceId ?? '').toLowerCase();
        const g = groups.get(id) ?? { spans: 0, error: false, root: false, start: 2n ** 64n, end: 0n };
        g.spans++;
        g.error ||= (span.status as Obj | undefined)?.code === 2;
        g.root ||= !span.parentSpanId;
        const st = BigInt(String(span.startTimeUnixNano ?? 0));
        const en = BigInt(String(span.endTimeUnixNano ?? 0));
        if (st < g.start) g.start = st;
        if (en > g.end) g.end = en;
        groups.set(id, g);
      }
    }
  }
  const r = referenceProcess('traces', bytesOf('traces', text));
  if (r.status !== 'ok') return t.fail('rejected');
  t.equal(r.traces!.length, 12, '12 traces (README)');
  t.same(
    r.traces,
    [...groups].map(([traceId, g]) => ({ traceId, spans: g.spans, error: g.error, root: g.root, startNs: g.start, endNs: g.end })),
  );
  t.ok(r.traces!.some((x) => x.error) && r.traces!.some((x) => !x.error), 'the fixture has both erroring and clean traces');
});

t.test('trace summaries on a hand-built request', async (t) => {
  const type = requestType('traces');
  const id = (hex: string) => Buffer.from(hex, 'hex');
  const A = 'aa'.repeat(16);
  const B = 'bb'.repeat(16);
  const span = (trace: string, spanHex: string, parent: string, start: string, end: string, code?: number) => ({
    traceId: id(trace),
    spanId: id(spanHex),
    parentSpanId: id(parent),
    name: 's',
    startTimeUnixNano: u64(start),
    endTimeUnixNano: u64(end),
    ...(code === undefined ? {} : { status: { code } }),
  });
  const msg = type.fromObject({
    resourceSpans: [
      {
        scopeSpans: [
          { spans: [span(B, '0000000000000001', '00000000000000ff', '200', '300', 1), span(A, '0000000000000002', '0000000000000001', '150', '160')] },
          { spans: [span(A, '0000000000000003', '', '100', '120', 2)] },
        ],
      },
      {
        scopeSpans: [
          // beyond 2^63: the time range is compared as unsigned 64-bit values
          { spans: [span(B, '0000000000000004', '0000000000000001', '190', '18446744073709551615', 0), span('', '0000000000000005', '', '5', '6')] },
        ],
      },
    ],
  });
  const bytes = type.encode(msg).finish();
  const r = referenceProcess('traces', bytes);
  if (r.status !== 'ok') return t.fail(`rejected: ${r.message}`);
  t.equal(r.items, 5);
  const expected: TraceSummary[] = [
    { traceId: B, spans: 2, error: false, root: false, startNs: 190n, endNs: 18446744073709551615n },
    { traceId: A, spans: 2, error: true, root: true, startNs: 100n, endNs: 160n },
    { traceId: '', spans: 1, error: false, root: true, startNs: 5n, endNs: 6n },
  ];
  t.same(r.traces, expected);
  t.same(decodeForComparison('traces', r.body), decodeForComparison('traces', bytes), 'the output holds the input content');
  t.equal(r.body.byteLength, r.body.buffer.byteLength, 'the output owns its ArrayBuffer (transferable)');
});

t.test('an empty request', async (t) => {
  const r = referenceProcess('traces', new Uint8Array(0));
  t.same(r, { status: 'ok', body: new Uint8Array(0), items: 0, rejectedItems: 0, traces: [] });
  const m = referenceProcess('metrics', new Uint8Array(0));
  t.equal(m.status === 'ok' && m.items, 0);
});

t.test('the output is the input re-encoded, for every fixture', async (t) => {
  for (const [dir, file, signal] of FIXTURES) {
    const bytes = bytesOf(signal, readFileSync(join(dir, file), 'utf8'));
    const r = referenceProcess(signal, bytes);
    if (r.status !== 'ok') {
      t.fail(`${file} rejected`);
      continue;
    }
    t.same(decodeForComparison(signal, r.body), decodeForComparison(signal, bytes), `${file}: same content`);
  }
});

t.test('malformed bytes are rejected with a located message, never thrown', async (t) => {
  const good = bytesOf('traces', readFileSync(join(otlpJsonFixtures, 'trace.json'), 'utf8'));
  const truncated = good.subarray(0, good.length - 7);
  const r = referenceProcess('traces', truncated);
  t.equal(r.status, 'rejected');
  if (r.status === 'rejected') {
    t.equal(r.code, 'MALFORMED_PAYLOAD');
    t.match(r.message, /^invalid ExportTraceServiceRequest: resourceSpans\[0\]\S*: .*offset \d+/, `message locates the damage: ${r.message}`);
  }
  // every prefix of a valid request either decodes or is refused; none throws
  let refused = 0;
  for (let n = 0; n < good.length; n++) {
    const p = referenceProcess('traces', good.subarray(0, n));
    if (p.status === 'rejected') refused++;
  }
  t.ok(refused > 0, `${refused} prefixes refused`);

  // garbage
  const junk = referenceProcess('logs', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  t.equal(junk.status, 'rejected');
  // wire type 7 does not exist
  const wt = referenceProcess('metrics', Uint8Array.from([0x0f, 0x00]));
  t.equal(wt.status, 'rejected');
  if (wt.status === 'rejected') t.match(wt.message, /wire type 7 at offset 0/);
});

t.test('hostile nesting in protobuf is refused, not a crash', async (t) => {
  // AnyValue{ array_value: ArrayValue{ values: [AnyValue{ ... }] } } nested 5000 levels in a log body
  let inner: Uint8Array = Uint8Array.from([0x0a, 0x01, 0x78]); // string_value "x"
  const wrap = (tag: number, body: Uint8Array) => {
    const w = protobuf.Writer.create();
    w.uint32(tag).bytes(body);
    return w.finish();
  };
  for (let i = 0; i < 5000; i++) inner = wrap(0x2a, wrap(0x0a, inner)); // AnyValue.array_value(5) / ArrayValue.values(1)
  const record = wrap(0x2a, inner); // LogRecord.body(5)
  const req = wrap(0x0a, wrap(0x12, wrap(0x12, record))); // resource_logs / scope_logs / log_records
  let r: ReturnType<typeof referenceProcess> | undefined;
  t.doesNotThrow(() => (r = referenceProcess('logs', req)));
  t.equal(r?.status, 'rejected');
  if (r?.status === 'rejected') {
    t.match(r.message, /nesting deeper than 100 messages at offset \d+$/);
    t.ok(r.message.length <= 450, `the message stays short (${r.message.length} characters)`);
  }
});

t.test('locateWireError names path, wire type and offset', async (t) => {
  const type = requestType('traces');
  // resource_spans[0] { scope_spans[0] { spans[0] { name (5, string) sent as a varint } } }
  const span = Uint8Array.from([0x28, 0x01]);
  const scope = Uint8Array.from([0x12, span.length, ...span]);
  const rs = Uint8Array.from([0x12, scope.length, ...scope]);
  const bytes = Uint8Array.from([0x0a, rs.length, ...rs]);
  t.equal(locateWireError(type, bytes), 'resourceSpans[0].scopeSpans[0].spans[0].name: wire type 0 at offset 6 does not match the field\'s type string (wire type 2)');
  t.equal(locateWireError(type, Uint8Array.from([0x0a, 0x00])), undefined, 'valid bytes: nothing to report');
  // packed repeated scalars are fine
  const dp = otlpJsonToProtobuf('metrics', JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ histogram: { dataPoints: [{ bucketCounts: ['1', '2'] }] } }] }] }] }));
  t.ok(dp.ok);
  if (dp.ok) t.equal(locateWireError(requestType('metrics'), dp.bytes), undefined);
});

t.test('the transform hook runs on the decoded request before encoding', async (t) => {
  const bytes = bytesOf('logs', readFileSync(join(otlpJsonFixtures, 'logs.json'), 'utf8'));
  const r = referenceProcess('logs', bytes, {
    transform: (signal, req) => {
      t.equal(signal, 'logs');
      for (const rl of arr(req.resourceLogs)) for (const sl of arr(rl.scopeLogs)) for (const rec of arr(sl.logRecords)) rec.severityText = 'REDACTED';
    },
  });
  if (r.status !== 'ok') return t.fail('rejected');
  const out = decodeForComparison('logs', r.body) as Obj;
  const texts = arr(arr(arr(out.resourceLogs)[0]!.scopeLogs)[0]!.logRecords).map((x) => x.severityText);
  t.ok(texts.length > 0);
  t.ok(texts.every((x) => x === 'REDACTED'));
  const failing = referenceProcess('logs', bytes, { transform: () => { throw new Error('policy bug'); } });
  t.same(failing, { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: 'cannot process the request: policy bug' });
});

t.test('decodeForComparison is canonical', async (t) => {
  // A span with kind = 0 and name = "" written explicitly on the wire equals one without them.
  const w = protobuf.Writer.create();
  w.uint32(0x0a).bytes(Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex')); // trace_id
  w.uint32(0x2a).string(''); // name ""
  w.uint32(0x30).uint32(0); // kind 0
  w.uint32(0x39).fixed64(u64('18446744073709551615')); // start_time_unix_nano
  const explicit = w.finish();
  const w2 = protobuf.Writer.create();
  w2.uint32(0x0a).bytes(Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex'));
  w2.uint32(0x39).fixed64(u64('18446744073709551615'));
  const implicit = w2.finish();
  const wrapSpan = (s: Uint8Array) => {
    const ss = protobuf.Writer.create().uint32(0x12).bytes(s).finish();
    const rs = protobuf.Writer.create().uint32(0x12).bytes(ss).finish();
    return protobuf.Writer.create().uint32(0x0a).bytes(rs).finish();
  };
  const a = decodeForComparison('traces', wrapSpan(explicit));
  const b = decodeForComparison('traces', wrapSpan(implicit));
  t.same(a, b);
  t.same(a, { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '0102030405060708090a0b0c0d0e0f10', startTimeUnixNano: '18446744073709551615' }] }] }] });
  // AnyValue bytes render as hex too, and a set-to-zero oneof member stays
  const any = bytesOf('logs', JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { bytesValue: 'AQID' } }, { body: { intValue: '0' } }] }] }] }));
  t.same(decodeForComparison('logs', any), { resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { bytesValue: '010203' } }, { body: { intValue: '0' } }] }] }] });
});
