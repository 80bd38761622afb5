// Conformance: the official OpenTelemetry JS SDK exporters (traces, metrics, logs × gRPC, HTTP/protobuf,
// HTTP/JSON) send to a running gateway; a test OTLP backend receives what the gateway forwards. The
// forwarded content must equal, field by field, what the SDK's own protobuf serializer produces for
// the same data (resource, scope, ids, attributes, timestamps, events, links, status, data points).
import t from 'tap';
import { context, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as LogsGrpc } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as LogsJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as LogsProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as MetricsGrpc } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as MetricsJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as MetricsProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as TracesGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as TracesJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as TracesProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { ProtobufLogsSerializer, ProtobufMetricsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Signal } from '../../src/signals.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { flattenRequests, stampTenant, tenantLast } from '../helpers/flatten.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';

const resource = resourceFromAttributes({
  'service.name': 'checkout',
  'service.version': '1.4.2',
  'host.name': 'node-7',
  'deployment.replicas': 3,
  'feature.enabled': true,
});

const attrs: Attributes = {
  'http.request.method': 'POST',
  'http.response.status_code': 503,
  'retry.ratio': 0.25,
  'cache.hit': false,
  'db.statements': ['SELECT 1', 'SELECT 2'],
  'shard.ids': [1, 2, 3],
  'unicode.text': 'Händler „Café Zoë“ — 東京',
};

async function makeSpans(): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
  const tracer = provider.getTracer('conformance.tracer', '2.0.1', { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' });
  const root = tracer.startSpan('GET /cart', { kind: SpanKind.SERVER, attributes: attrs, startTime: [1_700_000_000, 123_456_789] });
  const other = tracer.startSpan('background', { kind: SpanKind.INTERNAL, startTime: [1_700_000_001, 5] });
  const parentCtx = trace.setSpan(context.active(), root);
  const child = tracer.startSpan(
    'SELECT cart',
    {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system': 'postgresql', 'db.rows': 42 },
      links: [{ context: other.spanContext(), attributes: { 'link.reason': 'batch' } }],
      startTime: [1_700_000_000, 200_000_000],
    },
    parentCtx,
  );
  child.addEvent('retry', { attempt: 2, 'backoff.ms': 12.5 }, [1_700_000_000, 300_000_000]);
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'deadlock detected' });
  child.end([1_700_000_000, 400_000_000]);
  root.setStatus({ code: SpanStatusCode.OK });
  root.end([1_700_000_001, 0]);
  other.end([1_700_000_002, 999_999_999]);
  await provider.forceFlush();
  const finished = memory.getFinishedSpans(); // before shutdown, which empties the memory exporter
  await provider.shutdown();
  return finished;
}

async function makeMetrics(): Promise<ResourceMetrics> {
  const memory = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: memory, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = provider.getMeter('conformance.meter', '0.3.0');
  meter.createCounter('orders.placed', { unit: '{order}', description: 'orders' }).add(5, { region: 'eu' });
  meter.createUpDownCounter('queue.depth').add(-3, { queue: 'q1' });
  const h = meter.createHistogram('request.duration', { unit: 'ms' });
  for (const v of [1, 7, 12.5, 250, 900]) h.record(v, { route: '/cart' });
  meter.createObservableGauge('cpu.temp').addCallback((r) => r.observe(61.5, { core: 0 }));
  await reader.forceFlush();
  const [first] = memory.getMetrics();
  await provider.shutdown();
  if (!first) throw new Error('no metrics collected');
  return first;
}

async function makeLogs(): Promise<ReadableLogRecord[]> {
  const memory = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: memory })] });
  const logger = provider.getLogger('conformance.logger', '1.0.0');
  logger.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: 'disk almost full', attributes: attrs, timestamp: [1_700_000_000, 1] });
  logger.emit({
    severityNumber: SeverityNumber.ERROR,
    body: { message: 'payment failed', code: 402, nested: { list: [1, 'two', true] } },
    eventName: 'payment.failure',
    timestamp: [1_700_000_000, 2],
  });
  await provider.forceFlush();
  const records = memory.getFinishedLogRecords();
  await provider.shutdown();
  return records;
}

