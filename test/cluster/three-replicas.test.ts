// Cluster mode with three real gateway processes on loopback (`stella telemetry serve` with one
// config each, peer certificates from `certs init --peer`): membership sees all three and notices a
// SIGKILLed one; an incident started on one replica reaches the other two (and its end too), audited
// there as coming from the peer; a replica that restarts fetches the incidents it missed; a tenant's
// quota is divided among the live replicas.
//
// Across processes there is no event to subscribe to, so "wait for" polls the admin API (20 ms apart)
// until the condition holds; the timeouts only mean "hung".
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevCerts } from '../../src/cli/commands/certs-init.js';
import { createGatewayChild, freePort, traceRequestWithIds, type GatewayChild } from '../helpers/gateway-child.js';

const IDS = ['gw-0', 'gw-1', 'gw-2'];
const TOKEN = 'cluster-test-token';
// The children inherit the environment: the admin API takes this token as admin (local use).
process.env.STELLA_ADMIN_TOKEN = TOKEN;

function request(url: string, method: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      url,
      {
        method,
        agent: false,
        timeout: 10_000,
        headers: { authorization: `Bearer ${TOKEN}`, ...(data && { 'content-type': 'application/json', 'content-length': data.length }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

function postTraces(url: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/traces`, { method: 'POST', agent: false, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Status {
  incidents: { scope: string; reason: string; expiresAt: string | null }[];
  cluster: { self: string; live: string[]; quotaShare: number } | null;
}

async function status(gw: GatewayChild): Promise<Status> {
  const r = await request(`${gw.adminUrl}/admin/v1/status`, 'GET');
  if (r.status !== 200) throw new Error(`status answered ${r.status}: ${r.body}`);
  return JSON.parse(r.body) as Status;
}

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One sample of /metrics, read from the text (`name` or `name{labels}` exactly as exposed). */
async function sample(gw: GatewayChild, series: string): Promise<number | undefined> {
  const text = (await request(`${gw.adminUrl}/metrics`, 'GET')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const auditLines = (gw: GatewayChild): Record<string, unknown>[] =>
  readFileSync(join(gw.dataDir, 'incidents', 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('three replicas: membership, fleet-wide incidents, restart catch-up, shared quotas', async (t) => {
  const pkiDir = mkdtempSync(join(tmpdir(), 'stella-cluster-pki-'));
  const pki = await writeDevCerts({ out: pkiDir, tenants: ['acme'], peers: IDS, days: 2, trustDomain: 'stella.local', force: false });
  if (!pki.ok) throw new Error(pki.error);
  const peerPorts = await Promise.all(IDS.map(() => freePort()));
  const exportDir = mkdtempSync(join(tmpdir(), 'stella-cluster-export-'));
  const gws: GatewayChild[] = [];
  for (const [i, id] of IDS.entries()) {
    gws.push(
      await createGatewayChild({
        exporters: [{ name: 'file', endpoint: `file://${join(exportDir, id)}` }],
        extra: {
          // Every replica gets the same list (its own entry is skipped).
          cluster: {
            self: id,
            listen: `127.0.0.1:${peerPorts[i]}`,
            peers: IDS.map((p, j) => ({ id: p, endpoint: `127.0.0.1:${peerPorts[j]}` })),
            tls: { certFile: pki.files.peers[id]!.cert, keyFile: pki.files.peers[id]!.key, caFile: pki.files.ca, peerNames: ['spiffe://stella.local/peer/*'] },
            // Fast, but not so tight that a loaded machine makes a live peer miss three probes in a row.
            probeInterval: '300ms',
            probeTimeout: '300ms',
            probeMisses: 3,
          },
          // The anonymous tenant (plain loopback) gets 3 items/s with a burst of 30, divided by the live replicas.
          tenancy: { quota: { itemsPerSecond: 3, itemsBurst: 30 } },
        },
      }),
    );
  }
  t.teardown(() => Promise.all(gws.map((g) => g.kill())));
  await Promise.all(gws.map((g) => g.start()));

  await t.test('membership: every replica sees all three', async (t) => {
    for (const gw of gws) {
      const s = await until('three live members', async () => {
        const st = await status(gw);
        return st.cluster?.live.length === 3 && st;
      });
      t.same(s.cluster!.live, IDS);
      t.equal(s.cluster!.quotaShare, 1 / 3);
    }
    t.equal(await sample(gws[0]!, 'cluster_peers_live'), 3);
    t.ok(((await sample(gws[0]!, 'cluster_membership_changes_total{change="join"}')) ?? 0) >= 2, 'joins counted');
  });

  await t.test('an incident started on one replica reaches all three; its end too', async (t) => {
    const started = Date.now();
    const on = await request(`${gws[0]!.adminUrl}/admin/v1/incidents`, 'POST', { tenant: 'acme', reason: 'checkout errors', ttl: '30m' });
    t.equal(on.status, 200, on.body);
    const origin = (await status(gws[0]!)).incidents.find((i) => i.scope === 'acme')!;
    const arrivals: number[] = [];
    await Promise.all(
      gws.slice(1).map(async (gw) => {
        const got = await until('the incident on a peer', async () => (await status(gw)).incidents.find((i) => i.scope === 'acme'));
        arrivals.push(Date.now() - started);
        t.same(got, origin, 'the same incident: reason and expiry as on the replica that started it');
      }),
    );
    t.comment(`incident propagation: reached both peers within ${Math.max(...arrivals)} ms (admin API request included)`);
    const audit = auditLines(gws[1]!).filter((l) => l.scope === 'acme');
    t.match(audit.at(-1), { action: 'start', via: 'gw-0', by: 'env', reason: 'checkout errors' }, 'audited on the peer as coming from gw-0');
    t.equal(await sample(gws[2]!, 'telemetry_incident_mode{tenant="acme"}'), 1);

    const off = await request(`${gws[1]!.adminUrl}/admin/v1/incidents/acme?reason=fixed`, 'DELETE');
    t.equal(off.status, 200, off.body);
    for (const gw of [gws[0]!, gws[2]!]) await until('the end on a peer', async () => !(await status(gw)).incidents.some((i) => i.scope === 'acme'));
    t.match(auditLines(gws[2]!).filter((l) => l.scope === 'acme').at(-1), { action: 'end', via: 'gw-1', reason: 'fixed' });
  });

  await t.test('a SIGKILLed replica is declared down; on restart it fetches the incidents it missed', async (t) => {
    await gws[2]!.kill();
    for (const gw of gws.slice(0, 2)) {
      const s = await until('gw-2 declared down', async () => {
        const st = await status(gw);
        return st.cluster?.live.length === 2 && st;
      });
      t.same(s.cluster!.live, ['gw-0', 'gw-1']);
      t.equal(s.cluster!.quotaShare, 1 / 2, 'the quota share grows back');
    }
    const on = await request(`${gws[1]!.adminUrl}/admin/v1/incidents`, 'POST', { tenant: '_all', reason: 'fleet-wide outage', ttl: '1h' });
    t.equal(on.status, 200, on.body);
    await until('the fleet incident on gw-0', async () => (await status(gws[0]!)).incidents.some((i) => i.scope === '_all'));

    await gws[2]!.start();
    const fleet = await until('gw-2 to fetch the fleet incident', async () => (await status(gws[2]!)).incidents.find((i) => i.scope === '_all'));
    t.equal(fleet.reason, 'fleet-wide outage');
    t.match(auditLines(gws[2]!).filter((l) => l.scope === '_all').at(-1), { action: 'start', via: 'gw-1' });
    await until('three live again', async () => (await status(gws[0]!)).cluster?.live.length === 3);
    const off = await request(`${gws[0]!.adminUrl}/admin/v1/incidents/_all`, 'DELETE');
    t.equal(off.status, 200, off.body);
    await until('the fleet incident ended on gw-2', async () => !(await status(gws[2]!)).incidents.some((i) => i.scope === '_all'));
  });

  await t.test('quotas: each replica enforces limit ÷ live replicas', async (t) => {
    for (const gw of gws) await until('three live members', async () => (await status(gw)).cluster?.live.length === 3);
    // One replica's share: burst 30 / 3 = 10 items, refilling 1 item/s. Requests of 5 spans, one at a time.
    const started = Date.now();
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 12; i++) {
      const code = await postTraces(gws[0]!.httpUrl, traceRequestWithIds(1000 + i * 5, 5));
      if (code === 200) accepted += 5;
      else if (code === 429) refused++;
      else t.fail(`unexpected answer ${code}`);
    }
    const elapsedS = (Date.now() - started) / 1000;
    // Bound: the share's burst + its refill over the run + one request admitted just before the debt
    // (items are charged after processing). Without sharing it would be 30 + 3/s.
    const bound = 10 + 1 * elapsedS + 5;
    t.ok(refused > 0, `refusals once the share is spent (${refused})`);
    t.ok(accepted >= 10, `the share's burst is admitted (${accepted} items)`);
    t.ok(accepted <= bound, `accepted ${accepted} items within the share's bound ${bound.toFixed(1)} over ${elapsedS.toFixed(1)} s`);
    // The fleet: the other two replicas each admit their own share, and no more.
    let fleet = accepted;
    for (const gw of gws.slice(1)) {
      for (let i = 0; i < 6; i++) if ((await postTraces(gw.httpUrl, traceRequestWithIds(2000 + i * 5, 5))) === 200) fleet += 5;
    }
    const fleetElapsedS = (Date.now() - started) / 1000;
    t.ok(fleet <= 30 + 3 * fleetElapsedS + 3 * 5, `the fleet admitted ${fleet} items, within the tenant's limit (30 + 3/s over ${fleetElapsedS.toFixed(1)} s, + one request per replica)`);
    t.equal(await sample(gws[0]!, 'cluster_quota_share'), 1 / 3);
  });
});
