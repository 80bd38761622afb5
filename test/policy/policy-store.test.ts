// Hot reload with a real directory: a good edit takes effect, a bad edit is rejected and the
// old version keeps serving (counter incremented, metric still shows the old version), SIGHUP reloads,
// a missing directory at start-up is the shipped defaults, and every way of breaking a file after a
// good load (empty, truncated, deleted, directory moved away, too large) keeps the last good version.
import { cpSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createPolicyStore, type PolicyStore } from '../../src/policy/policy-store.js';
import type { CompiledPolicy } from '../../src/policy/compile.js';
import { loadPolicy } from '../../src/policy/load.js';
import { defaultPoliciesDir } from '../../src/paths.js';
import type { Logger } from '../../src/telemetry/logger-types.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { complete } from '../helpers/policy-file.js';

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
  writeFileSync(`${file}.tmp`, complete(text));
  renameSync(`${file}.tmp`, file);
}

function setup(t: Test, redaction?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'policy-store-'));
  if (redaction !== undefined) writeFileSync(join(dir, 'redaction.yaml'), complete(redaction));
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

t.test('a good edit takes effect; a bad edit is rejected and the old version kept', async (t) => {
  const { dir, metrics, logger, store } = setup(t, 'detectors: { email: mask }\n');
  t.throws(() => store.current(), /no policy loaded/, 'nothing before start');
  store.start();
  const v1 = store.current().version;
  t.same(detectors(store), ['email=mask']);
  t.same(await versionSeries(metrics), [{ version: v1, value: 1 }], 'the metric shows the active version');
  const changes: CompiledPolicy[] = [];
  store.onChange((p) => changes.push(p));

  // The reload compiles in a worker thread; how fast is measured in bench/, not asserted here.
  writeAtomically(join(dir, 'redaction.yaml'), 'detectors: { email: drop, ipv4: mask }\n');
  const v2 = await waitFor('the good edit', () => (store.current().version !== v1 ? store.current().version : undefined), 30_000);
  t.same(detectors(store), ['email=drop', 'ipv4=mask']);
  t.same(await versionSeries(metrics), [{ version: v2, value: 1 }], 'exactly one series: the new version (the old one is reset)');
  t.equal(changes.length, 1, 'onChange once');
  t.equal(changes[0]!.version, v2);
  t.equal(await failures(metrics), 0);

  writeFileSync(join(dir, 'redaction.yaml'), complete('detectors: { email: erase }\n'));
  const deadline = Date.now() + 30_000;
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
  writeFileSync(join(dir, 'redaction.yaml'), complete('detectors: { email: hash }\n'));
  await waitFor('the fix', () => (store.current().version !== v2 ? true : undefined), 30_000);
  t.same(detectors(store), ['email=hash']);
  t.equal(changes.length, 2);
});

t.test('reload() reports the outcome; an unchanged version is not a change', async (t) => {
  const { dir, store } = setup(t, 'detectors: { jwt: drop }\n');
  store.start();
  const v = store.current().version;
  t.same(await store.reload(), { status: 'ok', version: v, changed: false });
  writeFileSync(join(dir, 'allowlists.yaml'), complete('metricNames: [http.*]\n'));
  const r = await store.reload();
  t.equal(r.status, 'ok');
  t.equal(r.status === 'ok' && r.changed, true);
  writeFileSync(join(dir, 'allowlists.yaml'), complete('metricNames: 3\n'));
  const bad = await store.reload();
  t.equal(bad.status, 'rejected');
  if (bad.status === 'rejected') {
    t.equal(bad.version, store.current().version, 'names the version still active');
    t.match(bad.errors[0], /allowlists\.yaml:1:14 metricNames: expected a list/);
  }
});

t.test('SIGHUP reloads while a store runs, and the handler goes away with it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-store-'));
  writeFileSync(join(dir, 'redaction.yaml'), complete('detectors: { email: mask }\n'));
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
  writeFileSync(join(dir, 'redaction.yaml'), complete('detectors: { email: drop }\n'));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(store.current().version, v1, 'the debounced watcher has not reloaded yet');
  // Sent only while the store's handler is installed: without one, SIGHUP would end this process.
  process.kill(process.pid, 'SIGHUP');
  await waitFor('the SIGHUP reload', () => (store.current().version !== v1 ? true : undefined), 30_000);
  t.same(detectors(store), ['email=drop'], 'SIGHUP loaded the edit');
  store.stop();
  t.equal(process.listenerCount('SIGHUP'), before, 'handler removed by stop()');
});

