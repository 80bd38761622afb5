// Forwards over the cluster's real peer listener and peer client (HTTP/2, mTLS, peer names): the owner's handler takes the tenant from the header,
// offers the runs to its sampler and answers OK; refusals (budget, size, malformed, missing tenant) come
// back as gRPC statuses the sender reports as `refused`; a dead owner and a silent one are `unavailable`
// and `timeout`.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createForwardClient, createForwardReceiver, TRACES_EXPORT_PATH } from '../../src/cluster/forward-grpc.js';
import type { PeerRouteHandler } from '../../src/cluster/peer-server.js';
import { createTraceRouter, DEFAULT_ROUTING, type ForwardSend } from '../../src/cluster/trace-router.js';
import type { TraceSummary } from '../../src/process/protocol.js';
import { walkRequest } from '../../src/process/worker/walk.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { flattenRequests } from '../helpers/flatten.js';
import { freePort } from '../helpers/gateway-child.js';
import { writeDevCerts } from '../../src/cli/commands/certs-init.js';
import { createPeerClient } from '../../src/cluster/peer-client.js';
import { clusterTlsReloader, createPeerServer } from '../../src/cluster/peer-server.js';
import { DEFAULT_CLUSTER, type ClusterConfig } from '../../src/config/sections/cluster.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { request, traceId } from '../sample/helpers.js';
import { createRendezvous, traceHashHex } from '../../src/cluster/rendezvous.js';

const REPLICAS = ['gw-a', 'gw-b'];
type Files = Extract<Awaited<ReturnType<typeof writeDevCerts>>, { ok: true }>['files'];

async function pki(): Promise<Files> {
  const dir = mkdtempSync(join(tmpdir(), 'stella-forward-pki-'));
  const r = await writeDevCerts({ out: dir, tenants: ['acme'], peers: REPLICAS, days: 2, trustDomain: 'stella.local', force: false });
  if (!r.ok) throw new Error(r.error);
  return r.files;
}

function clusterConfig(files: Files, self: string, port: number): ClusterConfig {
  return {
    ...DEFAULT_CLUSTER,
    self,
    listen: { host: '127.0.0.1', port },
    peers: { kind: 'static', peers: [] },
    tls: { certFile: files.peers[self]!.cert, keyFile: files.peers[self]!.key, caFile: files.ca, peerNames: ['spiffe://stella.local/peer/*'], minVersion: 'TLSv1.2' },
  };
}

/**
 * gw-a's peer listener (the cluster's real peer server: mTLS, peer names) serving `handler` on the
 * Export path, and gw-b's forward client over the cluster's real peer client.
 */
async function pair(t: { teardown(fn: () => unknown): void }, handler: PeerRouteHandler) {
  const files = await pki();
  const logger = silentLogger;
  const metrics = createMetrics({ defaultMetrics: false });
  const a = clusterConfig(files, 'gw-a', await freePort());
  const server = createPeerServer(a, { logger, metrics });
  const peers: string[] = [];
  server.route(TRACES_EXPORT_PATH, (stream, headers, peer) => {
    peers.push(peer);
    return handler(stream, headers, peer);
  });
  const listen = await server.start();
  const b = clusterConfig(files, 'gw-b', await freePort());
  const tls = clusterTlsReloader(b, { logger, metrics });
  const peerClient = createPeerClient(b, { tls });
  t.teardown(async () => {
    peerClient.close();
    tls.close();
    await server.stop();
  });
  const endpoint = `127.0.0.1:${listen.port}`;
  const client = createForwardClient({
    endpointOf: (p) => (p === 'gw-a' ? endpoint : p === 'gw-dead' ? '127.0.0.1:1' : undefined),
    session: (e) => peerClient.session(e),
  });
  return { client, peers };
}

t.test('forwards over mTLS: owner receives the runs and the tenant; refusals and failures are reported', async (t) => {
  const offered: Array<{ tenant: string; body: Uint8Array; traces: readonly TraceSummary[] }> = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const receiver = createForwardReceiver({ maxInflightBytes: 1 << 20, maxMessageBytes: 1 << 20 }, {
    offer: (tenant, body, traces) => offered.push({ tenant, body: Uint8Array.from(body), traces }),
    metrics,
  });
  const { client, peers } = await pair(t, receiver.handler);

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
  const { locateTraces } = await import('../../src/process/wire/locate-traces.js');
  router.offer('acme', body, w.ok ? w.traces! : [], locateTraces(body, w.ok ? w.traces! : []), false);
  await router.stop();
  const toA = ids.filter((id) => ring.owner(traceHashHex(id)) === 'gw-a');
  t.ok(toA.length > 5 && toA.length < 35, `${toA.length} of 40 traces owned by gw-a`);
  t.equal(offered.length, 1, 'one call to the owner');
  t.equal(offered[0]!.tenant, 'acme', 'the tenant travelled in the header');
  t.same(peers, ['spiffe://stella.local/peer/gw-b'], 'the peer was verified by its certificate');
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
  t.same(await client.send('gw-a', 'acme', [message], 5000), { status: 'ok' });
  t.match(await client.send('gw-a', 'bad tenant', [message], 5000), { status: 'failed', reason: 'refused', message: /grpc-status 3.*stella-tenant/ });
  t.match(await client.send('gw-a', 'acme', [new Uint8Array([0x0a, 0])], 5000), { status: 'failed', reason: 'refused', message: /trace index/ });
  t.match(await client.send('gw-dead', 'acme', [message], 5000), { status: 'failed', reason: 'unavailable' });
  t.match(await client.send('gw-zzz', 'acme', [message], 5000), { status: 'failed', reason: 'unavailable', message: /no endpoint/ });
  const big = new Uint8Array(2 << 20);
  t.match(await client.send('gw-a', 'acme', [big], 5000), { status: 'failed', reason: 'refused', message: /grpc-status 8/ });
  const refused = await metrics.clusterReceiveRefused.get();
  t.same(Object.fromEntries(refused.values.map((v) => [v.labels.reason, v.value])), { tenant: 1, malformed: 1, too_large: 1 });
  t.equal(receiver.stats().inflightBytes, 0, 'the receive budget is released');
});

t.test('an owner that never answers: timeout', async (t) => {
  const { client } = await pair(t, (stream) => void stream.resume());
  t.match(await client.send('gw-a', 'acme', [new Uint8Array(10)], 300), { status: 'failed', reason: 'timeout' });
});

t.test('the receive budget refuses a forward before buffering it', async (t) => {
  const receiver = createForwardReceiver({ maxInflightBytes: 100, maxMessageBytes: 1 << 20 }, { offer: () => {} });
  const { client } = await pair(t, receiver.handler);
  t.match(await client.send('gw-a', 'acme', [new Uint8Array(1000)], 5000), { status: 'failed', reason: 'refused', message: /grpc-status 8.*limit 100/ });
});

/** A forward message of `body` (all its traces to one owner). */
async function captureMessage(body: Uint8Array): Promise<Uint8Array> {
  let message: Uint8Array | undefined;
  const send: ForwardSend = async (_p, _t, m) => {
    // A copy: the router reuses its batch buffers once a call is answered.
    message = Buffer.concat(m);
    return { status: 'ok' };
  };
  const w = walkRequest('traces', body);
  const traces = w.ok ? w.traces! : [];
  const { locateTraces } = await import('../../src/process/wire/locate-traces.js');
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
