// Administrative acts in the audit log: the gateway's start-up (what runs), refused admin requests
// (capped per minute, the rest counted), all in the one hash chain that `audit verify` checks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fastify } from 'fastify';
import t from 'tap';
import { createAdminAuth, REFUSALS_AUDITED, sha256Hex, type AdminRefusal } from '../../src/admin/auth.js';
import { verifyAuditLog } from '../../src/incident/audit-log.js';
import { startGateway } from '../../src/gateway.js';
import { baseUrl, silentLogger, testConfig } from '../helpers/gateway.js';

t.test('refusals past the cap in a minute are counted, not written', async (t) => {
  let clock = 1_000_000;
  const seen: AdminRefusal[] = [];
  const auth = createAdminAuth([], { env: {}, now: () => clock, onRefused: (r) => seen.push(r) });
  const app = fastify();
  app.get('/x', async (req, reply) => (auth.authorize(req, reply, { role: 'viewer' }) ? { ok: true } : reply));
  t.teardown(() => app.close());
  for (let i = 0; i < REFUSALS_AUDITED + 15; i++) t.equal((await app.inject({ url: '/x?secret=1', headers: { authorization: `Bearer guess-${i}` } })).statusCode, 401);
  t.equal(seen.length, REFUSALS_AUDITED, 'the cap holds within the minute');
  t.same([seen[0]!.status, seen[0]!.method, seen[0]!.path, seen[0]!.principal], [401, 'GET', '/x', undefined], 'no query string (it may hold secrets)');
  clock += 60_000;
  await app.inject({ url: '/x' });
  t.equal(seen.at(-1)!.suppressedBefore, 15, 'the next minute reports how many were left out');
});

t.test('a running gateway audits its start and refused admin requests in one verifiable chain', async (t) => {
  const config = testConfig([], (c) => {
    c.incidents.adminTokens = [{ name: 'viewer', role: 'viewer', tenants: '*', sha256: sha256Hex('view-token') }];
  });
  const gw = await startGateway(config, { logger: silentLogger });
  t.teardown(() => gw.stop(5000));
  const admin = baseUrl(gw, 'admin');
  t.equal((await fetch(`${admin}/admin/v1/status`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  t.equal((await fetch(`${admin}/admin/v1/incidents`, { method: 'POST', headers: { authorization: 'Bearer view-token', 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'acme' }) })).status, 403);
  const dir = join(config.dataDir, 'incidents');
  const lines = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(lines.map((l) => l.action), ['gateway.start', 'admin.refused', 'admin.refused']);
  t.equal(lines[0]!.profile, 'default');
  t.same(lines[0]!.adminTokens, ['viewer'], 'token names, never their hashes or values');
  t.notMatch(JSON.stringify(lines), /view-token|wrong/, 'no token in the log');
  t.same([lines[1]!.status, lines[1]!.by, lines[1]!.request], [401, 'unauthenticated', 'GET /admin/v1/status']);
  t.same([lines[2]!.status, lines[2]!.by], [403, 'viewer']);
  t.ok(verifyAuditLog(dir).ok, 'the chain verifies');
});
