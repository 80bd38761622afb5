// Capture bundles on disk: written 0600 (also over a wider leftover), pruned by age, count and bytes
// (oldest first, never the one just written); and every archive path built from a tenant id refuses
// to leave its directory (defence in depth behind the input checks).
import t from 'tap';
import { chmodSync, existsSync, mkdtempSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePrivateDir, pruneCaptures, writePrivateFile } from '../../src/tee/capture-files.js';
import { writeHold } from '../../src/tee/capture.js';
import { childPath, listTenants, shedLogPath, tenantDir, tierDir, UnsafeTenantPathError } from '../../src/tee/layout.js';

const DAY = 86_400_000;

t.test('private files and dir', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'stella-capfiles-')), 'captures');
  ensurePrivateDir(dir);
  t.equal(statSync(dir).mode & 0o777, 0o700);
  chmodSync(dir, 0o755);
  ensurePrivateDir(dir);
  t.equal(statSync(dir).mode & 0o777, 0o700, 'an existing wider dir is tightened');
  const path = join(dir, 'a.tar');
  writeFileSync(`${path}.tmp`, 'old', { mode: 0o644 });
  writePrivateFile(path, Buffer.from('bundle'));
  t.equal(statSync(path).mode & 0o777, 0o600, 'bundle 0600 even over a 0644 leftover temp file');
  t.notOk(existsSync(`${path}.tmp`));
});

t.test('pruning by age, count and bytes, oldest first', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-capfiles-'));
  const now = Date.now();
  const make = (name: string, ageMs: number, bytes = 10) => {
    const p = join(dir, name);
    writeFileSync(p, Buffer.alloc(bytes));
    utimesSync(p, (now - ageMs) / 1000, (now - ageMs) / 1000);
    return p;
  };
  make('old.tar', 8 * DAY);
  make('a.tar', 4 * DAY);
  make('b.tar', 3 * DAY);
  make('c.tar', 2 * DAY);
  const fresh = make('d.tar', 0);
  make('crashed.tar.tmp', 2 * 60_000);
  make('other.txt', 30 * DAY);
  const r = pruneCaptures(dir, { retentionMs: 7 * DAY, maxCount: 3, maxBytes: 1_000 }, now, fresh);
  t.same(r.deleted.map((d) => [d.path.slice(dir.length + 1), d.reason]).sort(), [['a.tar', 'count'], ['crashed.tar.tmp', 'temp'], ['old.tar', 'age']]);
  t.same(readdirSync(dir).sort(), ['b.tar', 'c.tar', 'd.tar', 'other.txt'], 'files it does not own are left alone');
  const r2 = pruneCaptures(dir, { retentionMs: 7 * DAY, maxCount: 10, maxBytes: 25 }, now, fresh);
  t.same(r2.deleted.map((d) => [d.path.slice(dir.length + 1), d.reason]), [['b.tar', 'bytes']], 'the byte budget deletes the oldest');
  chmodSync(fresh, 0o644);
  const r3 = pruneCaptures(dir, { retentionMs: 7 * DAY, maxCount: 1, maxBytes: 5 }, now, fresh);
  t.equal(statSync(fresh).mode & 0o777, 0o600, 'a kept bundle readable by others is made private');
  t.same(readdirSync(dir).sort(), ['d.tar', 'other.txt'], 'the bundle just written is kept even over budget');
  t.equal(r3.kept, 1);
});

t.test('archive paths never leave the root', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'stella-layout-'));
  for (const bad of ['../../x', 'acme/../globex', '/etc', '.', '..', '', '.hidden', 'a\\b', 'a\0b']) {
    t.throws(() => tenantDir(root, bad), UnsafeTenantPathError, `tenantDir ${JSON.stringify(bad)}`);
    t.throws(() => tierDir(root, bad, 'default'), UnsafeTenantPathError);
    t.throws(() => shedLogPath(root, bad), UnsafeTenantPathError);
    t.throws(() => writeHold(root, { tenant: bad, fromMs: 0, toMs: 1, expiresAt: null }), UnsafeTenantPathError, `writeHold ${JSON.stringify(bad)}`);
  }
  t.throws(() => childPath(root, '../x'), UnsafeTenantPathError);
  t.equal(tenantDir(root, 'acme'), join(root, 'acme'));
  t.match(writeHold(root, { tenant: '_all', fromMs: 0, toMs: 1, expiresAt: null }), /holds\/capture-_all-0-1\.json$/, 'the fleet may be held');
  t.throws(() => writeHold(root, { tenant: 'acme', fromMs: -Infinity, toMs: 1, expiresAt: null }), RangeError);
  // A stray directory whose name is not a tenant id is not listed as a tenant (so the pruner never builds a path from it).
  writeFileSync(join(root, 'file'), '');
  for (const d of ['acme', 'has space', '.git']) (await import('node:fs')).mkdirSync(join(root, d), { recursive: true });
  t.same(listTenants(root), ['acme']);
});
