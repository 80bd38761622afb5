// OTLP/JSON ⇄ protobuf: the shared fixtures round-trip, every field kind converts to the right wire value
// (checked by decoding with protobufjs, independently of the codec's own renderer), and bad input is
// refused with a message naming the JSON path, without ever throwing.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Signal } from '../../../src/signals.js';
import { MAX_JSON_DEPTH, otlpJsonToProtobuf, protobufToOtlpJson } from '../../../src/process/wire/otlp-json.js';
import { requestType } from '../../../src/process/wire/otlp-schema.js';
import { otlpJsonFixtures, piiFixtures } from '../../helpers/fixtures.js';

type Obj = Record<string, unknown>;

const FIXTURES: [string, string, Signal][] = [
  [otlpJsonFixtures, 'trace.json', 'traces'],
  [otlpJsonFixtures, 'metrics.json', 'metrics'],
  [otlpJsonFixtures, 'logs.json', 'logs'],
  [otlpJsonFixtures, 'events.json', 'logs'],
  [piiFixtures, 'traces.json', 'traces'],
  [piiFixtures, 'metrics.json', 'metrics'],
  [piiFixtures, 'logs.json', 'logs'],
];

const HEX_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);
const INT64_KEYS = new Set(['timeUnixNano', 'startTimeUnixNano', 'endTimeUnixNano', 'observedTimeUnixNano', 'count', 'asInt', 'intValue', 'zeroCount', 'bucketCounts']);

/**
 * The equivalences OTLP/JSON allows: hex ids in either case, 64-bit integers as numbers or strings, and
 * fields holding a default value (0, "", false, []) written or omitted. Applied to both sides.
 */
function normalise(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((e) => normalise(e, key));
  if (v !== null && typeof v === 'object') {
    const out: Obj = {};
    for (const [k, e] of Object.entries(v as Obj)) {
      if (e === 0 || e === '0' || e === '' || e === false || (Array.isArray(e) && e.length === 0)) continue;
      out[k] = normalise(e, k);
    }
    return out;
  }
  if (HEX_KEYS.has(key) && typeof v === 'string') return v.toLowerCase();
  if (INT64_KEYS.has(key) && typeof v === 'number') return String(v);
  return v;
}

function toBytes(signal: Signal, json: unknown): Uint8Array {
  const r = otlpJsonToProtobuf(signal, typeof json === 'string' ? json : JSON.stringify(json));
  if (!r.ok) throw new Error(`conversion failed: ${r.message}`);
  return r.bytes;
}

function errorOf(signal: Signal, json: unknown): string {
  const r = otlpJsonToProtobuf(signal, typeof json === 'string' ? json : JSON.stringify(json));
  return r.ok ? '(accepted)' : r.message;
}

/** protobufjs' own view of the bytes, independent of the codec's renderer. */
function pbDecode(signal: Signal, bytes: Uint8Array): Obj {
  const type = requestType(signal);
  return type.toObject(type.decode(bytes), { longs: String, enums: Number, bytes: String, defaults: false }) as Obj;
}

const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

t.test('every shared fixture converts and round-trips', async (t) => {
  for (const [dir, file, signal] of FIXTURES) {
    const text = readFileSync(join(dir, file), 'utf8');
    const original = JSON.parse(text) as Obj;
    const r = otlpJsonToProtobuf(signal, Buffer.from(text));
    t.ok(r.ok, `${file} converts`);
    if (!r.ok) continue;
    t.ok(r.bytes.length > 0, `${file}: non-empty protobuf`);
    const back = protobufToOtlpJson(signal, r.bytes);
    t.same(normalise(back), normalise(original), `${file}: JSON → protobuf → JSON is the original`);
    // the string and Uint8Array inputs agree
    const fromString = otlpJsonToProtobuf(signal, text);
    t.ok(fromString.ok && Buffer.from(fromString.bytes).equals(Buffer.from(r.bytes)), `${file}: string and bytes input give the same bytes`);
  }
});

