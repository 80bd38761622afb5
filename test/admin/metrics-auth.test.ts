// Issue 18 finding 9: /metrics names every tenant. Bound to a non-loopback address (`--admin 0.0.0.0`),
// the admin listener warns at start-up and (admin.metricsAuth auto, the default) serves /metrics only
// to an admin token scoped to every tenant; on loopback it stays open; `always` and `never` override.
import t, { type Test } from 'tap';
import { createAdminServer } from '../../src/admin/admin-server.js';
import { createAdminAuth, sha256Hex } from '../../src/admin/auth.js';
import type { MetricsAuth } from '../../src/config/types.js';
import { validateConfig } from '../../src/config/validate.js';
import type { Logger } from '../../src/telemetry/logger-types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

const auth = createAdminAuth(
  [
    { name: 'prometheus', sha256: sha256Hex('scrape-token'), role: 'viewer', tenants: '*' },
    { name: 'acme-viewer', sha256: sha256Hex('acme-token'), role: 'viewer', tenants: ['acme'] },
  ],
  { env: {} },
);

async function start(t: Test, host: string, metricsAuth?: MetricsAuth, tokensConfigured?: boolean) {
  const warnings: { obj: object; msg?: string }[] = [];
  const logger: Logger = { info() {}, debug() {}, error() {}, warn: (obj, msg) => warnings.push({ obj, msg }) };
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.incidentMode.set({ tenant: 'acme' }, 1);
  const admin = createAdminServer({ endpoint: { host, port: 0 }, ...(metricsAuth && { metricsAuth }) }, { metrics, logger, isReady: () => true, authorize: auth.authorize, ...(tokensConfigured !== undefined && { tokensConfigured }) });
  const { port } = await admin.start();
  t.teardown(() => admin.stop());
  const get = (path: string, token?: string) => fetch(`http://127.0.0.1:${port}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { get, warnings };
}

t.test('non-loopback bind (auto): a warning, and /metrics needs a token for every tenant', async (t) => {
  const { get, warnings } = await start(t, '0.0.0.0');
  const anon = await get('/metrics');
  t.equal(anon.status, 401, 'no token');
  t.notMatch(await anon.text(), /acme/, 'no tenant name leaks in the refusal');
  t.equal((await get('/metrics', 'wrong')).status, 401, 'unknown token');
  const scoped = await get('/metrics', 'acme-token');
  t.equal(scoped.status, 403, 'a token scoped to one tenant may not read every tenant');
  const ok = await get('/metrics', 'scrape-token');
  t.equal(ok.status, 200);
  t.match(await ok.text(), /telemetry_incident_mode\{tenant="acme"\} 1/);
  t.equal((await get('/healthz')).status, 200, 'probes stay open');
  t.equal((await get('/readyz')).status, 200);
  t.equal(warnings.length, 1, 'one start-up warning');
  t.match(warnings[0], { obj: { host: '0.0.0.0', metricsAuth: 'auto' }, msg: /non-loopback address 0\.0\.0\.0: \/metrics .* require an admin token.*set admin\.tls/ });
  t.notMatch(warnings[0]!.msg, /no admin token is configured/);
  const none = await start(t, '0.0.0.0', 'auto', false);
  t.match(none.warnings, [{ msg: /no admin token is configured \(incidents\.adminTokens, STELLA_ADMIN_TOKEN\): \/metrics answers 401 to everyone/ }]);
});

t.test('loopback (auto): open, no warning; always: token; never on 0.0.0.0: open with a warning', async (t) => {
  const loop = await start(t, '127.0.0.1');
  t.equal((await loop.get('/metrics')).status, 200);
  t.same(loop.warnings, []);
  const always = await start(t, '127.0.0.1', 'always');
  t.equal((await always.get('/metrics')).status, 401);
  t.equal((await always.get('/metrics', 'scrape-token')).status, 200);
  const never = await start(t, '0.0.0.0', 'never');
  t.equal((await never.get('/metrics')).status, 200);
  t.match(never.warnings, [{ msg: /admin\.metricsAuth: never: \/metrics \(tenant names in labels\) is readable by anyone/ }]);
});

t.test('admin.metricsAuth is validated', async (t) => {
  const bad = validateConfig({ admin: { metricsAuth: 'sometimes' } });
  t.notOk(bad.ok);
  t.match(bad.ok ? [] : bad.errors, [/^admin\.metricsAuth: expected one of auto, always, never \(got "sometimes"\)/]);
  const good = validateConfig({ admin: { metricsAuth: 'always' } });
  t.equal(good.ok && good.config.admin.metricsAuth, 'always');
});
