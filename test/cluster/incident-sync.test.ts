// Fleet-wide incidents between two in-process replicas over the real peer listener (mTLS): start,
// extension and end reach the peer; deliveries are idempotent and versioned (a repeat or an older
// change is stale, an end is not undone by a late start); malformed entries are refused and counted;
// a replica that joins late pulls the state; the peer's audit log names where a change was made.
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevCerts } from '../../src/cli/commands/certs-init.js';
import { startCluster, type Cluster } from '../../src/cluster/cluster.js';
import { INCIDENTS_PATH } from '../../src/cluster/incident-sync.js';
import { DEFAULT_CLUSTER, type ClusterConfig } from '../../src/config/sections/cluster.js';
import { createIncidentStore, type IncidentChange, type IncidentStore } from '../../src/incident/store.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { freePort } from '../helpers/gateway-child.js';

interface Replica {
  id: string;
  cluster: Cluster;
  store: IncidentStore;
  metrics: GatewayMetrics;
  dir: string;
  events: IncidentChange[];
  next(type: IncidentChange['type'], scope: string): Promise<IncidentChange>;
}

async function setup(t: { teardown(fn: () => unknown): void }) {
  const pkiDir = mkdtempSync(join(tmpdir(), 'stella-sync-pki-'));
  const pki = await writeDevCerts({ out: pkiDir, tenants: ['acme'], peers: ['gw-a', 'gw-b'], days: 2, trustDomain: 'stella.local', force: false });
  if (!pki.ok) throw new Error(pki.error);
  const files = pki.files;
  const ports = { 'gw-a': await freePort(), 'gw-b': await freePort() } as Record<string, number>;
  const replicas: Replica[] = [];
  async function start(id: string): Promise<Replica> {
    const metrics = createMetrics({ defaultMetrics: false });
    const dir = mkdtempSync(join(tmpdir(), 'stella-sync-'));
    const store = createIncidentStore({ dir, enabled: true, defaultTtlMs: 60_000, maxTtlMs: 3_600_000, maxIncidents: 10 }, { logger: silentLogger, metrics });
    store.start();
    const events: IncidentChange[] = [];
    const waiters: { type: string; scope: string; resolve: (e: IncidentChange) => void }[] = [];
    store.onChange((e) => {
      events.push(e);
      for (const w of waiters.splice(0)) {
        if (w.type === e.type && w.scope === e.incident.scope) w.resolve(e);
        else waiters.push(w);
      }
    });
    const other = id === 'gw-a' ? 'gw-b' : 'gw-a';
    const config: ClusterConfig = {
      ...DEFAULT_CLUSTER,
      self: id,
      listen: { host: '127.0.0.1', port: ports[id]! },
      peers: { kind: 'static', peers: [{ id: other, endpoint: `127.0.0.1:${ports[other]}` }] },
      tls: { certFile: files.peers[id]!.cert, keyFile: files.peers[id]!.key, caFile: files.ca, peerNames: ['spiffe://stella.local/peer/*'], minVersion: 'TLSv1.2' },
      probeIntervalMs: 150,
      probeTimeoutMs: 150,
    };
    const cluster = await startCluster(config, { logger: silentLogger, metrics, incidents: store, isReady: () => true });
    const r: Replica = {
      id,
      cluster,
      store,
      metrics,
      dir,
      events,
      next: (type, scope) => new Promise((resolve) => waiters.push({ type, scope, resolve })),
    };
    replicas.push(r);
    return r;
  }
  t.teardown(() => Promise.all(replicas.map((r) => r.cluster.stop())));
  return { start, ports, pki };
}

function live(r: Replica, n: number): Promise<void> {
  if (r.cluster.membership.live().length === n) return Promise.resolve();
  return new Promise((resolve) => {
    const off = r.cluster.membership.onChange((l) => {
      if (l.length === n) {
        off();
        resolve();
      }
    });
  });
}

const received = async (m: GatewayMetrics, outcome: string): Promise<number> =>
  (await m.clusterIncidentSync.get()).values.find((v) => v.labels.direction === 'received' && v.labels.outcome === outcome)?.value ?? 0;