t.test('specific fixture values reach the wire', async (t) => {
  const trace = pbDecode('traces', toBytes('traces', readFileSync(join(otlpJsonFixtures, 'trace.json'), 'utf8')));
  const span = ((((trace.resourceSpans as Obj[])[0]!.scopeSpans as Obj[])[0]!.spans as Obj[])[0]!) as Obj;
  t.equal(span.traceId, b64('5b8efff798038103d269b633813fc60c'), 'upper-case hex trace id decoded to its 16 bytes');
  t.equal(span.spanId, b64('eee19b7ec3c1b174'));
  t.equal(span.parentSpanId, b64('eee19b7ec3c1b173'));
  t.equal(span.startTimeUnixNano, '1544712660000000000');
  t.equal(span.kind, 2);

  const rendered = protobufToOtlpJson('traces', toBytes('traces', readFileSync(join(otlpJsonFixtures, 'trace.json'), 'utf8')));
  t.match(JSON.stringify(rendered), /"traceId":"5b8efff798038103d269b633813fc60c"/, 'rendered ids are lower-case hex');

  // Metric.metadata and an explicit optional zero (HistogramDataPoint.min = 0) survive
  const metricsText = readFileSync(join(piiFixtures, 'metrics.json'), 'utf8');
  const metricsJson = JSON.parse(metricsText) as Obj;
  const withMetadata = JSON.stringify(metricsJson).match(/"metadata":(\[.*?\])/);
  t.ok(withMetadata, 'the pii metrics fixture has Metric.metadata');
  const back = JSON.stringify(protobufToOtlpJson('metrics', toBytes('metrics', metricsText)));
  t.ok(back.includes(`"metadata":${withMetadata![1]}`), 'Metric.metadata survives unchanged');
  const specMetrics = protobufToOtlpJson('metrics', toBytes('metrics', readFileSync(join(otlpJsonFixtures, 'metrics.json'), 'utf8')));
  t.match(JSON.stringify(specMetrics), /"min":0/, 'an optional field set to 0 is kept');

  const events = protobufToOtlpJson('logs', toBytes('logs', readFileSync(join(otlpJsonFixtures, 'events.json'), 'utf8')));
  t.match(JSON.stringify(events), /"eventName":"[^"]+"/, 'LogRecord.event_name survives');
});

