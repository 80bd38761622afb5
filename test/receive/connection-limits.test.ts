// Connection limits (issue 18, finding 3): TCP connections that never send the HTTP/2 preface are
// closed after the handshake timeout; a listener never holds more than maxConnections (the rest are
// closed at once and counted); idle sessions, abusive pingers and old connections are closed; a good
// client is served once the flood is gone. The 20,000-connection version is bench/connection-flood.ts.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { createGrpcReceiver } from '../../src/receive/grpc-receiver.js';
import { createHttpReceiver } from '../../src/receive/http-receiver.js';
import { SIGNAL_WIRE } from '../../src/signals.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { payload, recordingLogger, scriptedIngest } from './scripted-ingest.js';

const identity = (b: Buffer): Buffer => b;

async function metric(metrics: GatewayMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v ? Number(v.value) : 0;
}

/** Resolves when `done()` holds (checked every 20 ms; a condition wait, not a delay). */
async function until(done: () => Promise<boolean>): Promise<void> {
  while (!(await done())) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Open `n` raw TCP connections that send nothing, in batches the listen backlog can take (beyond it
 * the kernel drops the handshake's last ACK and the client believes in a connection the server never
 * saw). Returns the most connections the server held at once, sampled while the flood ran.
 */
async function silentFlood(
  port: number,
  n: number,
  seen: () => Promise<number>,
  held: () => Promise<number>,
): Promise<{ maxHeld: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  let maxHeld = 0;
  const BATCH = 200;
  for (let opened = 0; opened < n; ) {
    const batch = Math.min(BATCH, n - opened);
    for (let i = 0; i < batch; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.resume(); // read what the server sends (its SETTINGS), so its close is seen
      s.on('error', () => {});
      sockets.push(s);
    }
    opened += batch;
    await until(async () => {
      maxHeld = Math.max(maxHeld, await held());
      return (await seen()) >= opened;
    });
  }
  return { maxHeld, sockets };
}

function unary(client: grpc.Client, body: Buffer, metadata = new grpc.Metadata()): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => client.makeUnaryRequest(SIGNAL_WIRE.traces.grpcPath, identity, identity, body, metadata, (err) => resolve(err)));
}

t.test('gRPC: silent connections are closed after the preface timeout and never exceed maxConnections', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = recordingLogger();
  const script = scriptedIngest();
  const MAX_CONN = 300;
  const receiver = createGrpcReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxMessageBytes: 1 << 20, maxConnections: MAX_CONN, handshakeTimeoutMs: 300 },
    { open: script.open, metrics, logger },
  );
  const { port } = await receiver.start();
  t.teardown(() => receiver.stop(1000));

  const N = 2000;
  const closedBy = (reason: string) => metric(metrics, 'receiver_connections_closed_total', { protocol: 'grpc', reason });
  const held = () => metric(metrics, 'receiver_connections', { protocol: 'grpc' });
  const seen = async () => (await closedBy('over_limit')) + (await closedBy('handshake_timeout')) + (await held());
  const { maxHeld: heldAtPeak, sockets } = await silentFlood(port, N, seen, held);
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  // Every one is closed by the server: refused at once, or after the preface timeout.
  await until(async () => (await closedBy('over_limit')) + (await closedBy('handshake_timeout')) >= N);
  const overLimit = await metric(metrics, 'receiver_connections_closed_total', { protocol: 'grpc', reason: 'over_limit' });
  const timedOut = await metric(metrics, 'receiver_connections_closed_total', { protocol: 'grpc', reason: 'handshake_timeout' });
  t.ok(heldAtPeak <= MAX_CONN, `held ${heldAtPeak} connections, limit ${MAX_CONN}`);
  t.equal(overLimit + timedOut, N, `every silent connection was closed: ${overLimit} over the limit, ${timedOut} after the preface timeout`);
  t.ok(timedOut >= MAX_CONN, 'the ones held were closed by the preface timeout');
  t.ok(overLimit > 0, 'over the limit, new connections were refused at once');
  await until(async () => (await held()) === 0);
  t.pass('nothing is held afterwards');
  const warnings = logger.lines.filter((l) => l.level === 'warn' && /limit hit/.test(l.msg ?? ''));
  t.ok(warnings.length >= 1 && warnings.length <= 4, `the limits were logged, rate-limited (${warnings.length} warnings for ${N} closes)`);

  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  t.equal(await unary(client, payload(100)), null, 'a good client is served after the flood');
});

