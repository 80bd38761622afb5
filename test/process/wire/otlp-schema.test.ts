// The proto/ files must compile with pbjs (as `npm run proto:check` does) and carry the field numbers
// opentelemetry-proto v1 defines: a wrong number would silently garble every request we forward.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../../src/paths.js';
import { SIGNALS, SIGNAL_WIRE } from '../../../src/signals.js';
import { otlpEnum, otlpRoot, otlpType, requestType, responseType } from '../../../src/process/wire/otlp-schema.js';

t.test('pbjs accepts the proto files (npm run proto:check)', async (t) => {
  const pbjs = join(packageRoot, 'node_modules', '.bin', 'pbjs');
  const files = [
    'proto/opentelemetry/proto/collector/trace/v1/trace_service.proto',
    'proto/opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
    'proto/opentelemetry/proto/collector/logs/v1/logs_service.proto',
    'proto/google/rpc/status.proto',
    'proto/google/rpc/error_details.proto',
  ];
  const r = spawnSync(pbjs, ['-t', 'json', ...files, '-p', 'proto'], { cwd: packageRoot, encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, `pbjs exits 0 (stderr: ${r.stderr})`);
  const json = JSON.parse(r.stdout) as { nested: Record<string, unknown> };
  t.ok(json.nested.opentelemetry, 'the output holds the opentelemetry package');
  t.ok(json.nested.google, 'the output holds google.rpc');
});

t.test('request and response types per signal', async (t) => {
  for (const signal of SIGNALS) {
    t.equal(requestType(signal).fullName, `.${SIGNAL_WIRE[signal].requestType}`);
    t.equal(responseType(signal).fullName, `.${SIGNAL_WIRE[signal].responseType}`);
    t.equal(requestType(signal), requestType(signal), 'cached');
  }
  t.equal(otlpRoot(), otlpRoot(), 'the root is loaded once');
});

const ids = (name: string) => Object.fromEntries(otlpType(name).fieldsArray.map((f) => [f.name, `${f.type}=${f.id}${f.repeated ? '[]' : ''}`]));

t.test('field numbers match opentelemetry-proto v1', async (t) => {
  t.same(ids('opentelemetry.proto.common.v1.AnyValue'), {
    stringValue: 'string=1', boolValue: 'bool=2', intValue: 'int64=3', doubleValue: 'double=4',
    arrayValue: 'ArrayValue=5', kvlistValue: 'KeyValueList=6', bytesValue: 'bytes=7',
  });
  t.same(ids('opentelemetry.proto.common.v1.InstrumentationScope'), {
    name: 'string=1', version: 'string=2', attributes: 'KeyValue=3[]', droppedAttributesCount: 'uint32=4',
  });
  t.same(ids('opentelemetry.proto.common.v1.EntityRef'), {
    schemaUrl: 'string=1', type: 'string=2', idKeys: 'string=3[]', descriptionKeys: 'string=4[]',
  });
  t.same(ids('opentelemetry.proto.resource.v1.Resource'), {
    attributes: 'opentelemetry.proto.common.v1.KeyValue=1[]', droppedAttributesCount: 'uint32=2',
    entityRefs: 'opentelemetry.proto.common.v1.EntityRef=3[]',
  });
  t.same(ids('opentelemetry.proto.trace.v1.Span'), {
    traceId: 'bytes=1', spanId: 'bytes=2', traceState: 'string=3', parentSpanId: 'bytes=4', flags: 'fixed32=16',
    name: 'string=5', kind: 'SpanKind=6', startTimeUnixNano: 'fixed64=7', endTimeUnixNano: 'fixed64=8',
    attributes: 'opentelemetry.proto.common.v1.KeyValue=9[]', droppedAttributesCount: 'uint32=10', events: 'Event=11[]',
    droppedEventsCount: 'uint32=12', links: 'Link=13[]', droppedLinksCount: 'uint32=14', status: 'Status=15',
  });
  t.same(ids('opentelemetry.proto.trace.v1.Span.Link'), {
    traceId: 'bytes=1', spanId: 'bytes=2', traceState: 'string=3', attributes: 'opentelemetry.proto.common.v1.KeyValue=4[]',
    droppedAttributesCount: 'uint32=5', flags: 'fixed32=6',
  });
  t.same(ids('opentelemetry.proto.trace.v1.Status'), { message: 'string=2', code: 'StatusCode=3' });
  t.equal(otlpEnum('opentelemetry.proto.trace.v1.Status.StatusCode').values.STATUS_CODE_ERROR, 2);
  t.same(ids('opentelemetry.proto.logs.v1.LogRecord'), {
    timeUnixNano: 'fixed64=1', observedTimeUnixNano: 'fixed64=11', severityNumber: 'SeverityNumber=2', severityText: 'string=3',
    body: 'opentelemetry.proto.common.v1.AnyValue=5', attributes: 'opentelemetry.proto.common.v1.KeyValue=6[]',
    droppedAttributesCount: 'uint32=7', flags: 'fixed32=8', traceId: 'bytes=9', spanId: 'bytes=10', eventName: 'string=12',
  });
  t.same(ids('opentelemetry.proto.metrics.v1.Metric'), {
    name: 'string=1', description: 'string=2', unit: 'string=3', gauge: 'Gauge=5', sum: 'Sum=7', histogram: 'Histogram=9',
    exponentialHistogram: 'ExponentialHistogram=10', summary: 'Summary=11', metadata: 'opentelemetry.proto.common.v1.KeyValue=12[]',
  });
  t.same(ids('opentelemetry.proto.metrics.v1.NumberDataPoint'), {
    attributes: 'opentelemetry.proto.common.v1.KeyValue=7[]', startTimeUnixNano: 'fixed64=2', timeUnixNano: 'fixed64=3',
    asDouble: 'double=4', asInt: 'sfixed64=6', exemplars: 'Exemplar=5[]', flags: 'uint32=8',
  });
  t.same(ids('opentelemetry.proto.metrics.v1.HistogramDataPoint'), {
    attributes: 'opentelemetry.proto.common.v1.KeyValue=9[]', startTimeUnixNano: 'fixed64=2', timeUnixNano: 'fixed64=3',
    count: 'fixed64=4', sum: 'double=5', bucketCounts: 'fixed64=6[]', explicitBounds: 'double=7[]', exemplars: 'Exemplar=8[]',
    flags: 'uint32=10', min: 'double=11', max: 'double=12',
  });
  t.same(ids('opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint'), {
    attributes: 'opentelemetry.proto.common.v1.KeyValue=1[]', startTimeUnixNano: 'fixed64=2', timeUnixNano: 'fixed64=3',
    count: 'fixed64=4', sum: 'double=5', scale: 'sint32=6', zeroCount: 'fixed64=7', positive: 'Buckets=8', negative: 'Buckets=9',
    flags: 'uint32=10', exemplars: 'Exemplar=11[]', min: 'double=12', max: 'double=13', zeroThreshold: 'double=14',
  });
  t.same(ids('opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint.Buckets'), { offset: 'sint32=1', bucketCounts: 'uint64=2[]' });
  t.same(ids('opentelemetry.proto.metrics.v1.SummaryDataPoint'), {
    attributes: 'opentelemetry.proto.common.v1.KeyValue=7[]', startTimeUnixNano: 'fixed64=2', timeUnixNano: 'fixed64=3',
    count: 'fixed64=4', sum: 'double=5', quantileValues: 'ValueAtQuantile=6[]', flags: 'uint32=8',
  });
  t.same(ids('opentelemetry.proto.metrics.v1.Exemplar'), {
    filteredAttributes: 'opentelemetry.proto.common.v1.KeyValue=7[]', timeUnixNano: 'fixed64=2', asDouble: 'double=3',
    asInt: 'sfixed64=6', spanId: 'bytes=4', traceId: 'bytes=5',
  });
  t.same(ids('opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess'), { rejectedSpans: 'int64=1', errorMessage: 'string=2' });
  t.same(ids('opentelemetry.proto.collector.metrics.v1.ExportMetricsPartialSuccess'), { rejectedDataPoints: 'int64=1', errorMessage: 'string=2' });
  t.same(ids('opentelemetry.proto.collector.logs.v1.ExportLogsPartialSuccess'), { rejectedLogRecords: 'int64=1', errorMessage: 'string=2' });
  t.same(ids('google.rpc.Status'), { code: 'int32=1', message: 'string=2', details: 'google.protobuf.Any=3[]' });
  t.same(ids('google.rpc.RetryInfo'), { retryDelay: 'google.protobuf.Duration=1' });
});

t.test('HistogramDataPoint sum/min/max are proto3 optional (presence tracked)', async (t) => {
  const dp = otlpType('opentelemetry.proto.metrics.v1.HistogramDataPoint');
  for (const f of ['sum', 'min', 'max']) t.ok(dp.fields[f]!.partOf, `${f} has presence`);
  t.notOk(dp.fields.count!.partOf, 'count has no presence');
});