t.test('every field kind', async (t) => {
  const req = {
    resourceSpans: [
      {
        resource: {
          attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }],
          droppedAttributesCount: 3,
          entityRefs: [{ schemaUrl: 'https://s', type: 'service', idKeys: ['service.name'], descriptionKeys: ['a', 'b'] }],
        },
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeSpans: [
          {
            scope: { name: 'lib', version: '1', attributes: [], droppedAttributesCount: 1 },
            schemaUrl: 'https://scope',
            spans: [
              {
                traceId: '0102030405060708090A0B0C0D0E0F10',
                spanId: 'a1a2a3a4a5a6a7a8',
                parentSpanId: '',
                traceState: 'k=v',
                flags: 0x301,
                name: 'op',
                kind: 'SPAN_KIND_CLIENT',
                startTimeUnixNano: '18446744073709551615',
                endTimeUnixNano: 1700000000000000000,
                attributes: [
                  { key: 's', value: { stringValue: 'x' } },
                  { key: 'b', value: { boolValue: true } },
                  { key: 'i', value: { intValue: '-9223372036854775808' } },
                  { key: 'i2', value: { intValue: 42 } },
                  { key: 'i0', value: { intValue: '0' } },
                  { key: 'd', value: { doubleValue: 1.5 } },
                  { key: 'nan', value: { doubleValue: 'NaN' } },
                  { key: 'inf', value: { doubleValue: '-Infinity' } },
                  { key: 'bytes', value: { bytesValue: 'AAEC/w==' } },
                  { key: 'urlsafe', value: { bytesValue: '-_8' } },
                  { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }, {}] } } },
                  { key: 'kv', value: { kvlistValue: { values: [{ key: 'inner', value: { kvlistValue: { values: [{ key: 'deep', value: { boolValue: false } }] } } }] } } },
                  { key: 'empty', value: {} },
                ],
                droppedAttributesCount: 1,
                events: [{ timeUnixNano: '5', name: 'ev', attributes: [{ key: 'e', value: { stringValue: 'v' } }], droppedAttributesCount: 2 }],
                droppedEventsCount: 4,
                links: [{ traceId: 'ffffffffffffffffffffffffffffffff', spanId: '0000000000000001', traceState: 't', attributes: [], droppedAttributesCount: 1, flags: 256 }],
                droppedLinksCount: 5,
                status: { code: 2, message: 'boom' },
              },
            ],
          },
        ],
      },
    ],
  };
  const bytes = toBytes('traces', req);
  const pb = pbDecode('traces', bytes);
  const rs = (pb.resourceSpans as Obj[])[0]!;
  const span = ((rs.scopeSpans as Obj[])[0]!.spans as Obj[])[0] as Obj;
  t.same((rs.resource as Obj).entityRefs, [{ schemaUrl: 'https://s', type: 'service', idKeys: ['service.name'], descriptionKeys: ['a', 'b'] }], 'Resource.entity_refs');
  t.equal(rs.schemaUrl, 'https://opentelemetry.io/schemas/1.26.0');
  t.equal(span.traceId, b64('0102030405060708090a0b0c0d0e0f10'));
  t.notOk(span.parentSpanId, 'empty parent id is absent');
  t.equal(span.flags, 0x301, 'fixed32 flags');
  t.equal(span.kind, 3, 'enum given by name');
  t.equal(span.startTimeUnixNano, '18446744073709551615', 'fixed64 max');
  t.equal(span.endTimeUnixNano, '1700000000000000000', 'fixed64 given as a JSON number');
  const attrs = Object.fromEntries((span.attributes as Obj[]).map((a) => [a.key, a.value]));
  t.same(attrs.s, { stringValue: 'x' });
  t.same(attrs.b, { boolValue: true });
  t.same(attrs.i, { intValue: '-9223372036854775808' }, 'int64 min');
  t.same(attrs.i2, { intValue: '42' });
  t.same(attrs.i0, { intValue: '0' }, 'a oneof member set to 0 stays set');
  t.same(attrs.d, { doubleValue: 1.5 });
  t.ok(Number.isNaN((attrs.nan as Obj).doubleValue), 'NaN');
  t.same(attrs.inf, { doubleValue: -Infinity });
  t.same(attrs.bytes, { bytesValue: 'AAEC/w==' }, 'bytes from base64');
  t.same(attrs.urlsafe, { bytesValue: '+/8=' }, 'url-safe unpadded base64 accepted');
  t.same(attrs.arr, { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }, {}] } });
  t.same(attrs.kv, { kvlistValue: { values: [{ key: 'inner', value: { kvlistValue: { values: [{ key: 'deep', value: { boolValue: false } }] } } }] } });
  t.same(attrs.empty, {});
  t.same(span.status, { code: 2, message: 'boom' });
  t.same(span.links, [{ traceId: b64('ff'.repeat(16)), spanId: b64('0000000000000001'), traceState: 't', droppedAttributesCount: 1, flags: 256 }]);
  t.same(span.events, [{ timeUnixNano: '5', name: 'ev', attributes: [{ key: 'e', value: { stringValue: 'v' } }], droppedAttributesCount: 2 }]);

  // and back: canonical OTLP/JSON
  const back = protobufToOtlpJson('traces', bytes) as Obj;
  const bspan = ((((back.resourceSpans as Obj[])[0]!.scopeSpans as Obj[])[0]!.spans as Obj[])[0]!) as Obj;
  t.equal(bspan.traceId, '0102030405060708090a0b0c0d0e0f10');
  t.equal(bspan.kind, 3, 'enums render as integers');
  t.equal(bspan.endTimeUnixNano, '1700000000000000000', 'int64 renders as a string');
  t.notOk('parentSpanId' in bspan, 'empty bytes omitted');
  const battrs = Object.fromEntries((bspan.attributes as Obj[]).map((a) => [a.key, a.value]));
  t.same(battrs.nan, { doubleValue: 'NaN' });
  t.same(battrs.inf, { doubleValue: '-Infinity' });
  t.same(battrs.urlsafe, { bytesValue: '+/8=' }, 'other bytes render as standard base64');
  t.same(battrs.i0, { intValue: '0' });
});

