// The forensic signer from the outside: real captures, unpacked with the system's tar and verified with
// sigstore-js (@sigstore/verify, as a third party would, key looked up by the bundle's hint) rather than
// with this project's verify; the RFC 6979 test vectors; and bundles written by the first signer
// (Sigstore bundle v0.2, test/fixtures/forensic-bundle-v0.2) still verify, with the same signature bytes;
// a certificate signer (keyless without the network) gets a v0.3 bundle with one certificate.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, createVerify, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { p256 } from '@noble/curves/nist.js';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { packageRoot } from '../../src/paths.js';
import { captureWindow } from '../../src/tee/capture.js';
import type { Signer } from '@sigstore/sign';
import { issueCa, issueLeaf, validityFor } from '../../src/cli/commands/certs-init.js';
import { createKeySigner, keyId, signArtifact, signDeterministic, verifyArtifactSignature } from '../../src/tee/sign.js';
import { verifyBundle, verifyBundleFile } from '../../src/tee/verify-bundle.js';
import { bundlePath, makeArchive, T0, WINDOW } from './bundle-archive.js';

const FIXTURE = join(packageRoot, 'test', 'fixtures', 'forensic-bundle-v0.2');
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** A P-256 private key from its scalar (the public point computed by noble). */
function keyFromScalar(d: Buffer): { privateKey: KeyObject; privateKeyPem: string; publicKey: KeyObject } {
  const pub = p256.getPublicKey(d, false);
  const jwk = { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: Buffer.from(pub.subarray(1, 33)).toString('base64url'), y: Buffer.from(pub.subarray(33)).toString('base64url') };
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  return { privateKey, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: createPublicKey(privateKey) };
}

/** (r, s) of a DER ECDSA signature that node's crypto verifies. */
function rs(der: Buffer, publicKey: KeyObject, data: Buffer): { r: bigint; s: bigint } {
  const v = createVerify('sha256').update(data);
  if (!v.verify(publicKey, der)) throw new Error('signature does not verify');
  // 0x30 len 0x02 rlen r 0x02 slen s
  const rLen = der[3]!;
  const r = BigInt(`0x${der.subarray(4, 4 + rLen).toString('hex')}`);
  const sLen = der[5 + rLen]!;
  const s = BigInt(`0x${der.subarray(6 + rLen, 6 + rLen + sLen).toString('hex')}`);
  return { r, s };
}

