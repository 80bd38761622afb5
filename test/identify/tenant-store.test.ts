import t from 'tap';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTenantStore } from '../../src/identify/tenant-store.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../helpers/gateway.js';
import { eventually } from '../helpers/tls.js';
import { complete } from '../helpers/policy-file.js';

const good = (tenants: string) => `identities:\n  - { name: ci, spiffeId: "spiffe://stella.local/ci", tenants: ${tenants} }\n`;

function write(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, complete(text));
  renameSync(`${file}.tmp`, file);
}

t.test('a file change is picked up; a bad edit is rejected, counted, and the last good version stays', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-tstore-'));
  const file = join(dir, 'tenants.yaml');
  write(file, good('[acme]'));
  const metrics = createMetrics({ defaultMetrics: false });
  const store = createTenantStore(file, { logger: silentLogger, metrics, debounceMs: 20 });
  store.start();
  t.teardown(() => store.stop());
  const v1 = store.current().version;
  t.same(store.current().bySpiffe.get('spiffe://stella.local/ci')?.tenants, ['acme']);
  t.equal((await metrics.tenancyBindingsInfo.get()).values.find((v) => v.value === 1)?.labels.version, v1);

  write(file, good('[acme, globex]'));
  await eventually(() => (store.current().version !== v1 ? true : undefined));
  t.same(store.current().bySpiffe.get('spiffe://stella.local/ci')?.tenants, ['acme', 'globex'], 'watched change applied');
  const v2 = store.current().version;

  write(file, 'identities:\n  - { spiffeId: "not a spiffe id", tenants: acme }\n');
  await eventually(async () => ((await metrics.tenancyReloadFailures.get()).values[0]?.value === 1 ? true : undefined));
  t.equal(store.current().version, v2, 'last good version kept');

  writeFileSync(file, complete(good('[initech]')));
  process.emit('SIGHUP', 'SIGHUP');
  t.same(store.current().bySpiffe.get('spiffe://stella.local/ci')?.tenants, ['initech'], 'SIGHUP reloads at once');
});

t.test('start-up fails fast on an invalid file, naming it; a missing file is the empty table', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-tstore-'));
  const file = join(dir, 'tenants.yaml');
  writeFileSync(file, complete('identities: 3\n'));
  const store = createTenantStore(file, { logger: silentLogger });
  t.throws(() => store.start(), { message: new RegExp(`invalid tenants file ${file}:\\n${file}:1:13 identities: expected a list`) });
  const empty = createTenantStore(join(dir, 'absent.yaml'), { logger: silentLogger });
  empty.start();
  t.equal(empty.current().identityCount, 0);
  empty.stop();
});

// Fail closed: after a good load, an empty, truncated, oversized or deleted tenants.yaml never replaces
// the bindings (identities would lose their tenants, quotas would fall back to the defaults).
for (const [name, breakIt, reason] of [
  ['emptied', (f: string) => writeFileSync(f, ''), 'empty'],
  ['truncated before its last line', (f: string) => writeFileSync(f, good('[acme]')), 'incomplete'],
  ['deleted', (f: string) => rmSync(f), 'missing'],
  ['grown past policy.maxFileBytes', (f: string) => writeFileSync(f, complete(`# ${'x'.repeat(4096)}\n${good('[acme]')}`)), 'too_large'],
] as const) {
  t.test(`fail closed: tenants.yaml ${name} keeps the last good bindings`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'stella-tstore-'));
    const file = join(dir, 'tenants.yaml');
    write(file, `${good('[acme]')}tenants:\n  acme: { quota: { itemsPerSecond: 10 } }\n`);
    const metrics = createMetrics({ defaultMetrics: false });
    const limits = { maxFileBytes: 2048, maxCustomPatterns: 10, maxPatternBytes: 1024 };
    const store = createTenantStore(file, { logger: silentLogger, metrics, debounceMs: 60_000, limits });
    store.start();
    t.teardown(() => store.stop());
    const v1 = store.current().version;
    breakIt(file);
    t.equal((await store.reload()).status, 'rejected');
    t.equal(store.current().version, v1);
    t.same(store.current().bySpiffe.get('spiffe://stella.local/ci')?.tenants, ['acme']);
    t.equal(store.current().quotaFor('acme').itemsPerSecond, 10, 'the quota stays');
    const counted = (await metrics.policyFileRejections.get()).values.map((v) => `${v.labels.file}/${v.labels.reason}=${v.value}`);
    t.same(counted, [`tenants.yaml/${reason}=1`]);
  });
}

t.test('a tenants.yaml missing at start-up stays "no bindings" while it is missing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-tstore-'));
  const store = createTenantStore(join(dir, 'tenants.yaml'), { logger: silentLogger, debounceMs: 60_000 });
  store.start();
  t.teardown(() => store.stop());
  t.same(await store.reload(), { status: 'ok', version: 'empty', changed: false });
});