t.test('metrics: all five types, exemplars with hex ids, metadata', async (t) => {
  const exemplar = { filteredAttributes: [{ key: 'f', value: { stringValue: 'g' } }], timeUnixNano: '7', asInt: '-3', spanId: 'B1B2B3B4B5B6B7B8', traceId: 'c1c2c3c4c5c6c7c8c9cacbcccdcecfd0' };
  const req = {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              { name: 'g', unit: '1', description: 'd', metadata: [{ key: 'm', value: { stringValue: 'n' } }], gauge: { dataPoints: [{ asDouble: 0.25, timeUnixNano: '1', exemplars: [exemplar] }, { asInt: '9007199254740993', flags: 1 }] } },
              { name: 's', sum: { aggregationTemporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE', isMonotonic: true, dataPoints: [{ asInt: 5 }] } },
              { name: 'h', histogram: { aggregationTemporality: 1, dataPoints: [{ count: '3', sum: 0, bucketCounts: ['1', 2, '0'], explicitBounds: [0.5, 1], min: 0, max: 2, exemplars: [{ asDouble: 1.5 }] }] } },
              { name: 'e', exponentialHistogram: { aggregationTemporality: 2, dataPoints: [{ count: '4', scale: -3, zeroCount: '1', zeroThreshold: 1e-9, positive: { offset: -2, bucketCounts: ['1', '2'] }, negative: { offset: 3, bucketCounts: [] } }] } },
              { name: 'q', summary: { dataPoints: [{ count: '2', sum: 3.5, quantileValues: [{ quantile: 0, value: 1 }, { quantile: 1, value: 2.5 }] }] } },
            ],
          },
        ],
      },
    ],
  };
  const bytes = toBytes('metrics', req);
  const pb = pbDecode('metrics', bytes);
  const metrics = ((pb.resourceMetrics as Obj[])[0]!.scopeMetrics as Obj[])[0]!.metrics as Obj[];
  t.same(metrics[0]!.metadata, [{ key: 'm', value: { stringValue: 'n' } }], 'Metric.metadata');
  const gdp = (metrics[0]!.gauge as Obj).dataPoints as Obj[];
  t.same(gdp[0]!.exemplars, [{ filteredAttributes: [{ key: 'f', value: { stringValue: 'g' } }], timeUnixNano: '7', asInt: '-3', spanId: b64('b1b2b3b4b5b6b7b8'), traceId: b64('c1c2c3c4c5c6c7c8c9cacbcccdcecfd0') }], 'exemplar with hex ids and sfixed64');
  t.equal(gdp[1]!.asInt, '9007199254740993', 'int64 beyond 2^53 given as a string is exact');
  t.equal(gdp[1]!.flags, 1);
  t.same(metrics[1]!.sum, { dataPoints: [{ asInt: '5' }], aggregationTemporality: 2, isMonotonic: true });
  const hdp = ((metrics[2]!.histogram as Obj).dataPoints as Obj[])[0]!;
  t.same(hdp.bucketCounts, ['1', '2', '0'], 'repeated fixed64 (packed)');
  t.same(hdp.explicitBounds, [0.5, 1]);
  t.equal(hdp.sum, 0, 'optional sum = 0 is present');
  t.equal(hdp.min, 0, 'optional min = 0 is present');
  const edp = ((metrics[3]!.exponentialHistogram as Obj).dataPoints as Obj[])[0]!;
  t.equal(edp.scale, -3, 'sint32');
  t.same(edp.positive, { offset: -2, bucketCounts: ['1', '2'] });
  t.same(edp.negative, { offset: 3 }, 'empty buckets keep their offset');
  t.equal(edp.zeroThreshold, 1e-9);
  t.same(((metrics[4]!.summary as Obj).dataPoints as Obj[])[0]!.quantileValues, [{ value: 1 }, { quantile: 1, value: 2.5 }]);

  const back = protobufToOtlpJson('metrics', bytes);
  const expected = JSON.parse(JSON.stringify(req).replace('"AGGREGATION_TEMPORALITY_CUMULATIVE"', '2')) as Obj;
  t.same(normalise(back), normalise(expected), 'round trip (enum names come back as integers)');
  const s = JSON.stringify(back);
  t.match(s, /"spanId":"b1b2b3b4b5b6b7b8"/, 'exemplar ids render as lower-case hex');
  t.match(s, /"aggregationTemporality":2/, 'enum names render as integers');
});

