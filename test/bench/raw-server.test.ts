// The acknowledge-only server (bench baseline and null sink): answers OTLP exports as the spec says,
// counts what it got, and as a forked child reports its own CPU over IPC and goes away when told.
import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import t from 'tap';
import { gzipSync } from 'node:zlib';
import { readProcMemory, startRawServerProcess } from '../../bench/gateway-process.js';
import { createGrpcDriver, createH2GrpcDriver, createHttpDriver, prepareBodies } from '../../bench/load.js';
import { startRawServer } from '../../bench/raw-server.js';
import { SIGNAL_WIRE } from '../../src/signals.js';

function post(url: string, body: Buffer, headers: Record<string, string>, method = 'POST'): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, 'content-length': String(body.length) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const payload = Buffer.from('0a0412020a00', 'hex'); // any bytes: the server never decodes

t.test('HTTP: acknowledges /v1/* with an empty protobuf answer, gunzips, refuses the rest', async (t) => {
  const server = await startRawServer({ protocol: 'http' });
  t.teardown(() => server.close());
  const pb = { 'content-type': 'application/x-protobuf' };
  for (const path of ['/v1/traces', '/v1/metrics', '/v1/logs']) {
    const r = await post(`${server.address}${path}`, payload, pb);
    t.equal(r.status, 200, path);
    t.equal(r.type, 'application/x-protobuf');
    t.equal(r.body.length, 0, 'an empty Export*ServiceResponse');
  }
  const json = await post(`${server.address}/v1/traces`, Buffer.from('{}'), { 'content-type': 'application/json' });
  t.equal(json.status, 200);
  t.equal(json.body.toString(), '{}');
  const gz = await post(`${server.address}/v1/traces`, gzipSync(payload), { ...pb, 'content-encoding': 'gzip' });
  t.equal(gz.status, 200, 'gzip body accepted');
  const badGz = await post(`${server.address}/v1/traces`, payload, { ...pb, 'content-encoding': 'gzip' });
  t.equal(badGz.status, 400, 'a body that is not gzip is refused');
  t.equal((await post(`${server.address}/v1/other`, payload, pb)).status, 404);
  t.equal((await post(`${server.address}/v1/traces`, Buffer.alloc(0), pb, 'PUT')).status, 405);
  const s = server.stats();
  t.equal(s.protocol, 'http');
  t.equal(s.requests, 5, 'three protobuf, one JSON, one gzip');
  t.equal(s.errors, 3);
  t.equal(s.bytes, 3 * payload.length + 2 + gzipSync(payload).length, 'wire bytes of the acknowledged requests');
  t.ok(s.cpuUserMicros > 0 && s.rssBytes > 0 && s.maxRssBytes >= s.rssBytes * 0.5);
});

t.test('gRPC: acknowledges Export of each signal with an empty message, plain and gzip', async (t) => {
  const server = await startRawServer({ protocol: 'grpc' });
  t.teardown(() => server.close());
  const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const id = (b: Buffer): Buffer => b;
  for (const signal of ['traces', 'metrics', 'logs'] as const) {
    const answer = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(SIGNAL_WIRE[signal].grpcPath, id, id, payload, (err, value) => (err ? reject(err) : resolve(value!))),
    );
    t.equal(answer.length, 0, `${signal}: empty response`);
  }
  const unknown = await new Promise<grpc.ServiceError | null>((resolve) =>
    client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Nope', id, id, payload, (err) => resolve(err)),
  );
  t.equal(unknown?.code, grpc.status.UNIMPLEMENTED, 'unknown methods are not acknowledged');

  const gz = createGrpcDriver({ address: server.address, gzip: true, connections: 2 });
  t.same(await gz.send(Buffer.alloc(100_000, 7)), { ok: true }, 'gzip-compressed call (grpc-js inflates it)');
  await gz.close();
  const s = server.stats();
  t.equal(s.requests, 4);
  t.equal(s.bytes, payload.length * 3 + 100_000, 'bytes counted after grpc-js inflated the message');
});

/** The stream window a server's SETTINGS announce, once it equals `want` (undefined after 5 s). */
function announcedWindow(address: string, want: number): Promise<number | undefined> {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => {});
  return new Promise<number | undefined>((resolve) => {
    let last: number | undefined;
    const done = (v: number | undefined): void => {
      clearTimeout(timer);
      session.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(last), 1500);
    session.on('remoteSettings', (s) => {
      last = s.initialWindowSize;
      if (last === want) done(last);
    });
  });
}

