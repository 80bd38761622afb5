// Admin API authorisation: tokens by SHA-256, roles viewer < operator < admin, tenant scopes, the fleet,
// STELLA_ADMIN_TOKEN; and the status route's filtering by the token's tenants.
import t, { type Test } from 'tap';
import { fastify } from 'fastify';
import { createAdminAuth, sha256Hex } from '../../src/admin/auth.js';
import type { AdminRole } from '../../src/admin/auth-types.js';
import { createStatusSource, registerStatusRoute, type GatewayStatus } from '../../src/admin/status-route.js';
import type { AdminTokenConfig } from '../../src/config/sections/incidents.js';
import { FLEET } from '../../src/incident/types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

const tokens: AdminTokenConfig[] = [
  { name: 'viewer-all', sha256: sha256Hex('tok-viewer'), role: 'viewer', tenants: '*' },
  { name: 'op-acme', sha256: sha256Hex('tok-op-acme'), role: 'operator', tenants: ['acme'] },
  { name: 'admin-acme', sha256: sha256Hex('tok-admin-acme').toUpperCase(), role: 'admin', tenants: ['acme'] },
  { name: 'admin-all', sha256: sha256Hex('tok-admin'), role: 'admin', tenants: '*' },
];

/** A tiny app whose route asks for the role and tenant given in the query string. */
async function app(t: Test, env: NodeJS.ProcessEnv = {}) {
  const auth = createAdminAuth(tokens, { env });
  const a = fastify();
  a.get<{ Querystring: { role: AdminRole; tenant?: string } }>('/probe', async (req, reply) => {
    const p = auth.authorize(req, reply, { role: req.query.role, ...(req.query.tenant !== undefined ? { tenant: req.query.tenant } : {}) });
    if (!p) return reply;
    return { principal: p };
  });
  await a.ready();
  t.teardown(() => a.close());
  return async (token: string | undefined, role: AdminRole, tenant?: string) => {
    const res = await a.inject({
      url: `/probe?role=${role}${tenant !== undefined ? `&tenant=${tenant}` : ''}`,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: res.statusCode, body: res.json() as { principal?: { name: string }; code?: number; message?: string }, headers: res.headers };
  };
}

t.test('401 without a token or with an unknown one', async (t) => {
  const probe = await app(t);
  const none = await probe(undefined, 'viewer');
  t.equal(none.status, 401);
  t.equal(none.body.code, 16, 'google.rpc UNAUTHENTICATED');
  t.match(none.body.message, /missing admin token/);
  t.equal(none.headers['www-authenticate'], 'Bearer realm="stella-admin"');
  const unknown = await probe('nope', 'viewer');
  t.equal(unknown.status, 401);
  t.match(unknown.body.message, /unknown admin token/);
  t.equal((await probe('tok-viewer ', 'viewer')).status, 200, 'trailing space tolerated');
});

t.test('a 401 says what the gateway itself accepts (a token set on the client only is the usual mistake)', async (t) => {
  const none = createAdminAuth([], { env: {} });
  const a = fastify();
  a.get('/probe', async (req, reply) => (none.authorize(req, reply, { role: 'viewer' }) ? { ok: true } : reply));
  t.teardown(() => a.close());
  const res = await a.inject({ url: '/probe', headers: { authorization: 'Bearer from-the-client' } });
  t.equal(res.statusCode, 401);
  t.match(res.json().message, 'unknown admin token: this gateway has no admin tokens: start it with STELLA_ADMIN_TOKEN set to the token the client sends, or list the token\'s SHA-256 in incidents.adminTokens');
  const withEnv = createAdminAuth([], { env: { STELLA_ADMIN_TOKEN: 'server-side' } });
  const b = fastify();
  b.get('/probe', async (req, reply) => (withEnv.authorize(req, reply, { role: 'viewer' }) ? { ok: true } : reply));
  t.teardown(() => b.close());
  const missing = await b.inject({ url: '/probe' });
  t.match(missing.json().message, /missing admin token: send "Authorization: Bearer <token>"; this gateway accepts 0 token\(s\) from incidents\.adminTokens and the STELLA_ADMIN_TOKEN it was started with/);
});

t.test('roles are ordered viewer < operator < admin', async (t) => {
  const probe = await app(t);
  t.equal((await probe('tok-viewer', 'viewer')).status, 200);
  const denied = await probe('tok-viewer', 'operator', 'acme');
  t.equal(denied.status, 403);
  t.equal(denied.body.code, 7, 'google.rpc PERMISSION_DENIED');
  t.match(denied.body.message, /token "viewer-all" has role viewer; this needs operator/);
  t.equal((await probe('tok-op-acme', 'operator', 'acme')).status, 200);
  t.equal((await probe('tok-op-acme', 'admin', 'acme')).status, 403);
  t.equal((await probe('tok-admin', 'operator', 'acme')).status, 200, 'admin can do what operators do');
  t.equal((await probe('tok-admin-acme', 'admin', 'acme')).body.principal?.name, 'admin-acme', 'configured hashes are case-insensitive');
});

t.test('a token scoped to tenant A cannot touch tenant B', async (t) => {
  const probe = await app(t);
  const b = await probe('tok-op-acme', 'operator', 'globex');
  t.equal(b.status, 403);
  t.match(b.body.message, /token "op-acme" may not act on tenant "globex"/);
  t.equal((await probe('tok-op-acme', 'viewer', 'globex')).status, 403, 'not even to view it');
  t.equal((await probe('tok-admin', 'operator', 'globex')).status, 200, '"*" covers every tenant');
});

t.test('the fleet: "*" scope, and admin to change it', async (t) => {
  const probe = await app(t);
  const scoped = await probe('tok-admin-acme', 'admin', FLEET);
  t.equal(scoped.status, 403, 'an admin scoped to some tenants cannot act fleet-wide');
  t.match(scoped.body.message, /fleet-wide needs a "\*" scope/);
  const op = await probe('tok-viewer', 'operator', FLEET);
  t.equal(op.status, 403);
  t.match(op.body.message, /this needs admin \(fleet-wide\)/, 'operator needs are raised to admin for the fleet');
  t.equal((await probe('tok-viewer', 'viewer', FLEET)).status, 200, 'viewing the fleet needs "*" only');
  t.equal((await probe('tok-op-acme', 'viewer', FLEET)).status, 403);
  t.equal((await probe('tok-admin', 'operator', FLEET)).status, 200);
});

t.test('STELLA_ADMIN_TOKEN is an admin with every tenant, named "env"', async (t) => {
  const probe = await app(t, { STELLA_ADMIN_TOKEN: 'local-dev' });
  const r = await probe('local-dev', 'admin', FLEET);
  t.equal(r.status, 200);
  t.equal(r.body.principal?.name, 'env');
  t.equal((await probe('local-dev-x', 'viewer')).status, 401);
  const without = await app(t, {});
  t.equal((await without('local-dev', 'viewer')).status, 401, 'no env variable, no env token');
});

t.test('GET /admin/v1/status: viewer; tenant-scoped tokens see only their tenants', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.receiverAcceptedItems.inc({ signal: 'traces', tenant: 'acme', protocol: 'grpc' }, 5);
  metrics.receiverAcceptedItems.inc({ signal: 'traces', tenant: 'globex', protocol: 'http' }, 2);
  metrics.exportFailures.inc({ exporter: 'tempo', signal: 'traces', reason: 'unavailable' });
  metrics.exporterSentBatches.inc({ exporter: 'loki', signal: 'logs' });
  metrics.exporterQueueBytes.set({ exporter: 'tempo' }, 1234);
  const incident = (scope: string) => ({ scope, reason: 'r', by: 'x', startedAt: '2026-01-01T00:00:00.000Z', expiresAt: null });
  const source = createStatusSource({
    metrics,
    profile: 'default',
    state: () => 'ready',
    listeners: () => ({ grpc: { host: '127.0.0.1', port: 4317 }, http: undefined, admin: { host: '::1', port: 8888 } }),
    exporterNames: ['tempo', 'loki'],
    policyVersion: () => 'abc123',
    incidents: () => [incident('globex'), incident(FLEET)],
    queues: () => ({ workerPoolQueued: 3 }),
  });
  const a = fastify();
  registerStatusRoute(a, { authorize: createAdminAuth(tokens).authorize, source });
  await a.ready();
  t.teardown(() => a.close());
  const get = async (token?: string) => {
    const res = await a.inject({ url: '/admin/v1/status', headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.statusCode, body: res.json() as GatewayStatus };
  };
  t.equal((await get()).status, 401);
  const all = await get('tok-viewer');
  t.equal(all.status, 200);
  t.same(all.body.listeners, { grpc: '127.0.0.1:4317', admin: '[::1]:8888' });
  t.same(all.body.tenants, ['acme', 'globex']);
  t.same(all.body.policy, { version: 'abc123' });
  t.equal(all.body.state, 'ready');
  t.same(all.body.queues, { admitInflightBytes: 0, workerPoolQueued: 3 });
  t.same(
    all.body.exporters.map((e) => [e.name, e.health, e.queueBytes]),
    [['tempo', 'failing', 1234], ['loki', 'ok', 0]],
  );
  t.same(all.body.incidents.map((i) => i.scope), ['globex', FLEET]);
  // Health is "since the previous status request": nothing new failed since.
  t.equal((await get('tok-viewer')).body.exporters[0]!.health, 'ok');

  const scoped = await get('tok-op-acme');
  t.same(scoped.body.tenants, ['acme']);
  t.same(scoped.body.incidents.map((i) => i.scope), [FLEET], "globex's incident is not shown to acme");
});