t.test('logs: every LogRecord field', async (t) => {
  const req = {
    resourceLogs: [{ scopeLogs: [{ scope: { name: 's' }, logRecords: [{
      timeUnixNano: '1', observedTimeUnixNano: '2', severityNumber: 'SEVERITY_NUMBER_WARN', severityText: 'WARN',
      body: { kvlistValue: { values: [{ key: 'k', value: { arrayValue: { values: [{ bytesValue: '' }] } } }] } },
      attributes: [{ key: 'a', value: { doubleValue: 2 } }], droppedAttributesCount: 1, flags: 1,
      traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', eventName: 'browser.page_view',
    }] }] }],
  };
  const pb = pbDecode('logs', toBytes('logs', req));
  const rec = (((pb.resourceLogs as Obj[])[0]!.scopeLogs as Obj[])[0]!.logRecords as Obj[])[0]!;
  t.same(rec, {
    timeUnixNano: '1', observedTimeUnixNano: '2', severityNumber: 13, severityText: 'WARN',
    body: { kvlistValue: { values: [{ key: 'k', value: { arrayValue: { values: [{ bytesValue: '' }] } } }] } },
    attributes: [{ key: 'a', value: { doubleValue: 2 } }], droppedAttributesCount: 1, flags: 1,
    traceId: b64('0af7651916cd43dd8448eb211c80319c'), spanId: b64('b7ad6b7169203331'), eventName: 'browser.page_view',
  });
});

t.test('snake_case field names are accepted', async (t) => {
  const snake = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(snake);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v as Obj).map(([k, e]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snake(e)]));
    }
    return v;
  };
  for (const [dir, file, signal] of FIXTURES) {
    const original = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Obj;
    const snaked = snake(original);
    t.not(JSON.stringify(snaked), JSON.stringify(original), `${file}: the snake_case variant differs textually`);
    t.same(Buffer.from(toBytes(signal, snaked)), Buffer.from(toBytes(signal, original)), `${file}: same protobuf from snake_case names`);
  }
  t.match(errorOf('traces', { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '', trace_id: '' }] }] }] }), /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.trace_id: field given twice/);
});

t.test('unknown fields are ignored', async (t) => {
  const plain = { resourceLogs: [{ scopeLogs: [{ logRecords: [{ severityText: 'INFO', body: { stringValue: 'hi' } }] }] }] };
  const extra = {
    futureTopLevel: { x: [1, 2, { deep: true }] },
    resourceLogs: [{ unknownA: 1, scopeLogs: [{ unknownB: 'x', logRecords: [{ severityText: 'INFO', body: { stringValue: 'hi', unknownC: null }, someNewField: [] }] }] }],
  };
  t.same(Buffer.from(toBytes('logs', extra)), Buffer.from(toBytes('logs', plain)));
});

t.test('null means default, explicit defaults are not encoded', async (t) => {
  const a = toBytes('traces', { resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'x', kind: 0, droppedAttributesCount: 0, traceState: '', status: null, attributes: null }] }] }] });
  const b = toBytes('traces', { resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'x' }] }] }] });
  t.same(Buffer.from(a), Buffer.from(b));
  t.same(Buffer.from(toBytes('traces', '{}')), Buffer.alloc(0), 'an empty request is empty bytes');
  t.same(Buffer.from(toBytes('traces', { resourceSpans: [] })), Buffer.alloc(0));
});

