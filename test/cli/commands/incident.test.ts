// `stella telemetry incident on|off|list` against a running gateway (real sockets), as an operator
// runs it: tokens from --token or STELLA_ADMIN_TOKEN, clear errors and exit codes for 401, 403,
// 404, connection refused and bad command lines.
import t from 'tap';
import { createServer } from 'node:net';
import { sha256Hex } from '../../../src/admin/auth.js';
import { FLEET, type Incident } from '../../../src/incident/types.js';
import { baseUrl, startTestGateway } from '../../helpers/gateway.js';
import { runCli } from './incident-run.js';

const OP = 'op-token-acme';
const VIEWER = 'viewer-token';

// One gateway for both tests (start-up costs seconds on a loaded machine); the first test leaves no incident.
process.env.STELLA_ADMIN_TOKEN = 'env-admin-token';
const gw = await startTestGateway([], (c) => {
  c.incidents.adminTokens = [
    { name: 'oncall-acme', sha256: sha256Hex(OP), role: 'operator', tenants: ['acme'] },
    { name: 'viewer', sha256: sha256Hex(VIEWER), role: 'viewer', tenants: '*' },
  ];
});
delete process.env.STELLA_ADMIN_TOKEN;
t.teardown(() => gw.stop(2000));
const admin = baseUrl(gw, 'admin');

t.test('on, list, off for a tenant, and for the fleet with STELLA_ADMIN_TOKEN', async (t) => {
  // Independent runs go in parallel (each is a node start-up; the machine is slow and shared).
  const [on, fleet] = await Promise.all([
    runCli(['incident', 'on', '--tenant', 'acme', '--ttl', '30m', '--reason', 'checkout errors', '--admin', admin, '--token', OP]),
    runCli(['incident', 'on', '--ttl', '10m', '--admin', admin.replace('http://', '')], { STELLA_ADMIN_TOKEN: 'env-admin-token' }),
  ]);
  t.equal(on.code, 0, on.err);
  t.match(on.out, /^incident mode on for tenant acme until \S+ \(in 30m\); reason: checkout errors$/m);
  t.ok(gw.incidents.isActive('acme'), 'the running gateway is in incident mode for acme');
  t.equal(gw.incidents.get('acme')?.by, 'oncall-acme');
  t.equal(fleet.code, 0, fleet.err);
  t.match(fleet.out, /incident mode on for the fleet .*reason: started from the CLI by /, 'host:port works for --admin; a default reason');
  t.ok(gw.incidents.isActive('globex'), 'the fleet covers every tenant');
  t.equal(gw.incidents.get(FLEET)?.by, 'env');

  const [list, json] = await Promise.all([
    runCli(['incident', 'list', '--admin', admin, '--token', VIEWER]),
    runCli(['incident', 'list', '--json', '--admin', admin, '--token', OP]),
  ]);
  t.equal(list.code, 0, list.err);
  const lines = list.out.trim().split('\n');
  t.match(lines[0], /^SCOPE\s+EXPIRES\s+BY\s+REASON$/);
  t.equal(lines.length, 3);
  t.match(list.out, /^acme\s+\S+ \(in 30m\)\s+oncall-acme\s+checkout errors$/m);
  t.match(list.out, new RegExp(`^${FLEET}\\s+\\S+ \\(in 10m\\)\\s+env\\s+started from the CLI`, 'm'));
  t.equal(json.code, 0);
  const listed = (JSON.parse(json.out) as { incidents: Incident[] }).incidents;
  t.same(listed.map((i) => i.scope).sort(), [FLEET, 'acme'], 'JSON output');

  const [off, fleetOff] = await Promise.all([
    runCli(['incident', 'off', '--tenant', 'acme', '--reason', 'fixed', '--admin', admin, '--token', OP]),
    runCli(['incident', 'off', '--admin', admin], { STELLA_ADMIN_TOKEN: 'env-admin-token' }),
  ]);
  t.equal(off.code, 0, off.err);
  t.match(off.out, /^incident mode off for tenant acme \(it started \S+ by oncall-acme\)$/m);
  t.equal(fleetOff.code, 0, fleetOff.err);
  t.same(gw.incidents.list(), [], 'both ended');
  t.notOk(gw.incidents.isActive('globex'));

  const again = await runCli(['incident', 'off', '--tenant', 'acme', '--admin', admin, '--token', OP]);
  t.equal(again.code, 1);
  t.match(again.err, /^stella telemetry incident off: 404: tenant "acme" is not in incident mode$/m);
});

t.test('clear errors: 401, 403, connection refused, bad flags', async (t) => {

  // A port nothing listens on: bind one, then close it.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  // Independent runs, in parallel (each is a node start-up).
  const [noToken, wrong, viewer, otherTenant, fleetByOperator, refused, badTtl, badTenant, tooLong, help] = await Promise.all([
    runCli(['incident', 'on', '--tenant', 'acme', '--admin', admin]),
    runCli(['incident', 'list', '--admin', admin, '--token', 'nope']),
    runCli(['incident', 'on', '--tenant', 'acme', '--admin', admin, '--token', VIEWER]),
    runCli(['incident', 'on', '--tenant', 'globex', '--admin', admin, '--token', OP]),
    runCli(['incident', 'on', '--admin', admin, '--token', OP]),
    runCli(['incident', 'list', '--admin', `http://127.0.0.1:${port}`, '--token', OP]),
    runCli(['incident', 'on', '--tenant', 'acme', '--ttl', 'soon', '--admin', admin, '--token', OP]),
    runCli(['incident', 'off', '--tenant', 'a b', '--admin', admin, '--token', OP]),
    runCli(['incident', 'on', '--tenant', 'acme', '--ttl', '3d', '--admin', admin, '--token', OP]),
    runCli(['incident', 'on', '--help']),
  ]);
  t.equal(noToken.code, 1);
  t.match(noToken.err, 'stella telemetry incident on: 401 unauthenticated: no admin token; pass --token TOKEN or set STELLA_ADMIN_TOKEN');
  t.equal(wrong.code, 1);
  t.match(wrong.err, /401 unauthenticated: unknown admin token: this gateway accepts \d+ token\(s\) from incidents\.adminTokens .*\(check --token or STELLA_ADMIN_TOKEN\)/);
  t.equal(viewer.code, 1);
  t.match(viewer.err, /403 permission denied: token "viewer" has role viewer; this needs operator/);
  t.equal(otherTenant.code, 1);
  t.match(otherTenant.err, /403 permission denied: token "oncall-acme" may not act on tenant "globex"/);
  t.equal(fleetByOperator.code, 1);
  t.match(fleetByOperator.err, /403 permission denied: .*needs admin/);
  t.same(gw.incidents.list(), [], 'nothing changed');
  t.equal(refused.code, 1);
  t.match(refused.err, `cannot connect to the admin API at http://127.0.0.1:${port} (connection refused): is the gateway running`);
  t.equal(badTtl.code, 2);
  t.match(badTtl.err, /--ttl: expected a duration such as 30m/);
  t.equal(badTenant.code, 2);
  t.match(badTenant.err, /--tenant: expected a tenant id/);
  t.equal(tooLong.code, 1, 'the server enforces maxTtl');
  t.match(tooLong.err, /400: the TTL must not exceed incidents.maxTtl/);
  t.equal(help.code, 0);
  t.match(help.out, /Usage: stella telemetry incident on/);
});