t.test('gRPC: windowBytes widens the HTTP/2 windows (the sink role); the default keeps grpc-js\'s', async (t) => {
  const wide = await startRawServer({ protocol: 'grpc', windowBytes: 2 * 1024 * 1024 });
  t.teardown(() => wide.close());
  t.equal(await announcedWindow(wide.address, 2 * 1024 * 1024), 2 * 1024 * 1024, 'announces the wide window');
  const plain = await startRawServer({ protocol: 'grpc' });
  t.teardown(() => plain.close());
  t.equal(await announcedWindow(plain.address, 2 * 1024 * 1024), 65_535, 'baseline: nghttp2 defaults');
  const client = createGrpcDriver({ address: wide.address });
  t.same(await client.send(Buffer.alloc(900_000, 7)), { ok: true }, 'a large call goes through');
  await client.close();
  t.equal(wide.stats().bytes, 900_000);
});

t.test('the lean h2 gRPC driver: calls grpc-js accepts, plain and gzip, over several connections; errors by status', async (t) => {
  const server = await startRawServer({ protocol: 'grpc' });
  t.teardown(() => server.close());
  const plain = createH2GrpcDriver({ address: server.address, connections: 2 });
  for (let i = 0; i < 3; i++) t.same(await plain.send(Buffer.alloc(200_000, i)), { ok: true }, `call ${i}: 200 KB past the 64 KiB default windows`);
  await plain.close();
  const [gzipped] = prepareBodies([Buffer.alloc(100_000, 7)], 'grpc', true, 'h2');
  t.ok(gzipped!.length < 1000, 'the h2 client is handed bodies gzipped once');
  const gz = createH2GrpcDriver({ address: server.address, gzip: true });
  t.same(await gz.send(gzipped!), { ok: true }, 'compressed flag and grpc-encoding: grpc-js inflates it');
  await gz.close();
  t.same(prepareBodies([payload], 'grpc', true), [payload], 'grpc-js compresses itself: the pool as it is');
  t.equal(server.stats().requests, 4);
  t.equal(server.stats().bytes, 3 * 200_000 + 100_000, 'every byte arrived, inflated');
  const badGzip = createH2GrpcDriver({ address: server.address, gzip: true });
  t.match(await badGzip.send(payload), { ok: false, code: 'grpc_internal' }, 'a message that is not gzip: the status named');
  await badGzip.close();
  await server.close();
  const gone = createH2GrpcDriver({ address: server.address });
  t.match(await gone.send(payload), { ok: false, code: 'ECONNREFUSED' });
  await gone.close();
});

t.test('the HTTP driver reports non-200 answers and unreachable targets as errors', async (t) => {
  const server = await startRawServer({ protocol: 'http' });
  const ok = createHttpDriver({ baseUrl: server.address, maxSockets: 2 });
  t.same(await ok.send(payload), { ok: true });
  const badGzip = createHttpDriver({ baseUrl: server.address, maxSockets: 2, gzip: true });
  t.same(await badGzip.send(payload), { ok: false, code: 'http_400' });
  await ok.close();
  await badGzip.close();
  await server.close();
  const gone = createHttpDriver({ baseUrl: server.address, maxSockets: 1 });
  t.same(await gone.send(payload), { ok: false, code: 'ECONNREFUSED' });
  await gone.close();
});

t.test('as a child process: ready over IPC, own CPU and RSS, stops when told', async (t) => {
  for (const protocol of ['http', 'grpc'] as const) {
    const child = await startRawServerProcess(protocol);
    t.not(child.pid, process.pid);
    t.ok(child.port > 0);
    const driver = protocol === 'grpc' ? createGrpcDriver({ address: child.address }) : createHttpDriver({ baseUrl: child.address, maxSockets: 1 });
    const body = Buffer.alloc(50_000, 1);
    for (let i = 0; i < 20; i++) t.same(await driver.send(body), { ok: true });
    await driver.close();
    const s = await child.stats();
    t.equal(s.protocol, protocol);
    t.equal(s.requests, 20);
    t.equal(s.bytes, 20 * 50_000);
    t.ok(s.cpuUserMicros + s.cpuSystemMicros > 0, 'reports its own CPU');
    if (process.platform === 'linux') t.ok(readProcMemory(child.pid)!.hwmBytes > 10 * 1024 * 1024, 'VmHWM readable from /proc');
    await child.stop();
    t.equal(readProcMemory(child.pid), undefined, `${protocol} child exited`);
    await t.rejects(child.stats(), /gone/);
  }
});