t.test('start, extend and end reach the peer, as the same incident, audited with via', async (t) => {
  const { start } = await setup(t);
  const a = await start('gw-a');
  const b = await start('gw-b');
  await Promise.all([live(a, 2), live(b, 2)]);

  const arrived = b.next('start', 'acme');
  const on = a.store.on('acme', { reason: 'checkout errors', ttlMs: 600_000, by: 'oncall' });
  t.ok(on.ok);
  const e = await arrived;
  t.same(e.incident, a.store.get('acme'), 'same reason, start and expiry');
  t.ok(b.store.isActive('acme'));

  // An extension (no onChange event on either side): the peer's copy follows.
  const extended = a.store.on('acme', { reason: 'still failing', ttlMs: 1_200_000, by: 'oncall' });
  t.ok(extended.ok && extended.updated);
  while (b.store.get('acme')?.reason !== 'still failing') await new Promise((r) => setTimeout(r, 10));
  t.same(b.store.get('acme'), a.store.get('acme'));

  const ended = b.next('end', 'acme');
  t.ok(a.store.off('acme', 'oncall', 'fixed').ok);
  await ended;
  t.notOk(b.store.isActive('acme'));

  const audit = readFileSync(b.store.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(audit.map((l) => [l.action, l.via, l.by, l.reason]), [
    ['start', 'gw-a', 'oncall', 'checkout errors'],
    ['update', 'gw-a', 'oncall', 'still failing'],
    ['end', 'gw-a', 'oncall', 'fixed'],
  ]);
  // Changes that came from a peer are not sent back.
  t.equal(a.events.filter((x) => x.type === 'start').length, 1);
});

t.test('deliveries are idempotent and versioned; malformed ones are refused', async (t) => {
  const { start, ports } = await setup(t);
  const a = await start('gw-a');
  const b = await start('gw-b');
  await Promise.all([live(a, 2), live(b, 2)]);
  const post = async (entries: unknown) => {
    const r = await a.cluster.peerClient.request(`127.0.0.1:${ports['gw-b']}`, { method: 'POST', path: INCIDENTS_PATH, body: Buffer.from(JSON.stringify({ from: 'gw-a', entries })) });
    return { status: r.status, body: JSON.parse(r.body.toString()) as Record<string, unknown> };
  };
  const incident = { scope: 'globex', reason: 'x', by: 'sre', startedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 600_000).toISOString() };
  const v = Date.now();
  t.same((await post([{ scope: 'globex', version: v, origin: 'gw-a', incident }])).body, { applied: 1, stale: 0, invalid: 0 });
  t.same((await post([{ scope: 'globex', version: v, origin: 'gw-a', incident }])).body, { applied: 0, stale: 1, invalid: 0 }, 'a repeat changes nothing');
  t.same((await post([{ scope: 'globex', version: v + 1, origin: 'gw-a', incident: null, by: 'sre', reason: 'done' }])).body, { applied: 1, stale: 0, invalid: 0 });
  t.notOk(b.store.isActive('globex'));
  t.same((await post([{ scope: 'globex', version: v - 5, origin: 'gw-a', incident }])).body, { applied: 0, stale: 1, invalid: 0 }, 'a late start does not undo the end');
  t.notOk(b.store.isActive('globex'));
  // Same version, different replicas: the higher id wins everywhere, whatever the order.
  t.same((await post([{ scope: 'globex', version: v + 1, origin: 'gw-z', incident }])).body, { applied: 1, stale: 0, invalid: 0 });
  t.ok(b.store.isActive('globex'));

  const bad = await post([
    { scope: 'no spaces allowed', version: 1, origin: 'gw-a', incident: null },
    { scope: 'acme', version: -1, origin: 'gw-a', incident: null },
    { scope: 'acme', version: 1, origin: 'gw-a', incident: { scope: 'other', reason: 'x', by: 'y', startedAt: 'z', expiresAt: null } },
  ]);
  t.same(bad.body, { applied: 0, stale: 0, invalid: 3 });
  t.equal(await received(b.metrics, 'invalid'), 3);
  const notJson = await a.cluster.peerClient.request(`127.0.0.1:${ports['gw-b']}`, { method: 'POST', path: INCIDENTS_PATH, body: Buffer.from('{') });
  t.equal(notJson.status, 400);
  // An incident that already expired is not applied.
  const expired = { ...incident, scope: 'initech', expiresAt: new Date(Date.now() - 1000).toISOString() };
  t.same((await post([{ scope: 'initech', version: v + 10, origin: 'gw-a', incident: expired }])).body, { applied: 0, stale: 1, invalid: 0 });
  t.notOk(b.store.isActive('initech'));
});

t.test('a replica that joins later pulls the incidents of the fleet', async (t) => {
  const { start } = await setup(t);
  const a = await start('gw-a');
  t.ok(a.store.on('_all', { reason: 'fleet outage', ttlMs: 600_000, by: 'sre' }).ok);
  t.ok(a.store.on('acme', { reason: 'acme outage', ttlMs: 600_000, by: 'sre' }).ok);
  t.ok(a.store.off('acme', 'sre').ok);
  const b = await start('gw-b');
  const fleet = await b.next('start', '_all');
  t.same(fleet.incident, a.store.get('_all'));
  t.notOk(b.store.get('acme'), 'an ended incident stays ended');
});
