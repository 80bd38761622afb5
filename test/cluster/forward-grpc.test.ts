// Forwards over a real HTTP/2 mTLS connection: the owner's handler takes the tenant from the header,
// offers the runs to its sampler and answers OK; refusals (budget, size, malformed, missing tenant) come
// back as gRPC statuses the sender reports as `refused`; a dead owner and a silent one are `unavailable`
// and `timeout`.
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { createForwardClient, createForwardReceiver, TRACES_EXPORT_PATH, type PeerRouteHandler } from '../../src/cluster/forward-grpc.js';
import { createTraceRouter, DEFAULT_ROUTING, type ForwardSend } from '../../src/cluster/trace-router.js';
import type { TraceSummary } from '../../src/process/protocol.js';
import { walkRequest } from '../../src/process/worker/walk.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { flattenRequests } from '../helpers/flatten.js';
import { makePki, type Pki } from '../helpers/tls.js';
import { request, traceId } from '../sample/helpers.js';
import { createRendezvous, traceHashHex } from '../../src/cluster/rendezvous.js';

async function peerServer(pki: Pki, handler: PeerRouteHandler): Promise<{ endpoint: string; close(): Promise<void>; peers: string[] }> {
  const peers: string[] = [];
  const server = http2.createSecureServer({ cert: pki.read(pki.server), key: pki.read(pki.serverKey), ca: pki.read(pki.ca), requestCert: true, rejectUnauthorized: true });
  server.on('stream', (stream, headers) => {
    // What the peer server does: only verified peers reach a route, with their identity.
    const cert = (stream.session?.socket as import('node:tls').TLSSocket).getPeerCertificate();
    const peer = String(cert.subject?.CN ?? '?');
    peers.push(peer);
    if (headers[':path'] === TRACES_EXPORT_PATH) handler(stream, headers, peer);
    else stream.respond({ ':status': 404 }, { endStream: true });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `127.0.0.1:${port}`,
    peers,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

t.test('forwards over mTLS: owner receives the runs and the tenant; refusals and failures are reported', async (t) => {
  const pki = await makePki(['gw-b']);
  const offered: Array<{ tenant: string; body: Uint8Array; traces: readonly TraceSummary[] }> = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const receiver = createForwardReceiver({ maxInflightBytes: 1 << 20, maxMessageBytes: 1 << 20 }, {
    offer: (tenant, body, traces) => offered.push({ tenant, body: Uint8Array.from(body), traces }),
    metrics,
  });
  const server = await peerServer(pki, receiver.handler);
  t.teardown(server.close);
  const client = createForwardClient({
    endpointOf: (p) => (p === 'gw-a' ? server.endpoint : p === 'gw-dead' ? '127.0.0.1:1' : undefined),
    tls: () => ({ ca: pki.read(pki.ca), cert: pki.read(pki.clients['gw-b']!.cert), key: pki.read(pki.clients['gw-b']!.key) }),
  });
  t.teardown(() => client.close());

  // A router on replica gw-b whose only peer is gw-a: the traces gw-a owns go there over the wire.
  const members = ['gw-a', 'gw-b'];
  const ring = createRendezvous(members);
  const ids = Array.from({ length: 40 }, (_, i) => traceId(i));
  const body = request(
    { spans: ids.slice(0, 20).map((id, i) => ({ traceId: id, spanId: `00000000000000${(i + 16).toString(16)}`, name: `a${i}` })) },
    { spans: ids.slice(20).map((id, i) => ({ traceId: id, spanId: `00000000000000${(i + 16).toString(16)}`, name: `b${i}`, statusCode: i % 2 ? 2 : 1 })) },
  ).body;
  const locals: Uint8Array[] = [];
  const router = createTraceRouter(DEFAULT_ROUTING, {
    membership: { self: 'gw-b', live: () => members, onChange: () => () => {} },
    local: (_t, b) => locals.push(Uint8Array.from(b)),
    send: client.send,
  });
  const w = walkRequest('traces', body);
  const { locateTraces } = await import('../../src/process/worker/split-traces.js');
  router.offer('acme', body, w.ok ? w.traces! : [], locateTraces(body, w.ok ? w.traces! : []), false);
  await router.stop();
  const toA = ids.filter((id) => ring.owner(traceHashHex(id)) === 'gw-a');
  t.ok(toA.length > 5 && toA.length < 35, `${toA.length} of 40 traces owned by gw-a`);
  t.equal(offered.length, 1, 'one call to the owner');
  t.equal(offered[0]!.tenant, 'acme', 'the tenant travelled in the header');
  t.equal(server.peers[0], 'gw-b', 'the peer was verified by its certificate');
  t.same(new Set(offered[0]!.traces.map((x) => x.traceId)), new Set(toA), 'exactly its traces');
  t.same(
    [...flattenRequests('traces', [offered[0]!.body]), ...flattenRequests('traces', locals)].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)),
    flattenRequests('traces', [body]),
    'owner + local = the request, byte for byte',
  );
  const errorTraces = offered[0]!.traces.filter((x) => x.error).length;
  t.ok(errorTraces > 0, 'error flags travelled in the index');

  // Direct sends: refused (bad tenant), too large, a dead peer, an unknown peer.
  const message = await captureMessage(request({ spans: [{ traceId: traceId(100), spanId: '0000000000000001', name: 'm1' }, { traceId: traceId(101), spanId: '0000000000000002', name: 'm2' }] }).body);
  t.same(await client.send('gw-a', 'acme', message, 5000), { status: 'ok' });
  t.match(await client.send('gw-a', 'bad tenant', message, 5000), { status: 'failed', reason: 'refused', message: /grpc-status 3.*stella-tenant/ });
  t.match(await client.send('gw-a', 'acme', new Uint8Array([0x0a, 0]), 5000), { status: 'failed', reason: 'refused', message: /trace index/ });
  t.match(await client.send('gw-dead', 'acme', message, 5000), { status: 'failed', reason: 'unavailable' });
  t.match(await client.send('gw-zzz', 'acme', message, 5000), { status: 'failed', reason: 'unavailable', message: /no endpoint/ });
  const big = new Uint8Array(2 << 20);
  t.match(await client.send('gw-a', 'acme', big, 5000), { status: 'failed', reason: 'refused', message: /grpc-status 8/ });
  const refused = await metrics.clusterReceiveRefused.get();
  t.same(Object.fromEntries(refused.values.map((v) => [v.labels.reason, v.value])), { tenant: 1, malformed: 1, too_large: 1 });
  t.equal(receiver.stats().inflightBytes, 0, 'the receive budget is released');
});

t.test('an owner that never answers: timeout', async (t) => {
  const pki = await makePki(['gw-b']);
  const silent = await peerServer(pki, (stream) => stream.resume());
  t.teardown(silent.close);
  const client = createForwardClient({
    endpointOf: () => silent.endpoint,
    tls: () => ({ ca: pki.read(pki.ca), cert: pki.read(pki.clients['gw-b']!.cert), key: pki.read(pki.clients['gw-b']!.key) }),
  });
  t.teardown(() => client.close());
  t.match(await client.send('gw-a', 'acme', new Uint8Array(10), 300), { status: 'failed', reason: 'timeout' });
});

t.test('the receive budget refuses a forward before buffering it', async (t) => {
  const pki = await makePki(['gw-b']);
  const receiver = createForwardReceiver({ maxInflightBytes: 100, maxMessageBytes: 1 << 20 }, { offer: () => {} });
  const server = await peerServer(pki, receiver.handler);
  t.teardown(server.close);
  const client = createForwardClient({
    endpointOf: () => server.endpoint,
    tls: () => ({ ca: pki.read(pki.ca), cert: pki.read(pki.clients['gw-b']!.cert), key: pki.read(pki.clients['gw-b']!.key) }),
  });
  t.teardown(() => client.close());
  t.match(await client.send('gw-a', 'acme', new Uint8Array(1000), 5000), { status: 'failed', reason: 'refused', message: /grpc-status 8.*limit 100/ });
});

/** A forward message of `body` (all its traces to one owner). */
async function captureMessage(body: Uint8Array): Promise<Uint8Array> {
  let message: Uint8Array | undefined;
  const send: ForwardSend = async (_p, _t, m) => {
    message = m;
    return { status: 'ok' };
  };
  const w = walkRequest('traces', body);
  const traces = w.ok ? w.traces! : [];
  const { locateTraces } = await import('../../src/process/worker/split-traces.js');
  // A two-member ring where every trace is someone else's: find a self name that owns none.
  for (let k = 0; k < 1000; k++) {
    const self = `self-${k}`;
    const ring = createRendezvous(['x', self]);
    if (traces.every((s) => ring.owner(traceHashHex(s.traceId)) === 'x')) {
      const r = createTraceRouter(DEFAULT_ROUTING, { membership: { self, live: () => ['x'], onChange: () => () => {} }, local: () => {}, send });
      r.offer('acme', body, traces, locateTraces(body, traces), false);
      await r.stop();
      return message!;
    }
  }
  throw new Error('no such ring');
}
