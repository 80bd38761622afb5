// Overload through a running gateway (docs/guides/overload.md): a request whose client's deadline passes or
// whose client leaves is neither processed (when still queued) nor exported (when already processed),
// is never acknowledged, and a full time-bounded queue answers the retryable status. The one worker is
// held by a gated request (the test worker writes PATH.entered, then waits until the test creates PATH),
// so every step waits for an event.
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startGateway, type RunningGateway } from '../../src/gateway.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { SIGNAL_WIRE } from '../../src/signals.js';
import type { GatewayMetrics } from '../../src/telemetry/metrics.js';
import { baseUrl, silentLogger, sinkExporter, testConfig } from '../helpers/gateway.js';
import { startOtlpSink, type OtlpSink } from '../helpers/otlp-sink.js';
import { span, tracesRequest } from '../helpers/wire-builder.js';

const testWorker = new URL('../process/fixtures/test-worker.js', import.meta.url);
const T1 = '0102030405060708090a0b0c0d0e0f10';
const traces = (name: string): Buffer => Buffer.from(tracesRequest(span({ traceId: T1, name })));

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`hung: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A span name that holds the worker until open(). */
function gate(): { name: string; entered: () => Promise<void>; open: () => void } {
  const path = join(mkdtempSync(join(tmpdir(), 'stella-gate-')), 'open');
  return {
    name: `gate=${path};`,
    entered: () => until(() => existsSync(`${path}.entered`), 'the gated request reached a worker'),
    open: () => writeFileSync(path, ''),
  };
}

async function value(counter: GatewayMetrics['poolTasks'] | GatewayMetrics['poolDropped'] | GatewayMetrics['receiverRequests'], labels: Record<string, string>): Promise<number> {
  const m = await counter.get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .reduce((a, v) => a + v.value, 0);
}

async function gateway(t: Test, patch: (c: GatewayConfig) => void = () => {}): Promise<{ gw: RunningGateway; sink: OtlpSink; client: grpc.Client }> {
  const sink = await startOtlpSink();
  const gw = await startGateway(testConfig([sinkExporter(sink)], patch), { logger: silentLogger, workerFile: testWorker });
  const client = new grpc.Client(`127.0.0.1:${gw.addresses.grpc!.port}`, grpc.credentials.createInsecure());
  t.teardown(async () => {
    client.close();
    await gw.stop(2000);
    await sink.close();
  });
  return { gw, sink, client };
}

function grpcExport(client: grpc.Client, body: Buffer, deadlineMs?: number): Promise<grpc.ServiceError | null> {
  const options: grpc.CallOptions = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
  return new Promise((resolve) => {
    client.makeUnaryRequest(SIGNAL_WIRE.traces.grpcPath, (b: Buffer) => b, (b: Buffer) => b, body, new grpc.Metadata(), options, (err) => resolve(err));
  });
}

function httpExport(gw: RunningGateway, body: Buffer): Promise<Response> {
  return fetch(`${baseUrl(gw, 'http')}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
}

const exported = (sink: OtlpSink, name: string): boolean => sink.received('traces').some((r) => r.body.includes(name));

t.test("a request whose deadline passes while it is queued is not processed, not exported, not acknowledged", async (t) => {
  const { gw, sink, client } = await gateway(t);
  const g = gate();
  const blocker = httpExport(gw, traces(g.name));
  await g.entered();
  // A deadline long enough for the request to reach the queue on a busy machine.
  const late = grpcExport(client, traces('late-queued'), 3000);
  await until(() => gw.metrics.poolStats?.().queued === 1, 'the request is queued');
  t.equal((await late)?.code, grpc.status.DEADLINE_EXCEEDED, 'the client saw its deadline pass');
  // The server's deadline timer or the client's own cancellation at its deadline (RST_STREAM), whichever
  // reaches the pool first: reason deadline or client_gone, dropped from the queue either way.
  await until(async () => (await value(gw.metrics.poolDropped, { stage: 'queue' })) === 1, 'dropped from the queue');
  g.open();
  t.equal((await blocker).status, 200);
  t.equal(await grpcExport(client, traces('after')), null, 'the next request is served');
  await sink.waitFor(() => exported(sink, 'after'), 10_000);
  t.notOk(exported(sink, 'late-queued'), 'the late request never reached the backend');
  t.equal(await value(gw.metrics.poolTasks, { outcome: 'ok' }), 2, 'the worker ran the blocker and the next request only');
  t.equal(await value(gw.metrics.receiverRequests, { protocol: 'grpc', outcome: 'ok' }), 1, 'only the next request was acknowledged over gRPC');
});

