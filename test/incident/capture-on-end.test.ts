// Capture on incident end, with the real incident store, the real Notify (HMAC-signed POSTs to a local
// webhook server) and the real capture code over a real archive on disk: an incident that ends (off, or
// its TTL) leaves a signed bundle per tenant that `stella telemetry verify` accepts, announced as
// capture.completed; a capture that cannot be made is announced as capture.failed; an incident resumed
// within the cooldown is captured once, over its whole window.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createIncidentCapturer, type IncidentCaptureConfig } from '../../src/incident/capture-on-end.js';
import { createNotifier } from '../../src/incident/notify.js';
import { createIncidentStore } from '../../src/incident/store.js';
import { FLEET } from '../../src/incident/types.js';
import { packageRoot } from '../../src/paths.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { verifyBundleFile } from '../../src/tee/verify-bundle.js';
import { manualClock } from '../helpers/manual-clock.js';
import { startWebhook } from '../helpers/webhook.js';
import { makeArchive, T0 } from '../tee/bundle-archive.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const MIN = 60_000;

async function setup(t: Test, o: { key?: boolean; cooldownMs?: number; startAt?: number } = {}) {
  const archive = makeArchive();
  const keyPath = join(archive.dataDir, 'keys', 'signing-key.pem');
  const pubPath = join(archive.dataDir, 'keys', 'signing-key.pub.pem');
  if (o.key !== false) {
    mkdirSync(join(archive.dataDir, 'keys'), { recursive: true });
    writeFileSync(keyPath, archive.keys.privateKeyPem, { mode: 0o600 });
    writeFileSync(pubPath, archive.keys.publicKeyPem);
  }
  // The archive's records lie around T0; the incident starts 5 minutes later, so the default lead reaches T0.
  const clock = manualClock(o.startAt ?? T0 + 5 * MIN);
  const metrics = createMetrics({ defaultMetrics: false });
  const cooldownMs = o.cooldownMs ?? 0;
  const incidentsDir = join(archive.dataDir, 'incidents');
  const store = createIncidentStore(
    { dir: incidentsDir, enabled: true, defaultTtlMs: 60 * MIN, maxTtlMs: 24 * 60 * MIN, maxIncidents: 10, resumeWithinMs: cooldownMs },
    { logger: silentLogger, metrics, clock },
  );
  const hook = await startWebhook(t);
  const notifier = createNotifier({ maxQueue: 16, webhooks: [{ url: hook.url, secret: hook.secret, timeoutMs: 10_000, retries: 0, initialBackoffMs: 10, maxBackoffMs: 10 }] }, { logger: silentLogger, metrics });
  store.onChange((c) => notifier.notify(c));
  const config: IncidentCaptureConfig = {
    leadMs: 5 * MIN,
    cooldownMs,
    root: archive.root,
    capturesDir: join(archive.dataDir, 'captures'),
    signingKeyPath: keyPath,
    profile: 'forensic',
    auditFile: store.auditFile,
    limits: { retentionMs: 30 * 86_400_000, maxCount: 100, maxBytes: 1 << 30 },
  };
  const capturer = createIncidentCapturer(config, { incidents: store, notifier, metrics, logger: silentLogger, clock });
  store.start();
  t.teardown(async () => {
    await capturer.stop(1000);
    store.stop();
    await notifier.stop(1000);
  });
  const audit = () => readFileSync(store.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const counted = async (outcome: string) => (await metrics.incidentCaptures.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  return { archive, store, clock, hook, capturer, audit, counted, pubPath, keyPath };
}

t.test('an incident ended through the API leaves a bundle that stella telemetry verify accepts', async (t) => {
  const s = await setup(t);
  const on = s.store.on('acme', { reason: 'checkout errors', by: 'oncall' });
  t.ok(on.ok);
  s.clock.advance(90_000);
  const endMs = s.clock.now();
  t.ok(s.store.off('acme', 'oncall', 'resolved').ok);

  const [done] = await s.hook.waitFor('capture.completed');
  t.equal(done!.incident.scope, 'acme');
  t.equal(done!.fleet, false);
  t.match(done!.capture, { tenant: 'acme', from: new Date(T0).toISOString(), to: new Date(endMs).toISOString() });
  const path = done!.capture!.path!;
  t.match(path, /incident-acme-\d+-\d+\.tar$/);

  // The bundle holds acme's records from T0 (start minus the 5 min lead) to the end, and verifies.
  const v = verifyBundleFile(path, s.archive.keys.publicKeyPem);
  t.ok(v.ok, 'the bundle verifies with the public key');
  if (v.ok) {
    t.equal(v.manifestSha256, done!.capture!.manifestSha256, 'the announced digest is the manifest');
    t.equal(v.manifest.tenant, 'acme');
    const inWindow = (v.manifest.totals.records.traces ?? 0) + (v.manifest.totals.records.metrics ?? 0) + (v.manifest.totals.records.logs ?? 0);
    t.equal(inWindow, 11, "acme's 11 records at or after T0 (none before the lead)");
  }
  // The real CLI accepts it too.
  const r = spawnSync(process.execPath, [cli, 'telemetry', 'verify', path, '--key', s.pubPath], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);

  const capture = s.audit().find((l) => l.action === 'capture');
  t.match(capture, { scope: 'acme', by: 'incident:acme', via: 'incident', outcome: 'ok', path, manifestSha256: done!.capture!.manifestSha256 });
  t.equal(await s.counted('ok'), 1);
  t.same(s.hook.of('capture.failed'), []);
  t.same(s.hook.events.map((e) => e.type), ['incident.start', 'incident.end', 'capture.completed'], 'announced in order');
});

t.test('a fleet-wide incident that expires is captured for every tenant seen in its window', async (t) => {
  const s = await setup(t);
  t.ok(s.store.on(FLEET, { reason: 'region outage', ttlMs: 2 * MIN, by: 'sre' }).ok);
  s.clock.advance(2 * MIN);
  const done = await s.hook.waitFor('capture.completed', 2);
  t.same(done.map((e) => e.capture!.tenant).sort(), ['acme', 'globex']);
  for (const e of done) {
    t.equal(e.fleet, true);
    t.equal(e.capture!.to, e.incident.expiresAt, 'the window ends at the expiry');
    t.ok(verifyBundleFile(e.capture!.path!, s.archive.keys.publicKeyPem).ok, `${e.capture!.tenant}'s bundle verifies`);
  }
  t.equal(await s.counted('ok'), 2);
});

t.test('a capture that cannot be made is announced as capture.failed', async (t) => {
  const s = await setup(t, { key: false });
  t.ok(s.store.on('acme', { reason: 'no key yet', by: 'oncall' }).ok);
  s.clock.advance(MIN);
  t.ok(s.store.off('acme', 'oncall').ok);
  const [failed] = await s.hook.waitFor('capture.failed');
  t.match(failed!.capture, { tenant: 'acme', error: /no signing key at .*signing-key\.pem/ });
  t.notOk(failed!.capture!.path, 'no bundle path');
  t.equal(await s.counted('failed'), 1);
  t.match(s.audit().find((l) => l.action === 'capture'), { via: 'incident', outcome: 'failed', reason: /no signing key/ });

  // A broken archive (a tenant dir that is a file) fails too, with the key in place.
  mkdirSync(join(s.archive.dataDir, 'keys'), { recursive: true });
  writeFileSync(s.keyPath, s.archive.keys.privateKeyPem, { mode: 0o600 });
  rmSync(join(s.archive.dataDir, 'captures'), { recursive: true, force: true });
  writeFileSync(join(s.archive.dataDir, 'captures'), 'not a directory');
  t.ok(s.store.on('acme', { reason: 'again', by: 'oncall' }).ok);
  s.clock.advance(MIN);
  t.ok(s.store.off('acme', 'oncall').ok);
  const both = await s.hook.waitFor('capture.failed', 2);
  t.match(both[1]!.capture, { tenant: 'acme', error: /captures/ });
  t.equal(await s.counted('failed'), 2);
  t.equal(await s.counted('ok'), 0);
});

t.test('a new incident within the cooldown resumes the ended one: one capture over the whole window', async (t) => {
  const s = await setup(t, { cooldownMs: 2 * MIN });
  const first = s.store.on('acme', { reason: 'flap 1', by: 'alertmanager' });
  t.ok(first.ok);
  const startedAt = first.ok ? first.incident.startedAt : '';
  s.clock.advance(MIN);
  t.ok(s.store.off('acme', 'alertmanager').ok);
  s.clock.advance(MIN); // within the 2 min cooldown
  const again = s.store.on('acme', { reason: 'flap 2', by: 'alertmanager' });
  t.ok(again.ok);
  if (again.ok) t.equal(again.incident.startedAt, startedAt, 'the resumed incident keeps its start');
  t.equal(s.audit().filter((l) => l.action === 'resume').length, 1, 'audited as a resume');
  s.clock.advance(3 * MIN); // past where the first capture would have run
  await s.capturer.idle();
  t.equal(s.hook.of('capture.completed').length, 0, 'nothing captured while the incident goes on');
  t.ok(s.store.off('acme', 'alertmanager').ok);
  const endMs = s.clock.now();
  t.equal(s.capturer.pending(), 1, 'the capture waits for the cooldown');
  s.clock.advance(2 * MIN);
  const [done] = await s.hook.waitFor('capture.completed');
  t.match(done!.capture, { from: new Date(Date.parse(startedAt) - 5 * MIN).toISOString(), to: new Date(endMs).toISOString() });
  await s.capturer.idle();
  t.equal(s.hook.of('capture.completed').length, 1, 'one bundle');

  // Past the cooldown, a new incident is a new one.
  s.clock.advance(5 * MIN);
  const fresh = s.store.on('acme', { reason: 'later', by: 'alertmanager' });
  t.ok(fresh.ok);
  if (fresh.ok) t.not(fresh.incident.startedAt, startedAt);
});
