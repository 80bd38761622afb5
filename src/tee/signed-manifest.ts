// The first step of verifying a signed tar (a forensic bundle, tee/verify-bundle.ts; the offline kit,
// kit/kit-verify.ts): index the entries by name, find the manifest and its signature, and check the
// signature over the manifest's bytes. Only a manifest that passes may be trusted to list the rest.
import { verifyArtifactSignature, type SignatureCheck } from './sign.js';

/** What this step needs of a tar entry: its name, and its bytes when it is small enough to hold. */
export interface NamedEntry {
  name: string;
  data?: Uint8Array;
}

export interface SignedManifestFailure {
  kind: 'missing-file' | 'extra-file' | 'bad-signature-file' | Extract<SignatureCheck, { ok: false }>['kind'];
  path: string;
  message: string;
}

export interface SignedManifest<E extends NamedEntry> {
  /** Every entry by name (the first of a duplicated name; the duplicate is a failure). */
  files: Map<string, E>;
  failures: SignedManifestFailure[];
  /** Set when the signature verified: the manifest's bytes, to be parsed and followed. */
  signed?: { manifest: Uint8Array; keyId: string };
}

export function openSignedManifest<E extends NamedEntry>(entries: E[], names: { manifest: string; signature: string }, publicKeyPem: string): SignedManifest<E> {
  const failures: SignedManifestFailure[] = [];
  const files = new Map<string, E>();
  for (const e of entries) {
    if (files.has(e.name)) failures.push({ kind: 'extra-file', path: e.name, message: `extra file: ${e.name} appears twice` });
    else files.set(e.name, e);
  }
  const manifestEntry = files.get(names.manifest);
  const signatureEntry = files.get(names.signature);
  if (!manifestEntry) failures.push({ kind: 'missing-file', path: names.manifest, message: `missing file: ${names.manifest}` });
  if (!signatureEntry) failures.push({ kind: 'missing-file', path: names.signature, message: `missing file: ${names.signature}` });
  if (!manifestEntry?.data || !signatureEntry?.data) return { files, failures };

  let bundleJson: unknown;
  try {
    bundleJson = JSON.parse(Buffer.from(signatureEntry.data).toString('utf8'));
  } catch (err) {
    failures.push({ kind: 'bad-signature-file', path: names.signature, message: `${names.signature} is not JSON: ${(err as Error).message}` });
    return { files, failures };
  }
  const sig = verifyArtifactSignature(manifestEntry.data, bundleJson, publicKeyPem);
  if (!sig.ok) {
    const path = sig.kind === 'tampered-manifest' ? names.manifest : names.signature;
    failures.push({ kind: sig.kind, path, message: sig.message.replace('manifest.json', names.manifest) });
    return { files, failures };
  }
  return { files, failures, signed: { manifest: manifestEntry.data, keyId: sig.keyId } };
}