t.test('no request is acknowledged after its deadline: output of a request processed too late is discarded', async (t) => {
  const { gw, sink, client } = await gateway(t);
  const g = gate();
  // The gated request itself carries the deadline: it is in the worker when the deadline passes.
  const late = grpcExport(client, traces(`${g.name} late-running`), 3000);
  await g.entered();
  t.equal((await late)?.code, grpc.status.DEADLINE_EXCEEDED);
  g.open();
  // Reason deadline, or client_gone when the client's cancellation at its deadline arrived first.
  await until(async () => (await value(gw.metrics.poolDropped, { stage: 'result' })) === 1, 'its output discarded');
  const refusedLate =
    (await value(gw.metrics.receiverRequests, { protocol: 'grpc', outcome: 'DEADLINE_EXCEEDED' })) + (await value(gw.metrics.receiverRequests, { protocol: 'grpc', outcome: 'CLIENT_GONE' }));
  t.equal(refusedLate, 1, 'answered DEADLINE_EXCEEDED (or CLIENT_GONE), not ok');
  t.equal(await value(gw.metrics.receiverRequests, { protocol: 'grpc', outcome: 'ok' }), 0, 'not acknowledged');
  t.equal(await grpcExport(client, traces('after')), null);
  await sink.waitFor(() => exported(sink, 'after'), 10_000);
  t.notOk(exported(sink, 'late-running'), 'processed, but never exported: the client will retry it');
  t.equal(await value(gw.metrics.receiverRequests, { protocol: 'grpc', outcome: 'ok' }), 1);
});

t.test("an HTTP client that leaves while its request is queued: the task never reaches a worker", async (t) => {
  const { gw, sink } = await gateway(t);
  const g = gate();
  const blocker = httpExport(gw, traces(g.name));
  await g.entered();
  const body = traces('left');
  const req = httpRequest(`${baseUrl(gw, 'http')}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } });
  req.on('error', () => {});
  req.end(body);
  await until(() => gw.metrics.poolStats?.().queued === 1, 'the request is queued');
  req.destroy();
  await until(async () => (await value(gw.metrics.poolDropped, { reason: 'client_gone', stage: 'queue' })) === 1, 'dropped when the client left');
  t.equal(gw.metrics.poolStats?.().queued, 0);
  g.open();
  t.equal((await blocker).status, 200);
  t.equal((await httpExport(gw, traces('after'))).status, 200);
  await sink.waitFor(() => exported(sink, 'after'), 10_000);
  t.notOk(exported(sink, 'left'));
  t.equal(await value(gw.metrics.poolTasks, { outcome: 'ok' }), 2, 'blocker and the next request only');
});

t.test('a full time-bounded queue refuses with 503 + Retry-After (HTTP) and UNAVAILABLE + RetryInfo (gRPC)', async (t) => {
  const { gw, client } = await gateway(t, (c) => {
    c.process.maxQueueWaitMs = 100;
  });
  const g = gate();
  const blocker = httpExport(gw, traces(g.name));
  await g.entered();
  const res = await httpExport(gw, traces('waits-http'));
  t.equal(res.status, 503);
  t.ok(Number(res.headers.get('retry-after')) >= 1, `Retry-After: ${res.headers.get('retry-after')}`);
  const err = await grpcExport(client, traces('waits-grpc'));
  t.equal(err?.code, grpc.status.UNAVAILABLE);
  t.ok(err?.metadata.get('grpc-status-details-bin').length, 'google.rpc.Status (with RetryInfo) in the trailer');
  t.equal(await value(gw.metrics.receiverRequests, { outcome: 'OVERLOADED' }), 2);
  t.equal(await value(gw.metrics.poolDropped, { reason: 'queue_wait' }), 2);
  g.open();
  t.equal((await blocker).status, 200);
});

t.test('while the pool could not take a request in time, it is refused before its body is read (gRPC metadata, HTTP headers)', async (t) => {
  const { gw, client } = await gateway(t, (c) => {
    c.process.maxQueueWaitMs = 100;
  });
  t.equal(await grpcExport(client, traces('warm-up')), null, 'the first task carries the policy (not counted in the estimate)');
  t.equal(await grpcExport(client, traces('sleep=300; slow')), null, 'a task that holds its worker for 300 ms: the expected wait is now over 100 ms');
  const g = gate();
  const blocker = httpExport(gw, traces(g.name));
  await g.entered();
  const tasksBefore = (await gw.metrics.poolTasks.get()).values.reduce((a, v) => a + v.value, 0);
  const err = await grpcExport(client, traces('shed'));
  t.equal(err?.code, grpc.status.UNAVAILABLE);
  t.ok(err?.metadata.get('grpc-status-details-bin').length, 'google.rpc.Status with RetryInfo');
  // HTTP: refused on the request's headers (onRequest), the connection closed with the body unread.
  const res = await httpExport(gw, traces('shed-http'));
  t.equal(res.status, 503);
  t.ok(Number(res.headers.get('retry-after')) >= 1, 'with Retry-After');
  t.equal(res.headers.get('connection'), 'close', 'the unread body is not drained: the connection closes');
  t.equal((await gw.metrics.poolTasks.get()).values.reduce((a, v) => a + v.value, 0), tasksBefore, 'the pool never saw them');
  t.equal(await value(gw.metrics.receiverRefusedRequests as unknown as GatewayMetrics['poolTasks'], { protocol: 'grpc', reason: 'OVERLOADED', tenant: 'unknown' }), 1, 'counted by the gRPC receiver');
  t.equal(await value(gw.metrics.receiverRefusedRequests as unknown as GatewayMetrics['poolTasks'], { protocol: 'http', reason: 'OVERLOADED', tenant: 'unknown' }), 1, 'counted by the HTTP receiver');
  g.open();
  t.equal((await blocker).status, 200);
  t.equal(await grpcExport(client, traces('after')), null, 'served again once the pool has room');
  t.equal((await httpExport(gw, traces('after-http'))).status, 200);
});
