// The PII corpus (../shared/fixtures/pii, see its README) and test/fixtures/pii-places through a running gateway with the shipped
// default policies, for all three signals over HTTP/JSON, HTTP/protobuf and gRPC: no line of
// secrets.txt may appear in anything the gateway exported (the raw bytes the backend received, and
// the same data rendered as OTLP/JSON) nor in its /metrics page; every negative must survive; every
// item must arrive.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { defaultPoliciesDir } from '../../src/paths.js';
import { countItems, decodeForComparison } from '../../src/process/reference/reference.js';
import { otlpJsonToProtobuf } from '../../src/process/wire/otlp-json.js';
import { SIGNAL_WIRE, type Signal } from '../../src/signals.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { piiFixtures, piiPlacesFixtures } from '../helpers/fixtures.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';

const list = (file: string, dir = piiFixtures): [string, string][] =>
  readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)]);

// The shared corpus, then the repository's fixture with secrets in the places the corpus leaves clean
// (keys, schema URLs, trace states, bytes values, scope, log and metric fields: issue 18, finding 6).
const FILES: [Signal, string, number, string][] = [
  ['traces', 'traces.json', 120, piiFixtures],
  ['logs', 'logs.json', 40, piiFixtures],
  ['metrics', 'metrics.json', 23, piiFixtures],
  ['traces', 'traces.json', 1, piiPlacesFixtures],
  ['logs', 'logs.json', 1, piiPlacesFixtures],
  ['metrics', 'metrics.json', 2, piiPlacesFixtures],
];

function grpcExport(address: string, signal: Signal, body: Uint8Array): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(SIGNAL_WIRE[signal].grpcPath, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(body), (err) => {
      client.close();
      resolve(err);
    });
  });
}

t.test('the PII corpus through the gateway: nothing leaks, negatives survive, nothing is lost', async (t) => {
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink, 'otlp-grpc')], (c) => {
    c.policiesDir = defaultPoliciesDir;
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  const http = baseUrl(gw, 'http');
  const grpcAddress = `${gw.addresses.grpc!.host}:${gw.addresses.grpc!.port}`;
  const expected: Record<Signal, number> = { traces: 0, metrics: 0, logs: 0 };

  for (const [signal, file, items, dir] of FILES) {
    const json = readFileSync(join(dir, file));
    const converted = otlpJsonToProtobuf(signal, json);
    if (!converted.ok) throw new Error(converted.message);
    const path = SIGNAL_WIRE[signal].httpPath;
    const viaJson = await fetch(`${http}${path}`, { method: 'POST', body: json, headers: { 'content-type': 'application/json' } });
    t.equal(viaJson.status, 200, `${file} over HTTP/JSON`);
    const viaProto = await fetch(`${http}${path}`, { method: 'POST', body: converted.bytes, headers: { 'content-type': 'application/x-protobuf' } });
    t.equal(viaProto.status, 200, `${file} over HTTP/protobuf`);
    t.equal(await grpcExport(grpcAddress, signal, converted.bytes), null, `${file} over gRPC`);
    expected[signal] += 3 * items;
  }

  const itemsOf = (signal: Signal): number =>
    sink.received(signal).reduce((n, r) => n + countItems(signal, decodeForComparison(signal, r.body) as Record<string, unknown>), 0);
  await sink.waitFor(() => itemsOf('traces') >= expected.traces && itemsOf('logs') >= expected.logs && itemsOf('metrics') >= expected.metrics, 10_000);
  for (const s of ['traces', 'logs', 'metrics'] as const) t.equal(itemsOf(s), expected[s], `${s}: every item arrived once`);

  const parts: Buffer[] = [];
  for (const r of sink.received()) {
    parts.push(r.body, Buffer.from(JSON.stringify(decodeForComparison(r.signal, r.body))));
  }
  const metricsPage = await (await fetch(`${baseUrl(gw, 'admin')}/metrics`)).text();
  parts.push(Buffer.from(metricsPage));
  const emitted = Buffer.concat(parts);
  const secrets = list('secrets.txt');
  t.equal(secrets.length, 403);
  t.same(secrets.filter(([, v]) => emitted.includes(v)), [], 'no secret in the exported bytes, their OTLP/JSON rendering or /metrics');
  const placed = list('secrets.txt', piiPlacesFixtures);
  t.ok(placed.length >= 30);
  t.same(placed.filter(([, v]) => emitted.includes(v)), [], 'no secret planted in keys, schema URLs, trace states, bytes values, scope, log or metric fields');
  const exported = Buffer.concat(parts.slice(0, -1));
  t.same(list('negatives.txt').filter(([, v]) => !exported.includes(v)), [], 'every negative survives');
  t.same(list('negatives.txt', piiPlacesFixtures).filter(([, v]) => !exported.includes(v)), [], 'every negative of the new places survives');
  t.match(metricsPage, /policy_redactions_total\{signal="traces",tenant="default",category="email"\} \d+/, 'redactions are counted per category');
  t.match(metricsPage, /policy_redactions_total\{signal="logs",tenant="default",category="private_key"\} \d+/);
});
