// Signed files and directories (src/trust/signed-files.ts) with real keys and real files: a bundle beside
// a file, a signed directory manifest (found through symlinks, as a deploy or a ConfigMap lays files out),
// and each way to break them reported with the file's name and its own reason.
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { generateSigningKeyPair } from '../../src/tee/sign.js';
import { BUNDLE_SUFFIX, DIR_MANIFEST, readVerifiedFile, signDirectory, signFile, verifyDirectory, verifyFileBytes } from '../../src/trust/signed-files.js';

const root = mkdtempSync(join(tmpdir(), 'stella-trust-'));
const key = generateSigningKeyPair();
const other = generateSigningKeyPair();

t.test('a file signed beside itself verifies; an edit, another key, or no bundle are refused by name', async (t) => {
  const file = join(root, 'stella.yaml');
  writeFileSync(file, 'profile: default\n');
  const bundle = await signFile(file, key.privateKeyPem);
  t.equal(bundle, file + BUNDLE_SUFFIX);
  // A real Sigstore bundle (v0.3, messageSignature) as sigstore-js parses it.
  const parsed = bundleFromJSON(JSON.parse(readFileSync(bundle, 'utf8')));
  t.equal(parsed.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  t.ok(readVerifiedFile(file, [key.publicKeyPem]).ok);
  t.ok(readVerifiedFile(file, [other.publicKeyPem, key.publicKeyPem]).ok, 'any trusted key');

  const wrong = readVerifiedFile(file, [other.publicKeyPem]);
  t.match(wrong, { ok: false, failure: 'wrong-key' });
  t.match(!wrong.ok && wrong.message, file);

  writeFileSync(file, 'profile: forensic\n');
  const tampered = readVerifiedFile(file, [key.publicKeyPem]);
  t.match(tampered, { ok: false, failure: 'tampered' });
  t.match(!tampered.ok && tampered.message, new RegExp(`^${file}: tampered`));

  unlinkSync(bundle);
  const unsigned = readVerifiedFile(file, [key.publicKeyPem]);
  t.match(unsigned, { ok: false, failure: 'unsigned' });
  t.match(!unsigned.ok && unsigned.message, new RegExp(`^${file}: unsigned`));
});

t.test('a signed directory: every file by the manifest, through symlinks; tampered, extra and missing files named', async (t) => {
  const dir = join(root, 'v1');
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'stella.yaml'), 'profile: default\n');
  writeFileSync(join(dir, 'policies', 'redaction.yaml'), 'version: 1\n');
  const m = await signDirectory(dir, key.privateKeyPem);
  t.same(m.files.map((f) => f.path), ['policies/redaction.yaml', 'stella.yaml']);
  t.match(verifyDirectory(dir, [key.publicKeyPem]), { ok: true, files: 2 });
  // Same files, same manifest bytes (deterministic signature too).
  const before = readFileSync(join(dir, DIR_MANIFEST));
  const sigBefore = readFileSync(join(dir, DIR_MANIFEST + BUNDLE_SUFFIX));
  await signDirectory(dir, key.privateKeyPem);
  t.same(readFileSync(join(dir, DIR_MANIFEST)), before);
  t.same(readFileSync(join(dir, DIR_MANIFEST + BUNDLE_SUFFIX)), sigBefore);

  // Kubernetes-style: ..data -> v1, policies -> ..data/policies; the file is read through two symlinks.
  const mount = join(root, 'mount');
  mkdirSync(mount);
  symlinkSync(dir, join(mount, '..data'));
  symlinkSync('..data/policies', join(mount, 'policies'));
  const viaLink = join(mount, 'policies', 'redaction.yaml');
  t.ok(readVerifiedFile(viaLink, [key.publicKeyPem]).ok);

  writeFileSync(join(dir, 'policies', 'redaction.yaml'), 'redaction: {}\nversion: 1\n');
  const v = verifyFileBytes(viaLink, readFileSync(viaLink), [key.publicKeyPem]);
  t.match(v, { ok: false, failure: 'tampered' });
  t.match(!v.ok && v.message, new RegExp(`^${viaLink}: tampered`));

  writeFileSync(join(dir, 'policies', 'extra.yaml'), 'version: 1\n');
  unlinkSync(join(dir, 'stella.yaml'));
  const d = verifyDirectory(dir, [key.publicKeyPem]);
  t.notOk(d.ok);
  const problems = d.ok ? [] : d.problems.map((p) => `${p.failure} ${p.file}`).sort();
  t.same(problems, [`missing ${join(dir, 'stella.yaml')}`, `tampered ${join(dir, 'policies', 'redaction.yaml')}`, `unsigned ${join(dir, 'policies', 'extra.yaml')}`]);

  // The manifest itself edited: refused as tampered, naming the manifest.
  writeFileSync(join(dir, DIR_MANIFEST), readFileSync(join(dir, DIR_MANIFEST), 'utf8').replace('"size":', '"size": '));
  const m2 = readVerifiedFile(join(dir, 'policies', 'extra.yaml'), [key.publicKeyPem]);
  t.match(m2, { ok: false, failure: 'tampered' });
  t.match(!m2.ok && m2.message, DIR_MANIFEST);
});
