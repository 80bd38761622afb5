// `stella telemetry status [--json]` against a running gateway.
import t from 'tap';
import { sha256Hex } from '../../../src/admin/auth.js';
import type { GatewayStatus } from '../../../src/admin/status-route.js';
import { baseUrl, startTestGateway } from '../../helpers/gateway.js';
import { runCli } from './incident-run.js';

t.test('status --json and the human summary', async (t) => {
  const gw = await startTestGateway([], (c) => {
    c.incidents.adminTokens = [{ name: 'viewer', sha256: sha256Hex('view'), role: 'viewer', tenants: '*' }];
  });
  t.teardown(() => gw.stop(2000));
  const admin = baseUrl(gw, 'admin');
  // Some traffic, so a tenant shows as seen.
  const res = await fetch(`${baseUrl(gw, 'http')}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 's', startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }] }) });
  t.equal(res.status, 200);
  t.ok(gw.incidents.on('acme', { reason: 'status test', by: 'test' }).ok);

  const json = await runCli(['status', '--json', '--admin', admin, '--token', 'view']);
  t.equal(json.code, 0, json.err);
  const s = JSON.parse(json.out) as GatewayStatus;
  t.equal(s.state, 'ready');
  t.equal(s.profile, 'default');
  t.same(Object.keys(s.listeners).sort(), ['admin', 'grpc', 'http']);
  t.equal(s.listeners.admin, `${gw.addresses.admin.host}:${gw.addresses.admin.port}`);
  t.match(s.policy.version, /^[0-9a-f]{8,}$/, 'the active policy version');
  t.same(s.tenants, ['default'], 'the anonymous tenant sent a span');
  t.same(s.incidents.map((i) => [i.scope, i.reason]), [['acme', 'status test']]);
  t.same(s.exporters.map((e) => e.name), ['file']);
  t.equal(s.exporters[0]!.health, 'ok');
  t.type(s.queues.workerPoolQueued, 'number');
  t.type(s.queues.notifyPending, 'number');

  const human = await runCli(['status', '--admin', admin, '--token', 'view']);
  t.equal(human.code, 0, human.err);
  t.match(human.out, /^gateway \S+ \(profile default\): ready/m);
  t.match(human.out, /^listeners: admin 127\.0\.0\.1:\d+, grpc 127\.0\.0\.1:\d+, http 127\.0\.0\.1:\d+$/m);
  t.match(human.out, /^  file: ok; sent \d+ batches/m);
  t.match(human.out, /^  acme\s+\S+ \(in 60m\)\s+test\s+status test$/m);

  const denied = await runCli(['status', '--admin', admin]);
  t.equal(denied.code, 1);
  t.match(denied.err, /^stella telemetry status: 401 unauthenticated/m);
});
