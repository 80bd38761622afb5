// Membership and the peer listener in one process, over real mTLS: replicas see each other through
// their readiness probes, a replica that stops is declared down after the configured misses, a
// certificate of the cluster CA that is not a peer's (a tenant's client certificate) is refused by the
// listener and by the client, bodies are bounded, and a DNS peer list follows its answers.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevCerts } from '../../src/cli/commands/certs-init.js';
import { startCluster, type Cluster } from '../../src/cluster/cluster.js';
import { createMembership } from '../../src/cluster/membership.js';
import { createPeerClient, PeerRequestError } from '../../src/cluster/peer-client.js';
import { clusterTlsReloader, createPeerServer, readBody, sendJson } from '../../src/cluster/peer-server.js';
import { DEFAULT_CLUSTER, type ClusterConfig } from '../../src/config/sections/cluster.js';
import { createIncidentStore } from '../../src/incident/store.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { freePort } from '../helpers/gateway-child.js';

const REPLICAS = ['gw-a', 'gw-b', 'gw-c'];

async function pki() {
  const dir = mkdtempSync(join(tmpdir(), 'stella-cluster-pki-'));
  const r = await writeDevCerts({ out: dir, tenants: ['acme'], peers: REPLICAS, days: 2, trustDomain: 'stella.local', force: false });
  if (!r.ok) throw new Error(r.error);
  return r.files;
}

type Files = Awaited<ReturnType<typeof pki>>;

function clusterConfig(files: Files, self: string, port: number, peers: { id: string; port: number }[], patch: Partial<ClusterConfig> = {}): ClusterConfig {
  return {
    ...DEFAULT_CLUSTER,
    self,
    listen: { host: '127.0.0.1', port },
    peers: { kind: 'static', peers: peers.map((p) => ({ id: p.id, endpoint: `127.0.0.1:${p.port}` })) },
    tls: { certFile: files.peers[self]!.cert, keyFile: files.peers[self]!.key, caFile: files.ca, peerNames: ['spiffe://stella.local/peer/*'], minVersion: 'TLSv1.2' },
    probeIntervalMs: 150,
    probeTimeoutMs: 150,
    probeMisses: 2,
    ...patch,
  };
}

function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      const v = check();
      if (v !== undefined && v !== false) return resolve(v);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

async function replica(files: Files, self: string, port: number, peers: { id: string; port: number }[]): Promise<Cluster> {
  const metrics = createMetrics({ defaultMetrics: false });
  const incidents = createIncidentStore({ dir: mkdtempSync(join(tmpdir(), 'stella-cluster-inc-')), enabled: true, defaultTtlMs: 60_000, maxTtlMs: 3_600_000, maxIncidents: 10 }, { logger: silentLogger, metrics });
  incidents.start();
  return startCluster(clusterConfig(files, self, port, peers), { logger: silentLogger, metrics, incidents, isReady: () => true });
}

t.test('three replicas see each other; a stopped one is declared down, and comes back', async (t) => {
  const files = await pki();
  const ports = await Promise.all(REPLICAS.map(() => freePort()));
  const all = REPLICAS.map((id, i) => ({ id, port: ports[i]! }));
  const peersOf = (id: string) => all.filter((p) => p.id !== id);
  const clusters = await Promise.all(REPLICAS.map((id, i) => replica(files, id, ports[i]!, peersOf(id))));
  t.teardown(() => Promise.all(clusters.map((c) => c.stop())));

  const changes: (readonly string[])[] = [];
  clusters[0]!.membership.onChange((live) => changes.push(live));
  for (const c of clusters) await waitFor(`${c.membership.self} to see all three`, () => c.membership.live().length === 3);
  t.same(clusters[0]!.membership.live(), REPLICAS, 'sorted ids, self included');
  t.equal(clusters[0]!.membership.live(), clusters[0]!.membership.live(), 'the same array until a change');
  t.equal(clusters[0]!.membership.endpointOf('gw-b'), `127.0.0.1:${ports[1]}`);
  t.equal(clusters[0]!.status().quotaShare, 1 / 3);

  await clusters[2]!.stop();
  await waitFor('gw-c to be declared down', () => !clusters[0]!.membership.live().includes('gw-c'));
  t.same(clusters[0]!.membership.live(), ['gw-a', 'gw-b']);
  t.equal(clusters[0]!.membership.endpointOf('gw-c'), undefined);
  t.same(changes.at(-1), ['gw-a', 'gw-b'], 'listeners hear the change');
  const peer = clusters[0]!.status().peers.find((p) => p.id === 'gw-c')!;
  t.equal(peer.live, false);
  t.ok(peer.misses >= 2, 'down after the configured misses');

  clusters[2] = await replica(files, 'gw-c', ports[2]!, peersOf('gw-c'));
  await waitFor('gw-c back', () => clusters[0]!.membership.live().length === 3);
  t.same(changes.at(-1), REPLICAS);
});