t.test('gRPC: idle sessions, abusive pingers and old connections are closed', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const script = scriptedIngest();
  const receiver = createGrpcReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxMessageBytes: 1 << 20, idleTimeoutMs: 200, keepaliveMinPingIntervalMs: 60_000 },
    { open: script.open, metrics, logger: recordingLogger() },
  );
  const { port } = await receiver.start();
  t.teardown(() => receiver.stop(1000));
  const connect = (): http2.ClientHttp2Session => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', () => {});
    return s;
  };

  const idle = connect();
  const goaway = await new Promise<number>((resolve) => idle.once('goaway', (code) => resolve(code)));
  t.equal(goaway, http2.constants.NGHTTP2_NO_ERROR, 'an idle session gets a GOAWAY');
  t.equal(await metric(metrics, 'receiver_connections_closed_total', { protocol: 'grpc', reason: 'idle' }), 1, 'counted as idle');
  idle.destroy();

  // Its own listener, without the short idle timeout: on a busy machine the idle GOAWAY could come
  // before the client's pings (and before 'connect', which then never fires).
  const strict = createGrpcReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxMessageBytes: 1 << 20, keepaliveMinPingIntervalMs: 60_000 },
    { open: script.open, metrics, logger: recordingLogger() },
  );
  const strictPort = (await strict.start()).port;
  t.teardown(() => strict.stop(1000));
  const pinger = http2.connect(`http://127.0.0.1:${strictPort}`);
  pinger.on('error', () => {});
  const calm = new Promise<number>((resolve) => pinger.once('goaway', (code) => resolve(code)));
  await new Promise<void>((resolve) => pinger.once('connect', () => resolve()));
  for (let i = 0; i < 5; i++) pinger.ping(() => {});
  t.equal(await calm, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 'pings faster than allowed: GOAWAY ENHANCE_YOUR_CALM');
  t.equal(await metric(metrics, 'receiver_connections_closed_total', { protocol: 'grpc', reason: 'too_many_pings' }), 1, 'counted');
  pinger.destroy();

  const aged = createGrpcReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxMessageBytes: 1 << 20, maxConnectionAgeMs: 200, maxConnectionAgeGraceMs: 100 },
    { open: script.open, metrics, logger: recordingLogger() },
  );
  const agedPort = (await aged.start()).port;
  t.teardown(() => aged.stop(1000));
  const old = http2.connect(`http://127.0.0.1:${agedPort}`);
  old.on('error', () => {});
  // A call keeps the session busy (not idle) while its age runs out.
  const closed = new Promise<void>((resolve) => old.once('close', () => resolve()));
  const gotGoaway = new Promise<void>((resolve) => old.once('goaway', () => resolve()));
  await gotGoaway;
  await closed;
  t.equal(await metric(metrics, 'receiver_connections_closed_total', { protocol: 'grpc', reason: 'max_age' }), 1, 'an old connection gets a GOAWAY and is closed');
});

t.test('HTTP: maxConnections holds; a client is served once connections free up', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const script = scriptedIngest();
  const receiver = createHttpReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxBodyBytes: 1 << 20, maxConnections: 50 },
    { open: script.open, metrics, logger: recordingLogger() },
  );
  const { port } = await receiver.start();
  t.teardown(() => receiver.stop(1000));
  const closedBy = (reason: string) => metric(metrics, 'receiver_connections_closed_total', { protocol: 'http', reason });
  const heldNow = () => metric(metrics, 'receiver_connections', { protocol: 'http' });
  // One batch (within the listen backlog); the server's timeouts are long, so the ones held stay held.
  const { maxHeld, sockets } = await silentFlood(port, 200, async () => (await closedBy('over_limit')) + (await heldNow()), heldNow);
  t.equal(maxHeld, 50, 'held exactly the limit');
  t.equal(await closedBy('over_limit'), 150, 'the rest were refused at once and counted');
  sockets.forEach((s) => s.destroy());
  await until(async () => (await heldNow()) === 0);
  const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: payload(10) });
  t.equal(res.status, 200, 'a good client is served once the connections are gone');
});
