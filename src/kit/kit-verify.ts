// `kit verify`: checks a kit offline with the signer's public key alone, in the order that keeps an
// attacker's file from being trusted: the tar is read within bounds (kit-tar.ts: regular files with
// safe names only), then the Sigstore signature over kit-manifest.json, then every listed file
// (present, same size and SHA-256), then nothing unlisted. Each failure names its file.
import { createHash } from 'node:crypto';
import { openSignedManifest } from '../tee/signed-manifest.js';
import { KIT_MANIFEST_NAME, KIT_SIGNATURE_NAME, parseKitManifest, type KitManifest } from './kit-manifest.js';
import { KIT_TAR_LIMITS, scanKitTar, type KitTarLimits, type ScannedEntry } from './kit-tar.js';

export type KitFailureKind =
  | 'not-a-kit'
  | 'refused-entry'
  | 'missing-file'
  | 'extra-file'
  | 'bad-signature-file'
  | 'tampered-manifest'
  | 'wrong-key'
  | 'bad-signature'
  | 'tampered-file';

export interface KitFailure {
  kind: KitFailureKind;
  /** The file of the kit it concerns, when one. */
  path?: string;
  message: string;
}

export type KitVerification =
  | { ok: true; manifest: KitManifest; manifestSha256: string; keyId: string }
  | { ok: false; failures: KitFailure[] };

const HELD = new Set([KIT_MANIFEST_NAME, KIT_SIGNATURE_NAME]);

export function verifyKitFile(path: string, publicKeyPem: string, limits: KitTarLimits = KIT_TAR_LIMITS): KitVerification {
  const scan = scanKitTar(path, HELD, limits);
  if (!scan.ok) {
    const refused = scan.path !== undefined;
    return { ok: false, failures: [{ kind: refused ? 'refused-entry' : 'not-a-kit', ...(refused && { path: scan.path }), message: `${refused ? 'refused entry' : 'not a kit'}: ${scan.reason}` }] };
  }
  return checkEntries(scan.entries, publicKeyPem);
}

function checkEntries(entries: ScannedEntry[], publicKeyPem: string): KitVerification {
  const opened = openSignedManifest(entries, { manifest: KIT_MANIFEST_NAME, signature: KIT_SIGNATURE_NAME }, publicKeyPem);
  const { files, signed } = opened;
  const failures: KitFailure[] = opened.failures;
  // Without a verified signature the manifest cannot be trusted to list the files; stop here.
  if (!signed) return { ok: false, failures };
  const parsed = parseKitManifest(signed.manifest);
  if (!parsed.ok) {
    failures.push({ kind: 'tampered-manifest', path: KIT_MANIFEST_NAME, message: parsed.reason });
    return { ok: false, failures };
  }
  const listed = new Set<string>(HELD);
  for (const f of parsed.manifest.files) {
    listed.add(f.path);
    const e = files.get(f.path);
    if (!e) {
      failures.push({ kind: 'missing-file', path: f.path, message: `missing file: ${f.path} (listed in ${KIT_MANIFEST_NAME})` });
    } else if (e.sha256 !== f.sha256 || e.size !== f.size) {
      failures.push({ kind: 'tampered-file', path: f.path, message: `tampered file: ${f.path} has sha256 ${e.sha256} (${e.size} bytes), the manifest says ${f.sha256} (${f.size} bytes)` });
    }
  }
  for (const name of files.keys()) {
    if (!listed.has(name)) failures.push({ kind: 'extra-file', path: name, message: `extra file: ${name} (not listed in ${KIT_MANIFEST_NAME})` });
  }
  if (failures.length > 0) return { ok: false, failures };
  return { ok: true, manifest: parsed.manifest, manifestSha256: createHash('sha256').update(signed.manifest).digest('hex'), keyId: signed.keyId };
}
