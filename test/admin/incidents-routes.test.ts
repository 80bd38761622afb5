// /admin/v1/incidents over real HTTP on the admin listener: RBAC (401, 403 for roles, tenants and the
// fleet), validation errors as {code, message}, list filtering, DELETE, and who is written to the audit log.
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdminServer } from '../../src/admin/admin-server.js';
import { createAdminAuth, sha256Hex } from '../../src/admin/auth.js';
import { registerIncidentRoutes } from '../../src/admin/incidents-routes.js';
import type { AdminTokenConfig } from '../../src/config/sections/incidents.js';
import { createIncidentStore } from '../../src/incident/store.js';
import { FLEET, type Incident } from '../../src/incident/types.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

const tokens: AdminTokenConfig[] = [
  { name: 'viewer-all', sha256: sha256Hex('tok-viewer'), role: 'viewer', tenants: '*' },
  { name: 'op-acme', sha256: sha256Hex('tok-op-acme'), role: 'operator', tenants: ['acme'] },
  { name: 'op-globex', sha256: sha256Hex('tok-op-globex'), role: 'operator', tenants: ['globex'] },
  { name: 'op-all', sha256: sha256Hex('tok-op-all'), role: 'operator', tenants: '*' },
  { name: 'admin-all', sha256: sha256Hex('tok-admin'), role: 'admin', tenants: '*' },
];

async function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'stella-incident-api-'));
  const metrics = createMetrics({ defaultMetrics: false });
  const incidents = createIncidentStore({ dir, enabled: true, defaultTtlMs: 3_600_000, maxTtlMs: 4 * 3_600_000, maxIncidents: 10 }, { logger: silentLogger, metrics });
  incidents.start();
  const auth = createAdminAuth(tokens, { env: { STELLA_ADMIN_TOKEN: 'local' } });
  const admin = createAdminServer(
    { endpoint: { host: '127.0.0.1', port: 0 } },
    { metrics, logger: silentLogger, isReady: () => true, extraRoutes: (app) => registerIncidentRoutes(app, { authorize: auth.authorize, incidents }) },
  );
  const { port } = await admin.start();
  t.teardown(() => {
    incidents.stop();
    return admin.stop();
  });
  const base = `http://127.0.0.1:${port}/admin/v1/incidents`;
  const call = async (method: string, token: string | undefined, body?: unknown, path = '', raw?: string) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
    return { status: res.status, body: (await res.json()) as { incident?: Incident; incidents?: Incident[]; updated?: boolean; code?: number; message?: string; details?: { reason: string; domain: string }[] } };
  };
  return { call, incidents, dir };
}

