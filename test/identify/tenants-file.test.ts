import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { loadTenantsFile } from '../../src/identify/tenants-file.js';
import { packageRoot } from '../../src/paths.js';
import { complete } from '../helpers/policy-file.js';

function fileWith(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stella-tenants-'));
  const file = join(dir, 'tenants.yaml');
  writeFileSync(file, complete(text));
  return file;
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

t.test('a valid file compiles into lookup tables and per-tenant quotas', async (t) => {
  const file = fileWith(`
defaults:
  quota: { itemsPerSecond: 100, bytesPerSecond: 1MiB }
tenants:
  acme:
    quota: { itemsPerSecond: 5, itemsBurst: 10 }
identities:
  - name: ci
    spiffeId: spiffe://stella.local/ci
    tenants: [acme, globex]
  - subject: "O=Acme, CN=legacy"
    tenants: acme
  - name: agent
    tokenSha256: ${sha('s3cret').toUpperCase()}
    tenants: [globex]
`);
  const r = loadTenantsFile(file, { itemsPerSecond: 0, itemsBurst: 0, bytesPerSecond: 0, bytesBurst: 7 });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const b = r.bindings;
  t.match(b.version, /^[0-9a-f]{12}$/);
  t.same(b.bySpiffe.get('spiffe://stella.local/ci')?.tenants, ['acme', 'globex']);
  t.equal(b.bySubject.get('CN=legacy,O=Acme')?.name, 'identities[1]', 'subject canonicalised (sorted, trimmed); default name');
  t.same(b.byToken.get(sha('s3cret'))?.tenants, ['globex'], 'token hash stored lower-case');
  t.same(b.quotaFor('acme'), { itemsPerSecond: 5, itemsBurst: 10, bytesPerSecond: 1024 * 1024, bytesBurst: 7 }, 'tenant ◀ file defaults ◀ config');
  t.same(b.quotaFor('other'), { itemsPerSecond: 100, itemsBurst: 0, bytesPerSecond: 1024 * 1024, bytesBurst: 7 });
  t.equal(b.quotaFor('acme'), b.quotaFor('acme'), 'one object per tenant per version');
});

t.test('every error names file:line:column, the path and the reason', async (t) => {
  const file = fileWith(`identities:
  - name: ci
    tokenSha256: plain-text-token
    tenants: [acme]
  - spiffeId: spiffe://stella.local/x
    subject: CN=x
    tenants: acme
  - spiffeId: spiffe://stella.local/y
    tenants: []
tenants:
  "bad tenant":
    quota: { itemsPerSecond: -1 }
  acme:
    quota: { bytesPerSecond: lots, itemz: 3 }
extra: 1
`);
  const r = loadTenantsFile(file);
  t.equal(r.ok, false);
  if (r.ok) return;
  const errors = r.errors.join('\n');
  t.match(errors, `${file}:3:18 identities[0].tokenSha256: expected the SHA-256 of the token as 64 hex digits`);
  t.notMatch(errors, 'plain-text-token', 'a mistaken plain-text token is not echoed into logs');
  t.match(errors, `${file}:5:5 identities[1]: has spiffeId and subject; give exactly one`);
  t.match(errors, `${file}:9:14 identities[2].tenants: expected a tenant id or a non-empty list`);
  t.match(errors, `${file}:11:3 tenants["bad tenant"]: expected a tenant id`);
  t.match(errors, `${file}:14:30 tenants.acme.quota.bytesPerSecond: expected a size such as 10MiB`);
  t.match(errors, `${file}:14:36 tenants.acme.quota.itemz: unknown key "itemz"`);
  t.match(errors, `${file}:15:1 extra: unknown key "extra"`);
  t.equal(r.errors.length, 7, errors);
});

t.test('duplicates and YAML syntax errors are refused; a missing file is empty', async (t) => {
  const dup = loadTenantsFile(fileWith(`identities:
  - { spiffeId: "spiffe://d/a", tenants: a }
  - { spiffeId: "spiffe://d/a", tenants: b }
`));
  t.match(dup.ok ? '' : dup.errors.join('\n'), /:3:17 identities\[1\]\.spiffeId: the same spiffeId as identities\[0\]/);
  const syntax = loadTenantsFile(fileWith('identities: [\n'));
  t.match(syntax.ok ? '' : syntax.errors[0], /tenants\.yaml:\d+:\d+ /);
  const missing = loadTenantsFile(join(tmpdir(), 'no-such-dir-stella', 'tenants.yaml'));
  t.equal(missing.ok && missing.present, false);
  t.equal(missing.ok && missing.bindings.identityCount, 0);
});

t.test('the shipped policies/tenants.yaml is valid and binds nobody', async (t) => {
  const r = loadTenantsFile(join(packageRoot, 'policies', 'tenants.yaml'));
  t.equal(r.ok, true, r.ok ? '' : r.errors.join('\n'));
  t.equal(r.ok && r.bindings.identityCount, 0);
});