t.test('bad ids name the JSON path', async (t) => {
  const spans = (span: Obj) => ({ resourceSpans: [{ scopeSpans: [{ spans: [] }, { spans: [{}, {}, {}, span] }] }] });
  t.equal(errorOf('traces', spans({ traceId: 'zz' })), 'resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters (got "zz")');
  t.equal(errorOf('traces', spans({ traceId: 'abc' })), 'resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters (got "abc")', 'odd length');
  t.equal(errorOf('traces', spans({ traceId: '0102030405060708090a0b0c0d0e0f1g' })), 'resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters (got "0102030405060708090a0b0c0d0e0f1g")', 'non-hex');
  t.equal(errorOf('traces', spans({ spanId: '0102030405060708090a0b0c0d0e0f10' })), 'resourceSpans[0].scopeSpans[1].spans[3].spanId: expected 16 hex characters (got "0102030405060708090a0b0c0d0e0f10")', 'a trace id in the span id');
  t.equal(errorOf('traces', spans({ parentSpanId: 'AQIDBAUGBwg=' })), 'resourceSpans[0].scopeSpans[1].spans[3].parentSpanId: expected 16 hex characters (got "AQIDBAUGBwg=")', 'base64 is not hex');
  t.equal(errorOf('traces', spans({ links: [{ traceId: 12 }] })), 'resourceSpans[0].scopeSpans[1].spans[3].links[0].traceId: expected a hex string (got 12)');
  t.equal(errorOf('logs', { resourceLogs: [{ scopeLogs: [{ logRecords: [{ spanId: 'x' }] }] }] }), 'resourceLogs[0].scopeLogs[0].logRecords[0].spanId: expected 16 hex characters (got "x")');
  t.equal(
    errorOf('metrics', { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ gauge: { dataPoints: [{ exemplars: [{ traceId: '00' }] }] } }] }] }] }),
    'resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].exemplars[0].traceId: expected 32 hex characters (got "00")',
  );
  t.match(errorOf('traces', spans({ traceId: 'f'.repeat(500) })), /got "f{40}…"\)$/, 'long values are truncated in messages');
});

t.test('wrong types and values name the JSON path', async (t) => {
  const span = (s: Obj) => ({ resourceSpans: [{ scopeSpans: [{ spans: [s] }] }] });
  const p = 'resourceSpans[0].scopeSpans[0].spans[0]';
  t.equal(errorOf('traces', span({ name: 5 })), `${p}.name: expected a string (got 5)`);
  t.equal(errorOf('traces', span({ startTimeUnixNano: '12x' })), `${p}.startTimeUnixNano: expected a decimal integer string (got "12x")`);
  t.equal(errorOf('traces', span({ startTimeUnixNano: '-1' })), `${p}.startTimeUnixNano: uint64 out of range (got "-1")`);
  t.equal(errorOf('traces', span({ startTimeUnixNano: '18446744073709551616' })), `${p}.startTimeUnixNano: uint64 out of range (got "18446744073709551616")`);
  t.equal(errorOf('traces', span({ startTimeUnixNano: 1.5 })), `${p}.startTimeUnixNano: expected an integer (got 1.5)`);
  t.equal(errorOf('traces', span({ attributes: [{ key: 'k', value: { intValue: '9223372036854775808' } }] })), `${p}.attributes[0].value.intValue: int64 out of range (got "9223372036854775808")`);
  t.equal(errorOf('traces', span({ droppedAttributesCount: -1 })), `${p}.droppedAttributesCount: uint32 out of range (got -1)`);
  t.equal(errorOf('traces', span({ flags: 4294967296 })), `${p}.flags: uint32 out of range (got 4294967296)`);
  t.equal(errorOf('traces', span({ kind: 'SERVER' })), `${p}.kind: unknown SpanKind value "SERVER"`);
  t.equal(errorOf('traces', span({ kind: true })), `${p}.kind: expected an enum integer (got true)`);
  t.equal(errorOf('traces', span({ attributes: { key: 'k' } })), `${p}.attributes: expected an array (got an object)`);
  t.equal(errorOf('traces', span({ attributes: [null] })), `${p}.attributes[0]: null is not allowed in a repeated field`);
  t.equal(errorOf('traces', span({ status: [] })), `${p}.status: expected an object (got an array)`);
  t.equal(errorOf('traces', span({ attributes: [{ key: 'k', value: { boolValue: 'true' } }] })), `${p}.attributes[0].value.boolValue: expected true or false (got "true")`);
  t.equal(errorOf('traces', span({ attributes: [{ key: 'k', value: { doubleValue: 'fast' } }] })), `${p}.attributes[0].value.doubleValue: expected a number (got "fast")`);
  t.equal(errorOf('traces', span({ attributes: [{ key: 'k', value: { bytesValue: 'a!b' } }] })), `${p}.attributes[0].value.bytesValue: expected base64 (got "a!b")`);
  t.equal(errorOf('traces', span({ attributes: [{ key: 'k', value: { stringValue: 'a', intValue: 1 } }] })), `${p}.attributes[0].value.intValue: only one of the fields of oneof value may be set (stringValue is set too)`);
  t.equal(errorOf('traces', []), '(root): expected an object (got an array)');
  t.equal(errorOf('traces', 'null'), '(root): expected an object (got null)');
  t.equal(errorOf('traces', { resourceSpans: 'x' }), 'resourceSpans: expected an array (got "x")');
});

