// Offline verification of a forensic bundle with one public key: the signature over manifest.json,
// then every chunk the manifest lists (present, same size, same SHA-256), then nothing extra. Every
// failure is reported with its own kind and message, so an operator sees exactly what was altered.
import { createHash } from 'node:crypto';
import { MANIFEST_NAME, SIGNATURE_NAME } from './bundle.js';
import { parseManifest, type Manifest } from './manifest.js';
import { verifyArtifactSignature } from './sign.js';
import { readTar, type TarEntry } from './tar.js';

export type BundleFailureKind =
  | 'not-a-bundle'
  | 'missing-file'
  | 'extra-file'
  | 'bad-signature-file'
  | 'tampered-manifest'
  | 'wrong-key'
  | 'bad-signature'
  | 'tampered-chunk';

export interface BundleFailure {
  kind: BundleFailureKind;
  /** The file in the bundle it concerns, when one. */
  path?: string;
  message: string;
}

export type BundleVerification =
  | { ok: true; manifest: Manifest; manifestSha256: string; keyId: string; chunks: Map<string, Uint8Array> }
  | { ok: false; failures: BundleFailure[] };

export function verifyBundle(tar: Uint8Array, publicKeyPem: string): BundleVerification {
  const read = readTar(tar);
  if (!read.ok) return { ok: false, failures: [{ kind: 'not-a-bundle', message: `not a bundle: ${read.reason}` }] };
  const failures: BundleFailure[] = [];
  const files = new Map<string, TarEntry>();
  for (const e of read.entries) {
    if (files.has(e.name)) failures.push({ kind: 'extra-file', path: e.name, message: `extra file: ${e.name} appears twice` });
    files.set(e.name, e);
  }
  const manifestEntry = files.get(MANIFEST_NAME);
  const signatureEntry = files.get(SIGNATURE_NAME);
  if (!manifestEntry) failures.push({ kind: 'missing-file', path: MANIFEST_NAME, message: `missing file: ${MANIFEST_NAME}` });
  if (!signatureEntry) failures.push({ kind: 'missing-file', path: SIGNATURE_NAME, message: `missing file: ${SIGNATURE_NAME}` });
  if (!manifestEntry || !signatureEntry) return { ok: false, failures };

  let bundleJson: unknown;
  try {
    bundleJson = JSON.parse(Buffer.from(signatureEntry.data).toString('utf8'));
  } catch (err) {
    failures.push({ kind: 'bad-signature-file', path: SIGNATURE_NAME, message: `${SIGNATURE_NAME} is not JSON: ${(err as Error).message}` });
    return { ok: false, failures };
  }
  const sig = verifyArtifactSignature(manifestEntry.data, bundleJson, publicKeyPem);
  if (!sig.ok) {
    failures.push({ kind: sig.kind, path: sig.kind === 'tampered-manifest' ? MANIFEST_NAME : SIGNATURE_NAME, message: sig.message });
    // An unsigned manifest cannot be trusted to list the chunks; stop here.
    return { ok: false, failures };
  }
  const parsed = parseManifest(manifestEntry.data);
  if (!parsed.ok) {
    failures.push({ kind: 'tampered-manifest', path: MANIFEST_NAME, message: parsed.reason });
    return { ok: false, failures };
  }
  const listed = new Set<string>([MANIFEST_NAME, SIGNATURE_NAME]);
  const chunks = new Map<string, Uint8Array>();
  for (const c of parsed.manifest.chunks) {
    listed.add(c.path);
    const e = files.get(c.path);
    if (!e) {
      failures.push({ kind: 'missing-file', path: c.path, message: `missing file: ${c.path} (listed in the manifest)` });
      continue;
    }
    const sha = createHash('sha256').update(e.data).digest('hex');
    if (sha !== c.sha256 || e.data.length !== c.size) {
      failures.push({
        kind: 'tampered-chunk',
        path: c.path,
        message: `tampered chunk: ${c.path} has sha256 ${sha} (${e.data.length} bytes), the manifest says ${c.sha256} (${c.size} bytes)`,
      });
      continue;
    }
    chunks.set(c.path, e.data);
  }
  for (const name of files.keys()) {
    if (!listed.has(name)) failures.push({ kind: 'extra-file', path: name, message: `extra file: ${name} (not listed in the manifest)` });
  }
  if (failures.length > 0) return { ok: false, failures };
  return {
    ok: true,
    manifest: parsed.manifest,
    manifestSha256: createHash('sha256').update(manifestEntry.data).digest('hex'),
    keyId: sig.keyId,
    chunks,
  };
}