interface AnyExporter<T> {
  export(items: T, cb: (r: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

function exportWith<T>(exporter: AnyExporter<T>, items: T): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(items, resolve));
}

const sink = await startOtlpSink();
const gw = await startTestGateway([sinkExporter(sink)]);
t.teardown(async () => {
  await gw.stop(2000);
  await sink.close();
});
const grpcUrl = `http://${gw.addresses.grpc!.host}:${gw.addresses.grpc!.port}`;
const httpUrl = baseUrl(gw, 'http');

const spans = await makeSpans();
const metrics = await makeMetrics();
const logs = await makeLogs();

const expected: Record<Signal, Uint8Array> = {
  traces: ProtobufTraceSerializer.serializeRequest(spans)!,
  metrics: ProtobufMetricsSerializer.serializeRequest(metrics)!,
  logs: ProtobufLogsSerializer.serializeRequest(logs)!,
};

type Case = { signal: Signal; protocol: string; make: () => AnyExporter<unknown>; data: unknown };
const cases: Case[] = [
  { signal: 'traces', protocol: 'grpc', make: () => new TracesGrpc({ url: grpcUrl }), data: spans },
  { signal: 'traces', protocol: 'http/protobuf', make: () => new TracesProto({ url: `${httpUrl}/v1/traces` }), data: spans },
  { signal: 'traces', protocol: 'http/json', make: () => new TracesJson({ url: `${httpUrl}/v1/traces` }), data: spans },
  { signal: 'metrics', protocol: 'grpc', make: () => new MetricsGrpc({ url: grpcUrl }), data: metrics },
  { signal: 'metrics', protocol: 'http/protobuf', make: () => new MetricsProto({ url: `${httpUrl}/v1/metrics` }), data: metrics },
  { signal: 'metrics', protocol: 'http/json', make: () => new MetricsJson({ url: `${httpUrl}/v1/metrics` }), data: metrics },
  { signal: 'logs', protocol: 'grpc', make: () => new LogsGrpc({ url: grpcUrl }), data: logs },
  { signal: 'logs', protocol: 'http/protobuf', make: () => new LogsProto({ url: `${httpUrl}/v1/logs` }), data: logs },
  { signal: 'logs', protocol: 'http/json', make: () => new LogsJson({ url: `${httpUrl}/v1/logs` }), data: logs },
  // gzip-compressed exports, as SDKs send them with OTEL_EXPORTER_OTLP_COMPRESSION=gzip
  { signal: 'traces', protocol: 'grpc+gzip', make: () => new TracesGrpc({ url: grpcUrl, compression: 'gzip' as never }), data: spans },
  { signal: 'logs', protocol: 'http/protobuf+gzip', make: () => new LogsProto({ url: `${httpUrl}/v1/logs`, compression: 'gzip' as never }), data: logs },
];

for (const c of cases) {
  t.test(`${c.signal} over ${c.protocol} arrive intact`, async (t) => {
    const before = sink.received(c.signal).length;
    const want = flattenRequests(c.signal, [expected[c.signal]]);
    t.ok(want.length > 0, 'the SDK produced items to compare');
    const exporter = c.make();
    const result = await exportWith(exporter, c.data);
    await exporter.shutdown();
    t.equal(result.code, ExportResultCode.SUCCESS, `the SDK exporter reports success (${result.error?.message ?? 'no error'})`);
    await sink.waitFor(() => flattenRequests(c.signal, sink.received(c.signal).slice(before).map((r) => r.body)).length >= want.length, 10_000);
    const got = flattenRequests(c.signal, sink.received(c.signal).slice(before).map((r) => r.body));
    t.same(tenantLast(got), stampTenant(want, 'default'), 'forwarded content equals what the SDK serialized, field by field, stamped with its tenant');
  });
}
