// The capture wiring of a real gateway: bundles past forensic.captures.retention are pruned at start-up;
// a capture through the admin API lands 0600 in DATA_DIR/captures and is audited in the same audit.log
// as incident changes; a refused one is audited too and counted in tee_captures_total.
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../../src/admin/auth.js';
import { generateSigningKeyPair } from '../../src/tee/sign.js';
import { baseUrl, startTestGateway } from '../helpers/gateway.js';

t.test('pruned at start, captured 0600, audited beside incidents', async (t) => {
  let dataDir = '';
  const gw = await startTestGateway([], (c) => {
    dataDir = c.dataDir;
    c.incidents.adminTokens = [{ name: 'oncall', sha256: sha256Hex('oncall-token'), role: 'operator', tenants: '*' }];
    const captures = join(c.dataDir, 'captures');
    mkdirSync(captures, { recursive: true });
    const old = join(captures, 'default-1-2-traces.tar');
    writeFileSync(old, 'old bundle');
    const past = (Date.now() - 8 * 86_400_000) / 1000;
    utimesSync(old, past, past);
    writeFileSync(join(captures, 'default-3-4-traces.tar'), 'recent bundle');
    mkdirSync(join(c.dataDir, 'keys'), { recursive: true });
    writeFileSync(join(c.dataDir, 'keys', 'signing-key.pem'), generateSigningKeyPair().privateKeyPem, { mode: 0o600 });
  });
  t.teardown(() => gw.stop(2000));
  t.notOk(existsSync(join(dataDir, 'captures', 'default-1-2-traces.tar')), 'the 8-day-old bundle was pruned at start');
  t.ok(existsSync(join(dataDir, 'captures', 'default-3-4-traces.tar')), 'the recent one is kept');

  const admin = baseUrl(gw, 'admin');
  const post = (body: unknown) =>
    fetch(`${admin}/admin/v1/captures`, { method: 'POST', headers: { authorization: 'Bearer oncall-token', 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const started = await fetch(`${admin}/admin/v1/incidents`, { method: 'POST', headers: { authorization: 'Bearer oncall-token', 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'default', reason: 'capture test', ttl: '10m' }) });
  t.equal(started.status, 200, await started.clone().text());
  const ok = await post({ tenant: 'default' });
  t.equal(ok.status, 201, await ok.clone().text());
  const { path } = (await ok.json()) as { path: string };
  t.equal(statSync(path).mode & 0o777, 0o600);
  const refused = await post({ tenant: '../../etc' });
  t.equal(refused.status, 400);

  const all = readFileSync(join(dataDir, 'incidents', 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => !String(l.action).startsWith('reload.'));
  t.equal(all[0]!.action, 'gateway.start', 'the log opens with the start-up');
  const lines = all.slice(1);
  t.same(lines.map((l) => [l.action, l.by, l.outcome ?? null]), [['start', 'oncall', null], ['capture', 'oncall', 'ok'], ['capture', 'oncall', 'refused']], 'one history: incident and captures');
  t.match(lines[1], { scope: 'default', path, via: 'api' });
  t.match(lines[2], { scope: '../../etc', reason: /^tenant: expected a tenant id/ });
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  t.match(metrics, /^tee_captures_total\{outcome="ok"\} 1$/m);
  t.match(metrics, /^tee_captures_total\{outcome="refused"\} 1$/m);
  t.match(metrics, /^tee_capture_files_pruned_total\{reason="age"\} 1$/m);
});