t.test('the peer listener and client accept peer certificates only', async (t) => {
  const files = await pki();
  const port = await freePort();
  const metrics = createMetrics({ defaultMetrics: false });
  const config = clusterConfig(files, 'gw-a', port, [], { maxBodyBytes: 1024, requestTimeoutMs: 500 });
  const tls = clusterTlsReloader(config, { logger: silentLogger, metrics });
  const server = createPeerServer(config, { logger: silentLogger, metrics, tls });
  const seen: string[] = [];
  server.route('/echo', async (stream, headers, peerId) => {
    seen.push(peerId);
    const body = await readBody(stream, headers, server.maxBodyBytes, metrics);
    if (body) sendJson(stream, 200, { bytes: body.length });
  });
  await server.start();
  t.teardown(async () => {
    await server.stop();
    tls.close();
  });

  // A peer: accepted, with its SPIFFE ID.
  const peerConfig = clusterConfig(files, 'gw-b', 0, []);
  const peerTls = clusterTlsReloader(peerConfig, { logger: silentLogger, metrics: createMetrics({ defaultMetrics: false }) });
  const client = createPeerClient(peerConfig, { tls: peerTls });
  t.teardown(() => {
    client.close();
    peerTls.close();
  });
  const ok = await client.request(`127.0.0.1:${port}`, { method: 'POST', path: '/echo', body: Buffer.alloc(100) });
  t.equal(ok.status, 200);
  t.same(JSON.parse(ok.body.toString()), { bytes: 100 });
  t.same(seen, ['spiffe://stella.local/peer/gw-b']);

  // Over the body bound: 413, declared or not.
  const big = await client.request(`127.0.0.1:${port}`, { method: 'POST', path: '/echo', body: Buffer.alloc(4096) });
  t.equal(big.status, 413);
  const unknown = await client.request(`127.0.0.1:${port}`, { path: '/nope' });
  t.equal(unknown.status, 404);

  // A tenant's client certificate from the same CA: the TLS handshake passes, the listener cuts the session.
  const tenant = http2.connect(`https://127.0.0.1:${port}`, {
    ca: files.ca && (await import('node:fs')).readFileSync(files.ca),
    cert: (await import('node:fs')).readFileSync(files.clients.acme!.cert),
    key: (await import('node:fs')).readFileSync(files.clients.acme!.key),
    checkServerIdentity: () => undefined,
  });
  const refused = await new Promise<string>((resolve) => {
    tenant.on('error', (e) => resolve(`error ${e.message}`));
    const s = tenant.request({ ':path': '/echo', ':method': 'GET' });
    s.on('error', (e) => resolve(`error ${e.message}`));
    s.on('response', () => resolve('answered'));
    s.on('close', () => resolve('closed'));
  });
  tenant.destroy();
  t.not(refused, 'answered', `a tenant certificate gets no answer (${refused})`);
  t.same(seen, ['spiffe://stella.local/peer/gw-b', 'spiffe://stella.local/peer/gw-b'], 'no handler ran for it');
  const refusedCount = (await metrics.clusterPeerRefused.get()).values.find((v) => v.labels.reason === 'identity')?.value;
  t.equal(refusedCount, 1);

  // Time bounds: the client gives up at its deadline; the listener cancels a stream its handler never answers.
  server.route('/hang', () => undefined);
  const hung = await client.request(`127.0.0.1:${port}`, { path: '/hang', timeoutMs: 200 }).catch((e: unknown) => e);
  t.ok(hung instanceof PeerRequestError && hung.reason === 'timeout', `client timeout (${String(hung)})`);
  const cancelled = await new Promise<string>((resolve) => {
    const st = client.session(`127.0.0.1:${port}`).request({ ':path': '/hang', ':method': 'GET' });
    st.on('response', () => resolve('answered'));
    st.on('error', (e) => resolve(e.message));
    st.on('close', () => resolve(`closed ${st.rstCode}`));
  });
  t.match(cancelled, /NGHTTP2_CANCEL|closed 8/, 'the listener cancels after cluster.requestTimeout');
  t.equal((await metrics.clusterPeerRefused.get()).values.find((v) => v.labels.reason === 'timeout')?.value, 1);

  // The client side: a listener whose certificate is not a peer's is refused too.
  const strict = createPeerClient({ ...peerConfig, tls: { ...peerConfig.tls, peerNames: ['spiffe://stella.local/peer/gw-z'] } }, { tls: peerTls });
  t.teardown(() => strict.close());
  const err = await strict.request(`127.0.0.1:${port}`, { path: '/echo' }).catch((e: unknown) => e);
  t.ok(err instanceof PeerRequestError && err.reason === 'identity', `identity error (${String(err)})`);
});

t.test('dns:NAME:PORT follows the answers and keeps the last good one on failure', async (t) => {
  const files = await pki();
  const [pa, pb] = [await freePort(), await freePort()];
  const b = await replica(files, 'gw-b', pb, []);
  t.teardown(() => b.stop());
  const metrics = createMetrics({ defaultMetrics: false });
  const config = clusterConfig(files, 'gw-a', pa, [], { peers: { kind: 'dns', name: 'peers.test', port: pb }, dnsIntervalMs: 100 });
  const tls = clusterTlsReloader(config, { logger: silentLogger, metrics });
  const client = createPeerClient(config, { tls });
  let answer: () => Promise<string[]> = async () => ['127.0.0.1'];
  const m = createMembership(config, { client, logger: silentLogger, metrics, resolve: () => answer() });
  m.start();
  t.teardown(() => {
    m.stop();
    client.close();
    tls.close();
  });
  await waitFor('gw-b found through DNS', () => m.live().includes('gw-b'));
  answer = () => Promise.reject(new Error('SERVFAIL'));
  const failures = async () => (await metrics.clusterDnsFailures.get()).values[0]?.value ?? 0;
  const deadline = Date.now() + 20_000;
  while ((await failures()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.ok((await failures()) > 0, 'failures counted');
  t.ok(m.live().includes('gw-b'), 'the last good answer is kept');
  answer = async () => [];
  await waitFor('gw-b gone from the answer', () => !m.live().includes('gw-b'));
  t.same(m.live(), ['gw-a']);
});