/** Unpacks a bundle with the system's tar (GNU tar or bsdtar): a third party's view of the file. */
function untar(file: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stella-untar-'));
  const r = spawnSync('tar', ['-xf', file, '-C', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -xf ${file}: ${r.stderr}`);
  return dir;
}

/** Verifies manifest.json against manifest.sigstore.json with sigstore-js, offline, trusting `publicKey` under its hint. */
function sigstoreVerify(dir: string, publicKey: KeyObject, trustedHint: string): void {
  const bundle = bundleFromJSON(JSON.parse(readFileSync(join(dir, 'manifest.sigstore.json'), 'utf8')));
  const root = { mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] } as unknown as Parameters<typeof toTrustMaterial>[0];
  const keys = {
    [trustedHint]: { rawBytes: publicKey.export({ type: 'spki', format: 'der' }), keyDetails: 5 /* PKIX_ECDSA_P256_SHA_256 */, validFor: { start: new Date(0) } },
  } as unknown as Parameters<typeof toTrustMaterial>[1];
  // No transparency log, no timestamp authority: an offline key-based bundle, so every threshold is 0.
  new Verifier(toTrustMaterial(root, keys), { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle, readFileSync(join(dir, 'manifest.json'))));
}

t.test('RFC 6979 A.2.5 (P-256, SHA-256): the published nonce gives the published r, and s in its low half', async (t) => {
  const { privateKey, publicKey } = keyFromScalar(Buffer.from('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721', 'hex'));
  const vectors = [
    { msg: 'sample', r: 0xefd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716n, s: 0xf7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8n },
    { msg: 'test', r: 0xf1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367n, s: 0x019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083n },
  ];
  for (const v of vectors) {
    const data = Buffer.from(v.msg);
    const sig = signDeterministic(data, privateKey);
    const got = rs(sig, publicKey, data);
    t.equal(got.r, v.r, `${v.msg}: r`);
    t.equal(got.s, v.s > N / 2n ? N - v.s : v.s, `${v.msg}: s (low half)`);
    t.ok(got.s <= N / 2n, `${v.msg}: low S`);
    t.ok(signDeterministic(data, privateKey).equals(sig), `${v.msg}: deterministic`);
  }
});

t.test('a capture is a Sigstore bundle v0.3 that sigstore-js verifies with the public key alone', async (t) => {
  const archive = makeArchive();
  t.teardown(() => rmSync(archive.dataDir, { recursive: true, force: true }));
  const r = await captureWindow({ root: archive.root, tenant: 'acme', ...WINDOW, signals: ['traces', 'metrics', 'logs'], profile: 'forensic', signer: createKeySigner(archive.keys.privateKeyPem), now: () => T0, out: bundlePath(archive.dataDir) });
  const dir = untar(r.path);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const publicKey = createPublicKey(archive.keys.publicKeyPem);
  const json = JSON.parse(readFileSync(join(dir, 'manifest.sigstore.json'), 'utf8'));
  const manifest = readFileSync(join(dir, 'manifest.json'));
  t.equal(json.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  t.same(json.messageSignature.messageDigest, { algorithm: 'SHA2_256', digest: createHash('sha256').update(manifest).digest('base64') }, 'the artifact digest');
  t.same(json.verificationMaterial.publicKey, { hint: keyId(publicKey) }, 'a key-based bundle: the hint names the key');
  t.notOk(json.verificationMaterial.x509CertificateChain ?? json.verificationMaterial.certificate, 'no certificate');
  t.doesNotThrow(() => sigstoreVerify(dir, publicKey, keyId(publicKey)), 'sigstore-js verifies the manifest');
  // The manifest lists the unpacked chunks by SHA-256 (checked here without the project's verify).
  const m = JSON.parse(manifest.toString('utf8')) as { chunks: { path: string; sha256: string }[] };
  t.ok(m.chunks.length > 0);
  for (const c of m.chunks) t.equal(createHash('sha256').update(readFileSync(join(dir, c.path))).digest('hex'), c.sha256, c.path);
  const listed = new Set(['manifest.json', 'manifest.sigstore.json', ...m.chunks.map((c) => c.path)]);
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
  t.same(files.sort(), [...listed].sort(), 'nothing unlisted');

  // sigstore-js refuses another key under the same hint, and a manifest changed by one byte.
  const other = createPublicKey(archive.otherKeys.publicKeyPem);
  t.throws(() => sigstoreVerify(dir, other, keyId(publicKey)), 'another key fails');
  t.throws(() => sigstoreVerify(dir, publicKey, keyId(other)), 'the hint names a key the verifier does not trust');
  const edited = Buffer.from(manifest);
  edited[10] = edited[10]! ^ 1;
  writeFileSync(join(dir, 'manifest.json'), edited);
  t.throws(() => sigstoreVerify(dir, publicKey, keyId(publicKey)), 'a manifest changed by one bit fails');
});

t.test('bundles written by the first signer (v0.2) still verify; today the same key gives the same signature', async (t) => {
  const fixtureTar = readFileSync(join(FIXTURE, 'capture.tar'));
  const publicKeyPem = readFileSync(join(FIXTURE, 'signing-key.pub.pem'), 'utf8');
  const old = verifyBundle(fixtureTar, publicKeyPem);
  t.ok(old.ok, `stella verify: ${JSON.stringify(!old.ok && old.failures)}`);
  t.ok(verifyBundleFile(join(FIXTURE, 'capture.tar'), publicKeyPem).ok, 'also streamed from the file (stella telemetry verify)');
  const dir = untar(join(FIXTURE, 'capture.tar'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const oldJson = JSON.parse(readFileSync(join(dir, 'manifest.sigstore.json'), 'utf8'));
  t.equal(oldJson.mediaType, 'application/vnd.dev.sigstore.bundle+json;version=0.2', 'the fixture is the old format');
  t.doesNotThrow(() => sigstoreVerify(dir, createPublicKey(publicKeyPem), keyId(createPublicKey(publicKeyPem))), 'sigstore-js verifies the old bundle too');

  // The fixture's key (README there) captures the same archive again: same manifest, same ECDSA signature.
  const key = keyFromScalar(createHash('sha256').update('stella forensic fixture key (test only)').digest());
  t.equal(key.publicKey.export({ type: 'spki', format: 'pem' }), publicKeyPem, 'the fixture key is rebuilt');
  const archive = makeArchive();
  t.teardown(() => rmSync(archive.dataDir, { recursive: true, force: true }));
  const r = await captureWindow({ root: archive.root, tenant: 'acme', ...WINDOW, signals: ['traces', 'metrics', 'logs'], profile: 'forensic', signer: createKeySigner(key.privateKeyPem), now: () => T0, out: bundlePath(archive.dataDir) });
  t.ok(r.manifestBytes.equals(readFileSync(join(dir, 'manifest.json'))), 'same manifest bytes');
  const newDir = untar(r.path);
  t.teardown(() => rmSync(newDir, { recursive: true, force: true }));
  const newJson = JSON.parse(readFileSync(join(newDir, 'manifest.sigstore.json'), 'utf8'));
  t.equal(newJson.messageSignature.signature, oldJson.messageSignature.signature, 'the library signs byte for byte as the hand-written code did');
  t.equal(newJson.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json', 'only the media type changed');
  t.ok(verifyBundle(readFileSync(r.path), publicKeyPem).ok);
});

t.test('a certificate signer (the keyless path, without Fulcio) gets a v0.3 bundle with one certificate, which verify --key declines', async (t) => {
  const ca = await issueCa('Signer test CA', validityFor(1));
  const leaf = await issueLeaf(ca, { commonName: 'ci@example.com', usage: 'client', uris: ['https://example.com/ci'], validity: validityFor(1) });
  const signer: Signer = {
    sign: async (data: Buffer) => ({ signature: sign('sha256', data, leaf.keyPem), key: { $case: 'x509Certificate', certificate: leaf.certPem } }),
  };
  const manifest = Buffer.from('{"manifest":true}\n');
  const json = (await signArtifact(manifest, signer)) as unknown as Record<string, any>;
  t.equal(json.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  t.equal(json.verificationMaterial.certificate.rawBytes, Buffer.from(leaf.cert.rawData).toString('base64'), 'the leaf certificate, DER');
  t.notOk(json.verificationMaterial.x509CertificateChain, 'v0.3 has no certificate chain');
  t.equal(json.messageSignature.messageDigest.digest, createHash('sha256').update(manifest).digest('base64'));
  t.ok(createVerify('sha256').update(manifest).verify(leaf.certPem, Buffer.from(json.messageSignature.signature, 'base64')), 'the signature is over the manifest');
  t.match(verifyArtifactSignature(manifest, json, readFileSync(join(FIXTURE, 'signing-key.pub.pem'), 'utf8')), { ok: false, kind: 'bad-signature-file', message: /signed keyless/ });
});
