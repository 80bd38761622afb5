import t from 'tap';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
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