t.test('RBAC: 401 without a token, viewers cannot start, tenants stay apart, the fleet needs admin', async (t) => {
  const { call, incidents } = await setup(t);
  const start = { tenant: 'acme', reason: 'checkout errors', ttl: '30m' };

  const none = await call('GET', undefined);
  t.equal(none.status, 401);
  t.same(Object.keys(none.body).sort(), ['code', 'details', 'message'], 'google.rpc.Status JSON');
  t.same(none.body.details, [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ADMIN_TOKEN_MISSING', domain: 'stella.admin' }], 'naming the code');
  t.equal((await call('POST', undefined, start)).status, 401);
  t.equal((await call('POST', undefined, undefined, '', '{broken')).status, 401, 'no token: 401 before the body is even parsed');
  t.equal((await call('DELETE', undefined, undefined, '/acme')).status, 401);
  const wrong = await call('GET', 'wrong');
  t.equal(wrong.status, 401);
  t.equal(wrong.body.details?.[0]?.reason, 'ADMIN_TOKEN_UNKNOWN');

  const viewer = await call('POST', 'tok-viewer', start);
  t.equal(viewer.status, 403, 'a viewer cannot POST');
  t.match(viewer.body.message, /role viewer; this needs operator/);
  t.equal(viewer.body.details?.[0]?.reason, 'ADMIN_ROLE_DENIED');
  t.notOk(incidents.isActive('acme'));

  const other = await call('POST', 'tok-op-globex', start);
  t.equal(other.status, 403, 'a token scoped to globex cannot start acme');
  t.match(other.body.message, /may not act on tenant "acme"/);
  t.equal(other.body.details?.[0]?.reason, 'ADMIN_SCOPE_DENIED');

  const ok = await call('POST', 'tok-op-acme', start);
  t.equal(ok.status, 200);
  t.equal(ok.body.incident?.scope, 'acme');
  t.equal(ok.body.incident?.by, 'op-acme', 'by = the token name');
  t.equal(ok.body.incident?.reason, 'checkout errors');
  t.equal(ok.body.updated, false);
  const ttl = Date.parse(ok.body.incident!.expiresAt!) - Date.parse(ok.body.incident!.startedAt);
  t.equal(ttl, 30 * 60_000, 'ttl "30m"');
  t.ok(incidents.isActive('acme'));

  t.equal((await call('DELETE', 'tok-op-globex', undefined, '/acme')).status, 403, 'nor end it');
  t.ok(incidents.isActive('acme'));

  const fleetByOperator = await call('POST', 'tok-op-all', { reason: 'outage' });
  t.equal(fleetByOperator.status, 403, 'fleet-wide needs admin');
  t.match(fleetByOperator.body.message, /needs admin/);
  t.equal((await call('POST', 'tok-op-acme', { tenant: FLEET, reason: 'outage' })).status, 403);
  const fleet = await call('POST', 'tok-admin', { reason: 'region outage' });
  t.equal(fleet.status, 200, 'no tenant = fleet-wide');
  t.equal(fleet.body.incident?.scope, FLEET);
  t.equal(Date.parse(fleet.body.incident!.expiresAt!) - Date.parse(fleet.body.incident!.startedAt), 3_600_000, 'default TTL');
  t.equal((await call('DELETE', 'tok-op-all', undefined, `/${FLEET}`)).status, 403, 'ending the fleet needs admin too');
  const env = await call('DELETE', 'local', undefined, `/${FLEET}`);
  t.equal(env.status, 200, 'STELLA_ADMIN_TOKEN is admin');
  t.notOk(incidents.isActive('globex'));

  const audit = readFileSync(incidents.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; by: string; scope: string });
  t.same(audit.map((a) => [a.action, a.scope, a.by]), [['start', 'acme', 'op-acme'], ['start', FLEET, 'admin-all'], ['end', FLEET, 'env']]);
});

t.test('GET lists what the token may see; DELETE ends an incident', async (t) => {
  const { call } = await setup(t);
  await call('POST', 'tok-admin', { tenant: 'acme', reason: 'a' });
  await call('POST', 'tok-admin', { tenant: 'globex', reason: 'g' });
  await call('POST', 'tok-admin', { reason: 'fleet' });
  const all = await call('GET', 'tok-viewer');
  t.equal(all.status, 200);
  t.same(all.body.incidents?.map((i) => i.scope).sort(), [FLEET, 'acme', 'globex']);
  const scoped = await call('GET', 'tok-op-acme');
  t.same(scoped.body.incidents?.map((i) => i.scope).sort(), [FLEET, 'acme'], 'acme sees its own and the fleet, not globex');

  const del = await call('DELETE', 'tok-op-acme', undefined, '/acme?reason=fixed');
  t.equal(del.status, 200);
  t.equal(del.body.incident?.scope, 'acme');
  const gone = await call('DELETE', 'tok-op-acme', undefined, '/acme');
  t.equal(gone.status, 404);
  t.equal(gone.body.code, 5, 'google.rpc NOT_FOUND');
  t.match(gone.body.message, /tenant "acme" is not in incident mode/);
  t.equal(gone.body.details?.[0]?.reason, 'INCIDENT_NOT_FOUND');
  t.same((await call('GET', 'tok-viewer')).body.incidents?.map((i) => i.scope).sort(), [FLEET, 'globex']);
});

t.test('bad requests: clear 400s as google.rpc.Status naming the code', async (t) => {
  const { call } = await setup(t);
  const cases: [unknown, RegExp, string, string?][] = [
    [{ tenant: 'acme', reason: 'r', ttl: 'soon' }, /ttl: expected a duration such as 30m/, 'INCIDENT_INVALID_TTL'],
    [{ tenant: 'acme', reason: 'r', ttl: '5h' }, /TTL must not exceed incidents.maxTtl \(14400s\)/, 'INCIDENT_INVALID_TTL'],
    [{ tenant: 'acme', reason: 'r', ttl: '10ms' }, /at least 1s/, 'INCIDENT_INVALID_TTL'],
    [{ tenant: 'acme' }, /reason: required/, 'INCIDENT_INVALID_REASON'],
    [{ tenant: 'acme', reason: '' }, /a reason is required/, 'INCIDENT_INVALID_REASON'],
    [{ tenant: 'not a tenant', reason: 'r' }, /tenant: expected a tenant id/, 'INCIDENT_INVALID_SCOPE'],
    [{ tenant: 'acme', reason: 'r', ttl: '1h', force: true }, /unknown field "force"/, 'ADMIN_BAD_REQUEST'],
    [[1, 2], /expected a JSON object/, 'ADMIN_BAD_REQUEST'],
    [undefined, /Unexpected token|JSON/, 'ADMIN_BAD_REQUEST', '{"tenant": '],
  ];
  for (const [body, message, code, raw] of cases) {
    const r = await call('POST', 'tok-admin', body, '', raw);
    t.equal(r.status, 400, JSON.stringify(body ?? raw));
    t.equal(r.body.code, 3, 'google.rpc INVALID_ARGUMENT');
    t.equal(r.body.details?.[0]?.reason, code);
    t.match(r.body.message, message);
  }
  t.equal((await call('DELETE', 'tok-admin', undefined, '/no%20way')).status, 400);
  const again = await call('POST', 'tok-admin', { tenant: 'acme', reason: 'r', ttl: '1h' });
  t.equal(again.status, 200);
  const update = await call('POST', 'tok-admin', { tenant: 'acme', reason: 'longer', ttl: '2h' });
  t.equal(update.body.updated, true, 'POST on an active tenant updates it');
});
