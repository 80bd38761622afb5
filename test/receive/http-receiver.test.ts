import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { createGzip, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { GrpcCode, rejected, retryable } from '../../src/errors.js';
import { createHttpReceiver, type HttpServerTimeouts } from '../../src/receive/http-receiver.js';
import type { Receiver } from '../../src/receive/types.js';
import { decodeRpcStatus } from '../../src/rpc-status.js';
import { SIGNALS, SIGNAL_WIRE } from '../../src/signals.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { payload, recordingLogger, scriptedIngest, type ScriptedIngest } from './scripted-ingest.js';

const MAX = 4 << 20;
const PB = 'application/x-protobuf';
const JSON_CT = 'application/json';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

interface Harness {
  receiver: Receiver;
  script: ScriptedIngest;
  metrics: GatewayMetrics;
  base: string;
  port: number;
}

async function startHarness(t: TapTest, timeouts: Partial<HttpServerTimeouts> = {}): Promise<Harness> {
  const script = scriptedIngest();
  const metrics = createMetrics({ defaultMetrics: false });
  const receiver = createHttpReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxBodyBytes: MAX },
    { open: script.open, metrics, logger: recordingLogger() },
    timeouts,
  );
  const { host, port } = await receiver.start();
  t.teardown(() => receiver.stop(500));
  return { receiver, script, metrics, base: `http://${host}:${port}`, port };
}

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function post(base: string, path: string, body: Buffer | string | undefined, headers: Record<string, string> = {}, method = 'POST'): Promise<Answer> {
  const res = await fetch(base + path, { method, body, headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function metricValue(metrics: GatewayMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v ? Number(v.value) : 0;
}

/** After a bad request, a good one on a fresh request still succeeds. */
async function stillServes(t: TapTest, h: Harness, what: string): Promise<void> {
  const before = h.script.calls.length;
  const r = await post(h.base, '/v1/traces', payload(50), { 'content-type': PB });
  t.equal(r.status, 200, `still serving after ${what}`);
  t.equal(h.script.calls.length, before + 1);
}

t.test('OTLP/HTTP receiver', async (t) => {
  const h = await startHarness(t);

  t.test('protobuf on every signal: bytes untouched, empty protobuf response', async (t) => {
    for (const signal of SIGNALS) {
      const body = payload(777, SIGNALS.indexOf(signal) + 3);
      const before = h.script.calls.length;
      const r = await post(h.base, SIGNAL_WIRE[signal].httpPath, body, {
        'content-type': PB,
        'X-Scope-OrgID': 'acme',
      });
      t.equal(r.status, 200, signal);
      t.equal(r.headers.get('content-type'), PB);
      t.equal(r.body.length, 0, 'empty Export*ServiceResponse');
      const c = h.script.calls[before];
      t.ok(c && c.body.equals(body), `${signal}: body byte-identical`);
      t.equal(c?.signal, signal);
      t.equal(c?.encoding, 'protobuf');
      t.equal(c?.ctx.protocol, 'http');
      t.equal(c?.ctx.remoteAddress, '127.0.0.1');
      t.equal(c?.ctx.headers['x-scope-orgid'], 'acme');
    }
    t.equal(await metricValue(h.metrics, 'receiver_requests_total', { signal: 'metrics', protocol: 'http', outcome: 'ok' }), 1);
    t.equal(await metricValue(h.metrics, 'receiver_request_bytes_total', { signal: 'logs', protocol: 'http' }), 777);
  });

  t.test('JSON (with charset) gets a JSON answer; application/protobuf is echoed', async (t) => {
    const json = JSON.stringify({ resourceSpans: [] });
    const before = h.script.calls.length;
    const r = await post(h.base, '/v1/traces', json, { 'content-type': 'application/json; charset=utf-8' });
    t.equal(r.status, 200);
    t.equal(r.headers.get('content-type'), JSON_CT);
    t.equal(r.body.toString(), '{}');
    t.equal(h.script.calls[before]?.encoding, 'json');
    t.equal(h.script.calls[before]?.body.toString(), json);

    const p = await post(h.base, '/v1/logs', payload(10), { 'content-type': 'Application/Protobuf' });
    t.equal(p.status, 200);
    t.equal(p.headers.get('content-type'), 'application/protobuf');
    t.equal(h.script.calls[before + 1]?.encoding, 'protobuf');
  });

  t.test('partial success in both encodings', async (t) => {
    h.script.answer({ status: 'ok', rejectedItems: 3, errorMessage: 'three spans had no trace id' });
    const j = await post(h.base, '/v1/traces', '{}', { 'content-type': JSON_CT });
    t.same(JSON.parse(j.body.toString()), { partialSuccess: { rejectedSpans: '3', errorMessage: 'three spans had no trace id' } });
    const m = await post(h.base, '/v1/metrics', '{}', { 'content-type': JSON_CT });
    t.same(JSON.parse(m.body.toString()), { partialSuccess: { rejectedDataPoints: '3', errorMessage: 'three spans had no trace id' } });
    const p = await post(h.base, '/v1/logs', payload(5), { 'content-type': PB });
    h.script.answer({ status: 'ok' });
    t.equal(p.status, 200);
    // partial_success (field 1) { rejected = 3 (field 1), error_message (field 2) }
    const msg = Buffer.from('three spans had no trace id');
    t.same(p.body, Buffer.concat([Buffer.from([0x0a, 2 + 2 + msg.length, 0x08, 3, 0x12, msg.length]), msg]));
  });

  t.test('gzip and deflate bodies arrive decompressed', async (t) => {
    const body = Buffer.concat([payload(3000, 9), Buffer.alloc(30_000, 0x20)]);
    const cases: [string, Buffer][] = [
      ['gzip', gzipSync(body)],
      ['deflate', deflateSync(body)],
      ['deflate', deflateRawSync(body)],
    ];
    for (const [enc, compressed] of cases) {
      const before = h.script.calls.length;
      const r = await post(h.base, '/v1/traces', compressed, { 'content-type': PB, 'content-encoding': enc });
      t.equal(r.status, 200, enc);
      t.ok(h.script.calls[before]?.body.equals(body), `${enc}: decompressed body handed on`);
    }
  });

  t.test('a gzip bomb gets 413 quickly, without inflating to its full size', async (t) => {
    const gz = createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    gz.on('data', (c: Buffer) => chunks.push(c));
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < 200; i++) gz.write(zeros);
    gz.end();
    await new Promise((resolve) => gz.on('end', resolve));
    const bomb = Buffer.concat(chunks);
    t.ok(bomb.length < MAX, `compressed bomb (${bomb.length} bytes) passes the raw limit`);

    const before = h.script.calls.length;
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
    const started = performance.now();
    const r = await post(h.base, '/v1/traces', bomb, { 'content-type': PB, 'content-encoding': 'gzip' });
    const ms = performance.now() - started;
    clearInterval(sampler);
    const grew = Math.max(peak, process.memoryUsage().rss) - rssBefore;

    t.equal(r.status, 413);
    t.equal(r.headers.get('content-type'), PB, 'Status in the request encoding');
    t.match(decodeRpcStatus(r.body), { code: GrpcCode.RESOURCE_EXHAUSTED, message: /after decompression/ });
    t.equal(r.headers.get('retry-after'), null, '413 is not retryable');
    t.ok(ms < 3000, `answered in ${ms.toFixed(0)} ms`);
    t.ok(grew < 64 << 20, `RSS grew by ${(grew / 2 ** 20).toFixed(1)} MiB, not by the 200 MiB expansion`);
    t.equal(h.script.calls.length, before, 'ingest never saw it');
    t.equal(await metricValue(h.metrics, 'receiver_refused_requests_total', {
      signal: 'traces', protocol: 'http', tenant: 'unknown', reason: 'PAYLOAD_TOO_LARGE',
    }), 1);
    await stillServes(t, h, 'a gzip bomb');
  });

  t.test('a raw body over the limit gets 413 from fastify, as a Status', async (t) => {
    const r = await post(h.base, '/v1/logs', '{"x":"' + 'a'.repeat(MAX) + '"}', { 'content-type': JSON_CT });
    t.equal(r.status, 413);
    t.equal(r.headers.get('content-type'), JSON_CT);
    const st = JSON.parse(r.body.toString()) as { code: number; message: string };
    t.equal(st.code, GrpcCode.RESOURCE_EXHAUSTED);
    t.match(st.message, /exceeds/);
    t.equal(await metricValue(h.metrics, 'receiver_refused_requests_total', { signal: 'logs', reason: 'PAYLOAD_TOO_LARGE' }), 1);
    await stillServes(t, h, 'a body over the limit');
  });

  t.test('unsupported media types get 415 with a JSON Status', async (t) => {
    const before = h.script.calls.length;
    const r = await post(h.base, '/v1/traces', 'hello', { 'content-type': 'text/plain' });
    t.equal(r.status, 415);
    t.equal(r.headers.get('content-type'), JSON_CT);
    t.same(JSON.parse(r.body.toString()), {
      code: GrpcCode.INVALID_ARGUMENT,
      message: 'unsupported Content-Type "text/plain"; use application/x-protobuf or application/json',
    });
    await stillServes(t, h, '415 text/plain');

    // no Content-Type at all, with and without a body (node:http adds none)
    for (const body of [Buffer.from('abc'), undefined]) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${h.base}/v1/traces`, { method: 'POST' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(body);
      });
      t.equal(status, 415, `no Content-Type, ${body ? 'with' : 'without'} a body`);
    }
    t.equal(h.script.calls.length, before + 1, 'ingest only saw the good request');
    t.equal(await metricValue(h.metrics, 'receiver_refused_requests_total', { signal: 'traces', reason: 'UNSUPPORTED_MEDIA_TYPE' }), 3);
    await stillServes(t, h, '415 without Content-Type');
  });

  t.test('bad Content-Encoding is 415, corrupt compression is 400', async (t) => {
    const br = await post(h.base, '/v1/metrics', payload(10), { 'content-type': PB, 'content-encoding': 'br' });
    t.equal(br.status, 415);
    t.match(decodeRpcStatus(br.body), { code: GrpcCode.UNIMPLEMENTED, message: /br/ });
    await stillServes(t, h, 'unsupported Content-Encoding');
    const bad = await post(h.base, '/v1/metrics', '{"not":"gzip"}', { 'content-type': JSON_CT, 'content-encoding': 'gzip' });
    t.equal(bad.status, 400);
    t.match(JSON.parse(bad.body.toString()), { code: GrpcCode.INVALID_ARGUMENT, message: /incorrect header check/ });
    t.equal(await metricValue(h.metrics, 'receiver_refused_requests_total', { signal: 'metrics', reason: 'UNSUPPORTED_ENCODING' }), 1);
    t.equal(await metricValue(h.metrics, 'receiver_refused_requests_total', { signal: 'metrics', reason: 'MALFORMED_PAYLOAD' }), 1);
    await stillServes(t, h, 'corrupt gzip');
  });

  t.test('unknown paths are 404 and other methods 405, as Statuses', async (t) => {
    const nf = await post(h.base, '/v1/trace', payload(10), { 'content-type': PB });
    t.equal(nf.status, 404);
    t.equal(nf.headers.get('content-type'), PB);
    t.match(decodeRpcStatus(nf.body), { code: GrpcCode.UNIMPLEMENTED, message: ERRORS_NOT_FOUND });
    const nfJson = await post(h.base, '/', undefined, {}, 'GET');
    t.equal(nfJson.status, 404);
    t.equal(JSON.parse(nfJson.body.toString()).message, ERRORS_NOT_FOUND);
    await stillServes(t, h, '404');

    for (const method of ['GET', 'PUT', 'DELETE']) {
      const r = await post(h.base, '/v1/logs', method === 'PUT' ? payload(10) : undefined, method === 'PUT' ? { 'content-type': 'text/plain' } : {}, method);
      t.equal(r.status, 405, method);
      t.equal(r.headers.get('allow'), 'POST');
      t.match(JSON.parse(r.body.toString()), { code: GrpcCode.UNIMPLEMENTED, message: /POST only/ });
    }
    t.equal(await metricValue(h.metrics, 'receiver_requests_total', { signal: 'logs', outcome: 'METHOD_NOT_ALLOWED' }), 3);
    await stillServes(t, h, '405');
  });

  t.test('retryable outcomes: 503 / 429 with Retry-After (seconds, rounded up) and RetryInfo', async (t) => {
    h.script.answer(retryable('OVERLOADED', 2500));
    const r = await post(h.base, '/v1/traces', '{}', { 'content-type': JSON_CT });
    t.equal(r.status, 503);
    t.equal(r.headers.get('retry-after'), '3');
    t.same(JSON.parse(r.body.toString()), {
      code: GrpcCode.UNAVAILABLE,
      message: ERRORS_OVERLOADED,
      details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '2.500s' }],
    });

    h.script.answer(retryable('RATE_LIMITED', 1000, 'tenant acme is over its quota'));
    const q = await post(h.base, '/v1/traces', payload(3), { 'content-type': PB });
    h.script.answer({ status: 'ok' });
    t.equal(q.status, 429);
    t.equal(q.headers.get('retry-after'), '1');
    t.same(decodeRpcStatus(q.body), { code: GrpcCode.RESOURCE_EXHAUSTED, message: 'tenant acme is over its quota', retryDelayMs: 1000 });
    t.equal(await metricValue(h.metrics, 'receiver_requests_total', { signal: 'traces', outcome: 'RATE_LIMITED' }), 1);
    // refusals decided by the pipeline are counted there, not here
    t.equal(await metricValue(h.metrics, 'receiver_refused_requests_total', { reason: 'RATE_LIMITED' }), 0);
  });

  t.test('pipeline refusals: 400 for malformed, 500 when ingest throws', async (t) => {
    h.script.answer(rejected('MALFORMED_PAYLOAD', 'resourceSpans[0]: expected an object'));
    const r = await post(h.base, '/v1/traces', '[]', { 'content-type': JSON_CT });
    t.equal(r.status, 400);
    t.equal(r.headers.get('retry-after'), null);
    t.same(JSON.parse(r.body.toString()), { code: GrpcCode.INVALID_ARGUMENT, message: 'resourceSpans[0]: expected an object' });

    h.script.answer(() => {
      throw new Error('bug');
    });
    const e = await post(h.base, '/v1/traces', payload(3), { 'content-type': PB });
    h.script.answer({ status: 'ok' });
    t.equal(e.status, 500);
    t.match(decodeRpcStatus(e.body), { code: GrpcCode.INTERNAL });
    await stillServes(t, h, 'a throwing ingest');
  });
});

const ERRORS_NOT_FOUND = 'no such OTLP endpoint';
const ERRORS_OVERLOADED = 'the gateway is at capacity (a queue is full); retry after the given delay';

t.test('stop lets in-flight requests finish, then refuses connections', async (t) => {
  const h = await startHarness(t);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  h.script.answer(async () => {
    await gate;
    return { status: 'ok' };
  });
  const pending = post(h.base, '/v1/traces', payload(10), { 'content-type': PB });
  while (h.script.calls.length === 0) await new Promise((r) => setTimeout(r, 5));
  const stopped = h.receiver.stop(5000);
  setTimeout(release, 100);
  const r = await pending;
  t.equal(r.status, 200, 'the in-flight request completed');
  t.equal(r.headers.get('connection'), 'close', 'and its connection is closed');
  await stopped;
  await t.rejects(post(h.base, '/v1/traces', payload(10), { 'content-type': PB }), 'no longer listening');
});

t.test('stop cuts requests still running at the deadline', async (t) => {
  const h = await startHarness(t);
  h.script.answer(() => new Promise(() => {}));
  const pending = post(h.base, '/v1/traces', payload(10), { 'content-type': PB });
  while (h.script.calls.length === 0) await new Promise((r) => setTimeout(r, 5));
  const started = performance.now();
  await h.receiver.stop(200);
  const took = performance.now() - started;
  t.ok(took >= 150 && took < 2000, `stop returned at the deadline (${took.toFixed(0)} ms)`);
  await t.rejects(pending, 'the hanging request was cut');
});

t.test('a slow-loris client is disconnected by the headers timeout', async (t) => {
  const h = await startHarness(t, { headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 100 });
  const socket = connect(h.port, '127.0.0.1');
  const started = performance.now();
  let received = '';
  socket.on('data', (d) => (received += d.toString()));
  socket.write('POST /v1/traces HTTP/1.1\r\nHost: x\r\n');
  // one header line every 100 ms, never finishing the head
  const drip = setInterval(() => socket.writable && socket.write('X-A: b\r\n'), 100);
  await new Promise<void>((resolve) => socket.on('close', () => resolve()));
  clearInterval(drip);
  const took = performance.now() - started;
  t.ok(took < 3000, `closed after ${took.toFixed(0)} ms`);
  t.match(received, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout');
});

t.test('a port in use fails start; stop still resolves', async (t) => {
  const h = await startHarness(t);
  const other = createHttpReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: h.port }, maxBodyBytes: MAX },
    { open: h.script.open, metrics: createMetrics({ defaultMetrics: false }), logger: recordingLogger() },
  );
  await t.rejects(other.start(), /EADDRINUSE/);
  await other.stop(0);
  const r = await post(h.base, '/v1/traces', payload(5), { 'content-type': PB });
  t.equal(r.status, 200, 'the first receiver is unaffected');
});