t.test('invalid JSON and invalid UTF-8', async (t) => {
  t.match(errorOf('traces', '{"resourceSpans": ['), /^invalid JSON: /);
  t.match(errorOf('traces', ''), /^invalid JSON: /);
  const r = otlpJsonToProtobuf('logs', Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
  t.same(r, { ok: false, message: 'invalid JSON: the body is not valid UTF-8' });
  const bom = otlpJsonToProtobuf('logs', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')]));
  t.ok(bom.ok, 'a UTF-8 byte order mark is tolerated');
});

t.test('nesting is bounded', async (t) => {
  const nested = (levels: number) => {
    let v: Obj = { stringValue: 'leaf' };
    for (let i = 0; i < levels; i++) v = { arrayValue: { values: [v] } };
    return { resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: v }] }] }] };
  };
  // request(0) → resourceLogs(1) → scopeLogs(2) → logRecords(3) → body(4), then 2 levels per arrayValue
  const maxLevels = Math.floor((MAX_JSON_DEPTH - 4) / 2);
  t.ok(otlpJsonToProtobuf('logs', JSON.stringify(nested(maxLevels))).ok, `${maxLevels} nested arrays are accepted`);
  const deep = errorOf('logs', nested(maxLevels + 1));
  t.match(deep, new RegExp(`: nesting deeper than ${MAX_JSON_DEPTH} messages$`));
  t.match(deep, /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.body\.arrayValue\.values\[0\]/, 'names where');
  t.ok(deep.length < 200, `the message stays short (${deep.length} characters): ${deep}`);
  // hostile: a million levels must neither throw nor blow the stack
  const hostile = '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + '{"arrayValue":{"values":['.repeat(200_000) + ']}}'.repeat(200_000) + '}]}]}]}';
  let r: ReturnType<typeof otlpJsonToProtobuf> | undefined;
  t.doesNotThrow(() => (r = otlpJsonToProtobuf('logs', hostile)));
  t.equal(r?.ok, false);
  t.match(r && !r.ok ? r.message : '', /nesting deeper than/);
  const brackets = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
  t.doesNotThrow(() => otlpJsonToProtobuf('logs', brackets), 'deep raw JSON');
});

t.test('the output owns its memory, so it can be transferred to another thread', async (t) => {
  const r = otlpJsonToProtobuf('logs', JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ severityText: 'x' }] }] }] }));
  if (!r.ok) return t.fail(r.message);
  t.equal(r.bytes.byteOffset, 0);
  t.equal(r.bytes.byteLength, r.bytes.buffer.byteLength, 'not a slice of a shared pool');
  const copy = Buffer.from(r.bytes);
  const moved = structuredClone(r.bytes, { transfer: [r.bytes.buffer as ArrayBuffer] });
  t.same(Buffer.from(moved), copy);
  t.equal(r.bytes.byteLength, 0, 'the original is detached');
});
