// Capture on incident end in a running gateway: an incident started through the admin API and ended with
// the CLI (`stella telemetry incident off`) leaves a signed bundle of the spans it received, announced to
// the Notify webhook as capture.completed, that the CLI's `verify` accepts.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../../src/admin/auth.js';
import { generateSigningKeyPair } from '../../src/tee/sign.js';
import { verifyBundleFile } from '../../src/tee/verify-bundle.js';
import { runCli } from '../cli/commands/incident-run.js';
import { baseUrl, startTestGateway } from '../helpers/gateway.js';
import { generateSpans } from '../helpers/generate-otlp.js';
import { startWebhook } from '../helpers/webhook.js';

t.test('incident on (API), spans in, incident off (CLI): capture.completed with a bundle that verifies', async (t) => {
  const hook = await startWebhook(t);
  const keys = generateSigningKeyPair();
  let dataDir = '';
  const gw = await startTestGateway([], (c) => {
    dataDir = c.dataDir;
    c.forensic.mode = 'incident';
    c.incidents.captureOnEnd = { enabled: true, leadMs: 300_000, cooldownMs: 0 };
    c.incidents.adminTokens = [{ name: 'oncall', sha256: sha256Hex('oncall-token'), role: 'operator', tenants: ['default'] }];
    c.incidents.notify.webhooks = [{ url: hook.url, secret: hook.secret, timeoutMs: 10_000, retries: 2, initialBackoffMs: 50, maxBackoffMs: 200 }];
    mkdirSync(join(c.dataDir, 'keys'), { recursive: true });
    writeFileSync(join(c.dataDir, 'keys', 'signing-key.pem'), keys.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(c.dataDir, 'keys', 'signing-key.pub.pem'), keys.publicKeyPem);
  });
  t.teardown(() => gw.stop(5000));
  const admin = baseUrl(gw, 'admin');

  const on = await fetch(`${admin}/admin/v1/incidents`, {
    method: 'POST',
    headers: { authorization: 'Bearer oncall-token', 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: 'default', reason: 'capture on end', ttl: '10m' }),
  });
  t.equal(on.status, 200, await on.clone().text());
  const res = await fetch(`${baseUrl(gw, 'http')}/v1/traces`, { method: 'POST', body: generateSpans(25), headers: { 'content-type': 'application/x-protobuf' } });
  t.equal(res.status, 200);
  await res.arrayBuffer();

  const off = await runCli(['incident', 'off', '--tenant', 'default', '--admin', admin, '--token', 'oncall-token']);
  t.equal(off.code, 0, off.err);
  const [done] = await hook.waitFor('capture.completed');
  t.match(done!.capture, { tenant: 'default', path: /incident-default-/ });
  const v = verifyBundleFile(done!.capture!.path!, keys.publicKeyPem);
  t.ok(v.ok, 'the bundle verifies');
  if (v.ok) {
    t.equal(v.manifest.totals.items.traces, 25, 'the 25 spans received during the incident are in it');
    t.equal(v.manifestSha256, done!.capture!.manifestSha256);
  }
  const verify = await runCli(['verify', done!.capture!.path!, '--key', join(dataDir, 'keys', 'signing-key.pub.pem')]);
  t.equal(verify.code, 0, verify.err);
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  t.match(metrics, /^incident_captures_total\{outcome="ok"\} 1$/m);
});
