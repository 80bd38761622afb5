import t from 'tap';
import { createAdminServer } from '../../src/admin/admin-server.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

const endpoint = { host: '127.0.0.1', port: 0 };

t.test('/metrics, /healthz and /readyz over real HTTP', async (t) => {
  const metrics = createMetrics();
  let ready = false;
  const admin = createAdminServer({ endpoint }, { metrics, logger: silentLogger, isReady: () => ready });
  const { host, port } = await admin.start();
  t.teardown(() => admin.stop());
  t.equal(host, '127.0.0.1');
  t.ok(port > 0, 'the OS chose a port');
  const base = `http://${host}:${port}`;

  const m = await fetch(`${base}/metrics`);
  t.equal(m.status, 200);
  t.equal(m.headers.get('content-type'), metrics.registry.contentType, "prom-client's content type");
  t.match(m.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await m.text();
  t.match(text, /^process_cpu_seconds_total \d/m, 'default process metrics');
  t.match(text, /^process_resident_memory_bytes \d/m);
  t.match(text, /^telemetry_incident_mode\{tenant="_all"\} 0$/m, 'incident mode gauge, fleet-wide off');
  t.match(text, /^# TYPE collector_export_failures_total counter$/m);

  metrics.incidentMode.set({ tenant: 'acme' }, 1);
  t.match(await (await fetch(`${base}/metrics`)).text(), /^telemetry_incident_mode\{tenant="acme"\} 1$/m, 'each scrape is live');

  const h = await fetch(`${base}/healthz`);
  t.equal(h.status, 200);
  t.same(await h.json(), { status: 'ok' });

  const starting = await fetch(`${base}/readyz`);
  t.equal(starting.status, 503, 'not ready while starting');
  t.same(await starting.json(), { status: 'starting' });

  ready = true;
  const up = await fetch(`${base}/readyz`);
  t.equal(up.status, 200);
  t.same(await up.json(), { status: 'ready' });

  ready = false;
  const stopping = await fetch(`${base}/readyz`);
  t.equal(stopping.status, 503, 'not ready while draining');
  t.same(await stopping.json(), { status: 'stopping' });
  t.equal((await fetch(`${base}/healthz`)).status, 200, 'still alive while draining');

  t.equal((await fetch(`${base}/nope`)).status, 404);
  t.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 404, 'GET only');
});

t.test('phase() refines the 503 body; extraRoutes mounts more routes', async (t) => {
  const phase = 'stopping' as 'starting' | 'ready' | 'stopping';
  const admin = createAdminServer(
    { endpoint },
    {
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silentLogger,
      isReady: () => phase === 'ready',
      phase: () => phase,
      extraRoutes: (app) => app.get('/admin/v1/ping', async () => ({ pong: true })),
    },
  );
  const { port } = await admin.start();
  t.teardown(() => admin.stop());
  const base = `http://127.0.0.1:${port}`;
  const r = await fetch(`${base}/readyz`);
  t.equal(r.status, 503);
  t.same(await r.json(), { status: 'stopping' }, 'from phase(), without having been ready');
  t.same(await (await fetch(`${base}/admin/v1/ping`)).json(), { pong: true });
});

t.test('stop closes the port (even with a kept-alive connection) and is idempotent', async (t) => {
  const admin = createAdminServer({ endpoint }, { metrics: createMetrics({ defaultMetrics: false }), logger: silentLogger, isReady: () => true });
  const { port } = await admin.start();
  t.same(await admin.start(), { host: '127.0.0.1', port }, 'start twice gives the same address');
  const base = `http://127.0.0.1:${port}`;
  t.equal((await fetch(`${base}/healthz`)).status, 200);
  await Promise.all([admin.stop(), admin.stop()]);
  await t.rejects(fetch(`${base}/healthz`), 'nothing listens any more');
});

t.test('start fails clearly when the port is taken', async (t) => {
  const first = createAdminServer({ endpoint }, { metrics: createMetrics({ defaultMetrics: false }), logger: silentLogger, isReady: () => true });
  const { port } = await first.start();
  t.teardown(() => first.stop());
  const second = createAdminServer({ endpoint: { host: '127.0.0.1', port } }, { metrics: createMetrics({ defaultMetrics: false }), logger: silentLogger, isReady: () => true });
  await t.rejects(second.start(), { code: 'EADDRINUSE' });
  await second.stop();
});
