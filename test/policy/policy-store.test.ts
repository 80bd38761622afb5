// Hot reload with a real directory: a good edit takes effect within 2 s, a bad edit is rejected and the
// old version keeps serving (counter incremented, metric still shows the old version), SIGHUP reloads,
// and a missing directory is an empty policy.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createPolicyStore, type PolicyStore } from '../../src/policy/policy-store.js';
import type { CompiledPolicy } from '../../src/policy/compile.js';
import type { Logger } from '../../src/telemetry/logger-types.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';

function recordingLogger(): Logger & { lines: Array<{ level: string; obj: object; msg?: string }> } {
  const lines: Array<{ level: string; obj: object; msg?: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

async function versionSeries(metrics: GatewayMetrics): Promise<Array<{ version: string; value: number }>> {
  const { values } = await metrics.policyVersionInfo.get();
  return values.map((v) => ({ version: String(v.labels.version), value: v.value }));
}

async function failures(metrics: GatewayMetrics): Promise<number> {
  return (await metrics.policyReloadFailures.get()).values[0]?.value ?? 0;
}

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Writes via a temporary file and a rename, as editors and config management do. */
function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

function setup(t: Test, redaction?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'policy-store-'));
  if (redaction !== undefined) writeFileSync(join(dir, 'redaction.yaml'), redaction);
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = recordingLogger();
  const store = createPolicyStore(dir, { profile: 'default', metrics, logger, debounceMs: 50 });
  t.teardown(() => {
    store.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, metrics, logger, store };
}

const detectors = (s: PolicyStore) => s.current().defaults.redaction.detectors.map((d) => `${d.category}=${d.action.type}`);

t.test('a good edit takes effect within 2 s; a bad edit is rejected and the old version kept', async (t) => {
  const { dir, metrics, logger, store } = setup(t, 'detectors: { email: mask }\n');
  t.throws(() => store.current(), /no policy loaded/, 'nothing before start');
  store.start();
  const v1 = store.current().version;
  t.same(detectors(store), ['email=mask']);
  t.same(await versionSeries(metrics), [{ version: v1, value: 1 }], 'the metric shows the active version');
  const changes: CompiledPolicy[] = [];
  store.onChange((p) => changes.push(p));

  const t0 = Date.now();
  writeAtomically(join(dir, 'redaction.yaml'), 'detectors: { email: drop, ipv4: mask }\n');
  const v2 = await waitFor('the good edit', () => (store.current().version !== v1 ? store.current().version : undefined), 2000);
  t.ok(Date.now() - t0 <= 2000, `took effect in ${Date.now() - t0} ms`);
  t.same(detectors(store), ['email=drop', 'ipv4=mask']);
  t.same(await versionSeries(metrics), [{ version: v2, value: 1 }], 'exactly one series: the new version (the old one is reset)');
  t.equal(changes.length, 1, 'onChange once');
  t.equal(changes[0]!.version, v2);
  t.equal(await failures(metrics), 0);

  writeFileSync(join(dir, 'redaction.yaml'), 'detectors: { email: erase }\n');
  const deadline = Date.now() + 2000;
  while ((await failures(metrics)) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(await failures(metrics), 1, 'policy_reload_failures_total incremented once');
  t.equal(store.current().version, v2, 'the last good version keeps serving');
  t.same(detectors(store), ['email=drop', 'ipv4=mask']);
  t.same(await versionSeries(metrics), [{ version: v2, value: 1 }], 'the metric still shows the good version');
  const logged = logger.lines.find((l) => l.level === 'error');
  t.ok(logged, 'an error is logged');
  t.match(JSON.stringify(logged?.obj), /redaction\.yaml:1:21 detectors\.email: expected one of mask, hash, drop, truncate \(got \\"erase\\"\)/, 'with file, position, path and reason');
  t.equal(changes.length, 1, 'no change notification for a rejected edit');

  // Fixing the file recovers.
  writeFileSync(join(dir, 'redaction.yaml'), 'detectors: { email: hash }\n');
  await waitFor('the fix', () => (store.current().version !== v2 ? true : undefined), 2000);
  t.same(detectors(store), ['email=hash']);
  t.equal(changes.length, 2);
});

t.test('reload() reports the outcome; an unchanged version is not a change', async (t) => {
  const { dir, store } = setup(t, 'detectors: { jwt: drop }\n');
  store.start();
  const v = store.current().version;
  t.same(store.reload(), { status: 'ok', version: v, changed: false });
  writeFileSync(join(dir, 'allowlists.yaml'), 'metricNames: [http.*]\n');
  const r = store.reload();
  t.equal(r.status, 'ok');
  t.equal(r.status === 'ok' && r.changed, true);
  writeFileSync(join(dir, 'allowlists.yaml'), 'metricNames: 3\n');
  const bad = store.reload();
  t.equal(bad.status, 'rejected');
  if (bad.status === 'rejected') {
    t.equal(bad.version, store.current().version, 'names the version still active');
    t.match(bad.errors[0], /allowlists\.yaml:1:14 metricNames: expected a list/);
  }
});

t.test('SIGHUP reloads while a store runs, and the handler goes away with it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-store-'));
  writeFileSync(join(dir, 'redaction.yaml'), 'detectors: { email: mask }\n');
  // A long debounce keeps the watcher out of the way: the change must come from the signal.
  const store = createPolicyStore(dir, { profile: 'default', logger: recordingLogger(), debounceMs: 60_000 });
  t.teardown(() => {
    store.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const before = process.listenerCount('SIGHUP');
  store.start();
  t.equal(process.listenerCount('SIGHUP'), before + 1, 'handler installed by start()');
  const v1 = store.current().version;
  writeFileSync(join(dir, 'redaction.yaml'), 'detectors: { email: drop }\n');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(store.current().version, v1, 'the debounced watcher has not reloaded yet');
  // Sent only while the store's handler is installed: without one, SIGHUP would end this process.
  process.kill(process.pid, 'SIGHUP');
  await waitFor('the SIGHUP reload', () => (store.current().version !== v1 ? true : undefined), 2000);
  t.same(detectors(store), ['email=drop'], 'SIGHUP loaded the edit');
  store.stop();
  t.equal(process.listenerCount('SIGHUP'), before, 'handler removed by stop()');
});

t.test('a missing directory is an empty policy, not an error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = recordingLogger();
  const store = createPolicyStore(join(dir, 'nope'), { profile: 'default', metrics, logger });
  t.teardown(() => store.stop());
  store.start();
  t.same(store.current().defaults.redaction.detectors, []);
  t.equal(await failures(metrics), 0);
  t.equal((await versionSeries(metrics)).length, 1);
  t.ok(logger.lines.some((l) => l.msg?.includes('not watched')), 'says the directory is not watched');
});

t.test('start() fails fast on an invalid policy, listing every error', async (t) => {
  const { store, metrics } = setup(t, 'detectors: { email: erase, phone: zap }\n');
  const before = process.listenerCount('SIGHUP');
  t.throws(() => store.start(), /invalid policies in .*\n.*detectors\.email.*\n.*detectors\.phone/);
  t.equal(process.listenerCount('SIGHUP'), before, 'no SIGHUP handler left behind');
  t.same(await versionSeries(metrics), [], 'no version is active');
});
