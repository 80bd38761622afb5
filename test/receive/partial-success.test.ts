// Issue 19 item 4: items the allowlists drop from an accepted request are reported to the client in
// partial_success (rejected count per signal, a message naming the reason), on OTLP/gRPC, OTLP/HTTP
// protobuf and OTLP/HTTP JSON, through a real gateway with a real allowlists.yaml; a request with
// nothing dropped gets a response without partial_success.
import t from 'tap';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { defaultPoliciesDir } from '../../src/paths.js';
import { ITEM_DROP_REASONS, partialSuccessOf } from '../../src/receive/responses.js';
import { DROP_ATTRIBUTE_KEY, DROP_METRIC_NAME, DROP_SERVICE_NAME } from '../../src/process/worker/policy-rules.js';
import { otlpJsonToProtobuf } from '../../src/process/wire/otlp-json.js';
import { responseType } from '../../src/process/wire/otlp-schema.js';
import { SIGNAL_WIRE, type Signal } from '../../src/signals.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { complete } from '../helpers/policy-file.js';

const service = (name: string) => ({ attributes: [{ key: 'service.name', value: { stringValue: name } }] });
const span = (i: number) => ({ traceId: '5b8efff798038103d269b633813fc60c', spanId: `eee19b7ec3c1b17${i}`, name: `op-${i}`, kind: 1, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000001000000000' });
const point = (v: number) => ({ timeUnixNano: '1700000000000000000', asDouble: v });
const log = (i: number) => ({ timeUnixNano: '1700000000000000000', body: { stringValue: `line ${i}` } });

// checkout is allowed, spam is not; metric names http.* only.
const requests: Record<Signal, { body: unknown; rejected: number; reasons: RegExp[] }> = {
  traces: {
    body: { resourceSpans: [
      { resource: service('checkout'), scopeSpans: [{ spans: [span(1), span(2)] }] },
      { resource: service('spam'), scopeSpans: [{ spans: [span(3), span(4), span(5)] }] },
    ] },
    rejected: 3,
    reasons: [/^3 spans rejected: 3 dropped by policy: service\.name not in the allowlist/],
  },
  metrics: {
    body: { resourceMetrics: [
      { resource: service('checkout'), scopeMetrics: [{ metrics: [
        { name: 'http.requests', gauge: { dataPoints: [point(1), point(2)] } },
        { name: 'debug.noise', gauge: { dataPoints: [point(3), point(4), point(5)] } },
      ] }] },
      { resource: service('spam'), scopeMetrics: [{ metrics: [{ name: 'http.requests', gauge: { dataPoints: [point(6)] } }] }] },
    ] },
    rejected: 4,
    reasons: [/^4 data points rejected: /, /1 dropped by policy: service\.name not in the allowlist/, /3 dropped by policy: metric name not in the allowlist \(allowlists\.yaml metricNames\)/],
  },
  logs: {
    body: { resourceLogs: [
      { resource: service('spam'), scopeLogs: [{ logRecords: [log(1), log(2)] }] },
      { resource: service('checkout'), scopeLogs: [{ logRecords: [log(3)] }] },
    ] },
    rejected: 2,
    reasons: [/^2 log records rejected: 2 dropped by policy: service\.name not in the allowlist \(allowlists\.yaml serviceNames\)$/],
  },
};
const clean: Record<Signal, unknown> = {
  traces: { resourceSpans: [{ resource: service('checkout'), scopeSpans: [{ spans: [span(1)] }] }] },
  metrics: { resourceMetrics: [{ resource: service('checkout'), scopeMetrics: [{ metrics: [{ name: 'http.requests', gauge: { dataPoints: [point(1)] } }] }] }] },
  logs: { resourceLogs: [{ resource: service('checkout'), scopeLogs: [{ logRecords: [log(1)] }] }] },
};

const REJECTED_FIELD: Record<Signal, string> = { traces: 'rejectedSpans', metrics: 'rejectedDataPoints', logs: 'rejectedLogRecords' };

function protobufOf(signal: Signal, body: unknown): Buffer {
  const r = otlpJsonToProtobuf(signal, JSON.stringify(body));
  if (!r.ok) throw new Error(r.message);
  return Buffer.from(r.bytes);
}

/** partial_success as { rejected, message } from a binary Export*ServiceResponse (protobufjs, not our encoder). */
function decodeResponse(signal: Signal, bytes: Uint8Array): { rejected: number; message: string } | undefined {
  const m = responseType(signal).toObject(responseType(signal).decode(bytes), { longs: Number }) as { partialSuccess?: Record<string, number | string> };
  if (!m.partialSuccess) return undefined;
  return { rejected: Number(m.partialSuccess[REJECTED_FIELD[signal]] ?? 0), message: String(m.partialSuccess.errorMessage ?? '') };
}

t.test('partialSuccessOf counts only item drops', async (t) => {
  t.same(Object.keys(ITEM_DROP_REASONS).sort(), [DROP_METRIC_NAME, DROP_SERVICE_NAME].sort(), 'the reasons are the worker\'s');
  t.same(partialSuccessOf('traces', { rejectedItems: 0, dropped: { [DROP_ATTRIBUTE_KEY]: 7 } }), {}, 'a dropped attribute is not a rejected item');
  t.same(partialSuccessOf('logs', { rejectedItems: 0 }), {});
  t.match(partialSuccessOf('metrics', { rejectedItems: 2, dropped: { [DROP_METRIC_NAME]: 3 } }), { rejectedItems: 5, errorMessage: /^5 data points rejected: 2 malformed; 3 dropped by policy: metric name/ });
});

t.test('gRPC, HTTP protobuf and HTTP JSON carry the rejected counts', async (t) => {
  const policies = mkdtempSync(join(tmpdir(), 'stella-partial-'));
  cpSync(defaultPoliciesDir, policies, { recursive: true });
  writeFileSync(join(policies, 'allowlists.yaml'), complete('metricNames: ["http.*"]\nattributeKeys: { traces: any, metrics: any, logs: any }\nserviceNames: [checkout]\ntenants: {}\nprofiles: {}\n'));
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.policiesDir = policies;
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  const grpcAddress = `${gw.addresses.grpc!.host}:${gw.addresses.grpc!.port}`;
  const Client = grpc.makeGenericClientConstructor({}, 'Export');
  const client = new Client(grpcAddress, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const viaGrpc = (signal: Signal, body: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(SIGNAL_WIRE[signal].grpcPath, (b: Buffer) => b, (b: Buffer) => b, body, (err: grpc.ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!)));
    });
  const viaHttp = async (signal: Signal, body: Buffer | string, type: string) => {
    const res = await fetch(`${baseUrl(gw, 'http')}${SIGNAL_WIRE[signal].httpPath}`, { method: 'POST', headers: { 'content-type': type }, body });
    t.equal(res.status, 200, `${signal} ${type}: 200`);
    return res;
  };

  for (const signal of ['traces', 'metrics', 'logs'] as const) {
    const { body, rejected, reasons } = requests[signal];
    const answers: [string, { rejected: number; message: string } | undefined][] = [];
    answers.push(['grpc', decodeResponse(signal, await viaGrpc(signal, protobufOf(signal, body)))]);
    answers.push(['http/protobuf', decodeResponse(signal, new Uint8Array(await (await viaHttp(signal, protobufOf(signal, body), 'application/x-protobuf')).arrayBuffer()))]);
    const json = (await (await viaHttp(signal, JSON.stringify(body), 'application/json')).json()) as { partialSuccess?: Record<string, string> };
    // proto3 JSON: int64 as a decimal string.
    t.equal(typeof json.partialSuccess?.[REJECTED_FIELD[signal]], 'string', `${signal} JSON: ${REJECTED_FIELD[signal]} is an int64 string`);
    answers.push(['http/json', json.partialSuccess && { rejected: Number(json.partialSuccess[REJECTED_FIELD[signal]]), message: json.partialSuccess.errorMessage ?? '' }]);
    for (const [via, answer] of answers) {
      t.equal(answer?.rejected, rejected, `${signal} ${via}: rejected count`);
      for (const re of reasons) t.match(answer?.message, re, `${signal} ${via}: message names the reason`);
    }
    // Nothing dropped: no partial_success at all (OTLP: it MUST then be unset).
    t.equal(decodeResponse(signal, await viaGrpc(signal, protobufOf(signal, clean[signal]))), undefined, `${signal} grpc: clean request, no partial_success`);
    t.same(await (await viaHttp(signal, JSON.stringify(clean[signal]), 'application/json')).json(), {}, `${signal} json: clean request, {}`);
  }
});
