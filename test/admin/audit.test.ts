// Administrative acts in the audit log: the gateway's start-up (what runs), refused admin requests
// (capped per minute, the rest counted), all in the one hash chain that `audit verify` checks.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fastify } from 'fastify';
import t from 'tap';
import { createAdminAuth, REFUSALS_AUDITED, sha256Hex, type AdminRefusal } from '../../src/admin/auth.js';
import { verifyAuditLog } from '../../src/incident/audit-log.js';
import { startGateway } from '../../src/gateway.js';
import { defaultPoliciesDir } from '../../src/paths.js';
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
  const all = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const loads = all.filter((l) => l.action === 'reload.active');
  t.same(loads.map((l) => l.what).sort(), ['policies', 'tenants file'], 'the first load of each protective file');
  t.ok(loads.every((l) => l.versionBefore === null && typeof l.versionAfter === 'string'), 'from no version to the one loaded');
  const lines = all.filter((l) => l.action !== 'reload.active');
  t.same(lines.map((l) => l.action), ['gateway.start', 'admin.refused', 'admin.refused']);
  t.equal(lines[0]!.profile, 'default');
  t.same(lines[0]!.adminTokens, ['viewer'], 'token names, never their hashes or values');
  t.notMatch(JSON.stringify(lines), /view-token|wrong/, 'no token in the log');
  t.same([lines[1]!.status, lines[1]!.by, lines[1]!.request], [401, 'unauthenticated', 'GET /admin/v1/status']);
  t.same([lines[2]!.status, lines[2]!.by], [403, 'viewer']);
  t.ok(verifyAuditLog(dir).ok, 'the chain verifies');
});

t.test('a refused policy reload and a new version are audit lines with the versions before and after', async (t) => {
  const policiesDir = mkdtempSync(join(tmpdir(), 'stella-audit-policies-'));
  cpSync(defaultPoliciesDir, policiesDir, { recursive: true });
  const config = testConfig([], (c) => {
    c.policiesDir = policiesDir;
  });
  const gw = await startGateway(config, { logger: silentLogger });
  t.teardown(() => gw.stop(5000));
  const log = join(config.dataDir, 'incidents', 'audit.log');
  const reloads = () => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.what === 'policies');
  const waitFor = async (n: number) => {
    while (reloads().length < n) await new Promise((r) => setTimeout(r, 20));
  };
  const first = reloads()[0]!;
  writeFileSync(join(policiesDir, 'redaction.yaml'), 'detectors:\n  email: { action: mask }\n'); // no end marker: half-written
  await waitFor(2);
  const refused = reloads()[1]!;
  t.same([refused.action, refused.reason, refused.versionBefore, refused.versionAfter], ['reload.refused', 'incomplete', first.versionAfter, first.versionAfter]);
  t.match(String(refused.file), /redaction\.yaml$/);
  writeFileSync(join(policiesDir, 'redaction.yaml'), 'detectors:\n  email: { action: mask }\nversion: 1\n');
  await waitFor(3);
  const changed = reloads()[2]!;
  t.equal(changed.action, 'reload.active');
  t.equal(changed.versionBefore, first.versionAfter);
  t.not(changed.versionAfter, first.versionAfter, 'a new version');
  t.ok(verifyAuditLog(join(config.dataDir, 'incidents')).ok);
});