t.test('a missing directory at start-up means the shipped defaults, and the log says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = recordingLogger();
  const store = createPolicyStore(join(dir, 'nope'), { profile: 'default', metrics, logger });
  t.teardown(() => store.stop());
  store.start();
  const shipped = createPolicyStore(defaultPoliciesDir, { profile: 'default', logger: recordingLogger() });
  shipped.start();
  shipped.stop();
  t.equal(store.current().version, shipped.current().version, 'the version of the shipped policies');
  t.ok(store.current().defaults.redaction.detectors.length >= 16, 'every detector on');
  t.equal(await failures(metrics), 0);
  t.equal((await versionSeries(metrics)).length, 1);
  const warned = logger.lines.find((l) => l.level === 'warn' && l.msg?.includes('shipped defaults'));
  t.ok(warned, 'a warning names the defaults used');
  t.match(JSON.stringify(warned?.obj), /policies\/redaction\.yaml.*policies\/allowlists\.yaml/);
  t.ok(logger.lines.some((l) => l.msg?.includes('not watched')), 'says the directory is not watched');
});

async function rejections(metrics: GatewayMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.policyFileRejections.get()).values) out[`${v.labels.file}/${v.labels.reason}`] = v.value;
  return out;
}

// Each way a file can be broken after a good load: the last good version stays, the file is counted with
// its reason, and a warn line with `audit: true` names the file and the reason.
const BROKEN: Array<[string, (dir: string) => void, string, string]> = [
  ['emptied in place', (d) => writeFileSync(join(d, 'redaction.yaml'), ''), 'redaction.yaml', 'empty'],
  [
    'an empty file moved into place',
    (d) => {
      writeFileSync(join(d, 'empty.tmp'), '');
      renameSync(join(d, 'empty.tmp'), join(d, 'redaction.yaml'));
    },
    'redaction.yaml',
    'empty',
  ],
  ['only comments', (d) => writeFileSync(join(d, 'redaction.yaml'), '# being edited\n'), 'redaction.yaml', 'empty'],
  // A prefix that parses: everything but the marker line, and a cut at a line inside the rules.
  ['truncated before its last line', (d) => writeFileSync(join(d, 'redaction.yaml'), 'detectors:\n  email: mask\n'), 'redaction.yaml', 'incomplete'],
  ['truncated mid-token', (d) => writeFileSync(join(d, 'redaction.yaml'), 'detectors:\n  email: mask\n  ipv4: { action: ma'), 'redaction.yaml', 'unparsable'],
  ['truncated inside the marker', (d) => writeFileSync(join(d, 'redaction.yaml'), 'detectors:\n  email: mask\n  ipv4: mask\nversion: '), 'redaction.yaml', 'invalid'],
  ['deleted', (d) => rmSync(join(d, 'redaction.yaml')), 'redaction.yaml', 'missing'],
  ['allowlists.yaml emptied', (d) => writeFileSync(join(d, 'allowlists.yaml'), ''), 'allowlists.yaml', 'empty'],
  ['allowlists.yaml deleted', (d) => rmSync(join(d, 'allowlists.yaml')), 'allowlists.yaml', 'missing'],
  ['grown past policy.maxFileBytes', (d) => writeFileSync(join(d, 'redaction.yaml'), complete(`# ${'x'.repeat(4096)}\ndetectors: {}\n`)), 'redaction.yaml', 'too_large'],
];

for (const [name, breakIt, file, reason] of BROKEN) {
  t.test(`fail closed: ${name} keeps the last good version`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-store-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'redaction.yaml'), complete('detectors: { email: mask, ipv4: mask }\n'));
    writeFileSync(join(dir, 'allowlists.yaml'), complete('metricNames: [http.*]\n'));
    const metrics = createMetrics({ defaultMetrics: false });
    const logger = recordingLogger();
    const limits = { maxFileBytes: 2048, maxCustomPatterns: 10, maxPatternBytes: 1024 };
    // The watcher stays out of the way (long debounce): reload() is the event waited for.
    // On the main thread (worker: false) to keep this fast; the directory test below goes through the worker.
    const store = createPolicyStore(dir, { profile: 'default', metrics, logger, debounceMs: 60_000, limits, worker: false });
    t.teardown(() => store.stop());
    store.start();
    const good = store.current().version;
    breakIt(dir);
    const r = await store.reload();
    t.equal(r.status, 'rejected');
    t.equal(store.current().version, good, 'the last good version stays');
    t.same(detectors(store), ['email=mask', 'ipv4=mask']);
    t.same(store.current().defaults.allowlists.metricNames, ['http.*']);
    t.same(await rejections(metrics), { [`${file}/${reason}`]: 1 }, 'counted by file and reason');
    t.equal(await failures(metrics), 1);
    const warn = logger.lines.find((l) => l.level === 'warn' && (l.obj as { audit?: boolean }).audit === true);
    t.match(warn?.obj, { audit: true, file: join(dir, file), reason, activeVersion: good }, 'a warn line for the audit trail');
  });
}

