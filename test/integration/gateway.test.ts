// End-to-end through a running gateway: the specification's OTLP/JSON examples, bad input next to good
// input, the default file exporter, and draining on shutdown.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { readFileSegments } from '../../src/export/file-exporter.js';
import { startGateway } from '../../src/gateway.js';
import { otlpJsonToProtobuf } from '../../src/process/wire/otlp-json.js';
import { SIGNAL_WIRE, type Signal } from '../../src/signals.js';
import { flattenRequests, stampTenant, tenantLast } from '../helpers/flatten.js';
import { baseUrl, silentLogger, sinkExporter, startTestGateway, testConfig } from '../helpers/gateway.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { otlpJsonFixtures } from '../helpers/fixtures.js';

const specExamples: [string, Signal][] = [
  ['trace.json', 'traces'],
  ['metrics.json', 'metrics'],
  ['logs.json', 'logs'],
  ['events.json', 'logs'],
];

function toProtobuf(signal: Signal, json: string): Uint8Array {
  const converted = otlpJsonToProtobuf(signal, json);
  if (!converted.ok) throw new Error(converted.message);
  return converted.bytes;
}

async function post(url: string, body: Uint8Array | string, contentType: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': contentType } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

function grpcExport(address: string, signal: Signal, body: Buffer): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(SIGNAL_WIRE[signal].grpcPath, (b: Buffer) => b, (b: Buffer) => b, body, (err) => {
      client.close();
      resolve(err);
    });
  });
}

t.test('the specification examples are accepted over HTTP/JSON and arrive intact', async (t) => {
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink)]);
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  for (const [file, signal] of specExamples) {
    const json = readFileSync(join(otlpJsonFixtures, file), 'utf8');
    const before = sink.received(signal).length;
    const res = await post(`${baseUrl(gw, 'http')}${SIGNAL_WIRE[signal].httpPath}`, json, 'application/json');
    t.equal(res.status, 200, `${file} accepted`);
    t.match(res.headers.get('content-type') ?? '', /application\/json/, `${file}: answered in JSON`);
    const want = flattenRequests(signal, [toProtobuf(signal, json)]);
    await sink.waitFor(() => sink.received(signal).length > before, 5000);
    const got = flattenRequests(signal, sink.received(signal).slice(before).map((r) => r.body));
    t.same(tenantLast(got), stampTenant(want, 'default'), `${file}: forwarded content equals the example, stamped with its tenant`);
  }
});

t.test('malformed input gets 400 / INVALID_ARGUMENT and the gateway keeps serving', async (t) => {
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink)]);
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  const good = Buffer.from(toProtobuf('traces', readFileSync(join(otlpJsonFixtures, 'trace.json'), 'utf8')));
  const http = `${baseUrl(gw, 'http')}/v1/traces`;
  const grpcAddress = `${gw.addresses.grpc!.host}:${gw.addresses.grpc!.port}`;
  const bad: [string, Buffer][] = [
    ['truncated', good.subarray(0, good.length - 3)],
    ['random bytes', Buffer.from('ffffffffffffffffffff0102030405', 'hex')],
    ['wrong wire type at top level', Buffer.from([0x08, 0x01])],
    ['length past the end', Buffer.from([0x0a, 0xff, 0x01, 0x00])],
  ];
  for (const [name, body] of bad) {
    const res = await post(http, body, 'application/x-protobuf');
    t.equal(res.status, 400, `HTTP ${name} → 400`);
    const err = await grpcExport(grpcAddress, 'traces', body);
    t.equal(err?.code, grpc.status.INVALID_ARGUMENT, `gRPC ${name} → INVALID_ARGUMENT`);
  }
  const badJson = await post(http, '{"resourceSpans": [', 'application/json');
  t.equal(badJson.status, 400, 'broken JSON → 400');
  const text = await post(http, 'hello', 'text/plain');
  t.equal(text.status, 415, 'text/plain → 415');

  const before = sink.received('traces').length;
  t.equal((await post(http, good, 'application/x-protobuf')).status, 200, 'a good request still succeeds over HTTP');
  t.equal(await grpcExport(grpcAddress, 'traces', good), null, 'a good request still succeeds over gRPC');
  await sink.waitFor(() => flattenRequests('traces', sink.received('traces').slice(before).map((r) => r.body)).length >= 2, 5000);
  const metrics = await gw.metrics.registry.getSingleMetricAsString('receiver_refused_requests_total');
  t.match(metrics, /reason="MALFORMED_PAYLOAD"/, 'refusals are counted by reason');
});

t.test('with no exporter configured, the gateway writes to files under the data dir', async (t) => {
  const config = testConfig([]);
  const gw = await startGateway(config, { logger: silentLogger });
  const json = readFileSync(join(otlpJsonFixtures, 'logs.json'), 'utf8');
  const res = await post(`${baseUrl(gw, 'http')}/v1/logs`, json, 'application/json');
  t.equal(res.status, 200);
  await gw.stop(5000);
  const { records, truncated } = readFileSegments(join(config.dataDir, 'export'), 'logs');
  t.same(truncated, [], 'no truncated records');
  t.equal(records[0]?.tenant, 'default', 'written under the request\'s tenant');
  t.same(tenantLast(flattenRequests('logs', records.map((r) => r.body))), stampTenant(flattenRequests('logs', [toProtobuf('logs', json)]), 'default'), 'the file holds the logs');
});

t.test('shutdown drains what was acknowledged', async (t) => {
  const sink = await startOtlpSink();
  // A long flush interval: only the drain on shutdown can send these batches.
  const gw = await startTestGateway([sinkExporter(sink, 'otlp-http', { batch: { maxBytes: 1 << 22, maxItems: 100_000, flushIntervalMs: 60_000, passThroughBytes: 1 << 30 } })]);
  t.teardown(() => sink.close());
  const json = readFileSync(join(otlpJsonFixtures, 'trace.json'), 'utf8');
  const http = `${baseUrl(gw, 'http')}/v1/traces`;
  const acked = (await Promise.all(Array.from({ length: 20 }, () => post(http, json, 'application/json')))).filter((r) => r.status === 200).length;
  t.equal(acked, 20, 'all requests acknowledged');
  t.equal(sink.received('traces').length, 0, 'nothing sent before shutdown (batches still open)');
  await gw.stop(5000);
  const spans = flattenRequests('traces', sink.received('traces').map((r) => r.body));
  t.equal(spans.length, 20, 'every acknowledged span reached the backend during the drain');
});