t.test('fail closed: the policies directory renamed away keeps the last good version', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'policy-store-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const dir = join(parent, 'policies');
  cpSync(defaultPoliciesDir, dir, { recursive: true });
  writeFileSync(join(dir, 'redaction.yaml'), complete('detectors: { email: mask }\n'));
  const metrics = createMetrics({ defaultMetrics: false });
  const store = createPolicyStore(dir, { profile: 'default', metrics, logger: recordingLogger(), debounceMs: 60_000 });
  t.teardown(() => store.stop());
  store.start();
  const good = store.current().version;
  renameSync(dir, join(parent, 'moved'));
  t.equal((await store.reload()).status, 'rejected');
  t.equal(store.current().version, good);
  t.same(await rejections(metrics), { 'redaction.yaml/missing': 1, 'allowlists.yaml/missing': 1 });
  // Moved back: the same version, nothing to swap.
  renameSync(join(parent, 'moved'), dir);
  t.same(await store.reload(), { status: 'ok', version: good, changed: false });
});

t.test('a file defaulted at start-up stays defaulted while it is missing; "version: 1" alone is an explicit empty policy', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'redaction.yaml'), complete('detectors: { email: mask }\n'));
  const store = createPolicyStore(dir, { profile: 'default', logger: recordingLogger(), debounceMs: 60_000 });
  t.teardown(() => store.stop());
  store.start();
  const shippedAllowlists = store.current().defaults.allowlists;
  writeFileSync(join(dir, 'redaction.yaml'), complete('detectors: { email: drop }\n'));
  const r = await store.reload();
  t.equal(r.status === 'ok' && r.changed, true, 'allowlists.yaml still missing: still the shipped default, not a refusal');
  t.same(store.current().defaults.allowlists, shippedAllowlists);
  writeFileSync(join(dir, 'redaction.yaml'), 'version: 1\n');
  t.equal((await store.reload()).status, 'ok');
  t.same(store.current().defaults.redaction.detectors, [], 'no rules, as written');
});

t.test('limits: too many custom patterns or pattern bytes are refused before the schema runs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const custom = (n: number, len = 8) => Array.from({ length: n }, (_, i) => `  p${i}: { regex: "${'a'.repeat(len)}${i}", action: mask }\n`).join('');
  writeFileSync(join(dir, 'redaction.yaml'), complete(`custom:\n${custom(11)}`));
  const limits = { maxFileBytes: 1 << 20, maxCustomPatterns: 10, maxPatternBytes: 100 };
  const r = loadPolicy(dir, 'default', { limits });
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.errors[0], /11 custom patterns, more than the limit of 10 \(policy\.maxCustomPatterns\)/);
  writeFileSync(join(dir, 'redaction.yaml'), complete(`custom:\n${custom(2, 60)}`));
  const bytes = loadPolicy(dir, 'default', { limits });
  t.equal(bytes.ok, false);
  if (!bytes.ok) t.match(bytes.errors[0], /122 bytes of custom patterns, more than the limit of 100 \(policy\.maxPatternBytes\)/);
  t.same(!bytes.ok && bytes.rejected, [{ file: join(dir, 'redaction.yaml'), reason: 'too_large' }]);
  writeFileSync(join(dir, 'redaction.yaml'), complete(`tenants:\n  acme:\n    custom:\n${custom(11).replace(/^/gm, '    ')}`));
  t.equal(loadPolicy(dir, 'default', { limits }).ok, false, 'overrides count too');
});

t.test('start() fails fast on an invalid policy, listing every error', async (t) => {
  const { store, metrics } = setup(t, 'detectors: { email: erase, phone: zap }\n');
  const before = process.listenerCount('SIGHUP');
  t.throws(() => store.start(), /invalid policies in .*\n.*detectors\.email.*\n.*detectors\.phone/);
  t.equal(process.listenerCount('SIGHUP'), before, 'no SIGHUP handler left behind');
  t.same(await versionSeries(metrics), [], 'no version is active');
});

t.test('hash actions whose key variable is unset are warned about at load (they mask instead)', async (t) => {
  const { store, logger } = setup(t, 'detectors: { email: hash }\nhashKeyEnv: STELLA_TEST_KEY_NEVER_SET\n');
  store.start();
  const warned = logger.lines.find((l) => l.level === 'warn' && l.msg?.includes('STELLA_TEST_KEY_NEVER_SET'));
  t.match(warned?.obj, { variables: ['STELLA_TEST_KEY_NEVER_SET'] });
});
