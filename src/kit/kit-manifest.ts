// The kit's manifest: canonical JSON (DESIGN.md decision 8) listing every other file of the kit with
// its SHA-256 and size, signed as a Sigstore bundle beside it (kit-manifest.sigstore.json). It holds no
// wall-clock time, so the same checkout and key give the same manifest.
import { canonicalJson } from '../tee/manifest.js';
import { unsafeKitPath } from './kit-tar.js';

export const KIT_MANIFEST_FORMAT = 'stella.kit.manifest/v1';
export const KIT_MANIFEST_NAME = 'kit-manifest.json';
export const KIT_SIGNATURE_NAME = 'kit-manifest.sigstore.json';
/** Bounds the parser applies (after the signature verified; they guard against our own bugs). */
export const MAX_KIT_FILES = 10_000;

export interface KitFile {
  path: string;
  sha256: string;
  size: number;
}

export interface KitManifest {
  format: string;
  gateway: {
    name: string;
    version: string;
    /** The commit it was built from ("unknown" outside a git checkout without STELLA_COMMIT). */
    commit: string;
    /** The npm package in the kit, and how many production dependencies it bundles. */
    package: string;
    bundledDependencies: number;
  };
  /** The key id (hex SHA-256 of the DER public key) of the signer, recorded for the checklist. */
  signerKeyId: string;
  files: KitFile[];
  totals: { files: number; bytes: number };
}

export function buildKitManifest(input: Omit<KitManifest, 'format' | 'files' | 'totals'>, files: KitFile[]): KitManifest {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { format: KIT_MANIFEST_FORMAT, ...input, files: sorted, totals: { files: sorted.length, bytes: sorted.reduce((n, f) => n + f.size, 0) } };
}

export function encodeKitManifest(m: KitManifest): Buffer {
  return Buffer.from(canonicalJson(m));
}

/** Parses and checks a manifest's shape, naming the first thing wrong. */
export function parseKitManifest(bytes: Uint8Array): { ok: true; manifest: KitManifest } | { ok: false; reason: string } {
  let m: KitManifest;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as KitManifest;
  } catch (err) {
    return { ok: false, reason: `${KIT_MANIFEST_NAME} is not JSON: ${(err as Error).message}` };
  }
  if (m?.format !== KIT_MANIFEST_FORMAT) return { ok: false, reason: `${KIT_MANIFEST_NAME}: expected format ${KIT_MANIFEST_FORMAT}` };
  if (typeof m.gateway?.version !== 'string' || typeof m.gateway.package !== 'string') return { ok: false, reason: `${KIT_MANIFEST_NAME}: gateway.version and gateway.package are required` };
  if (!Array.isArray(m.files) || m.files.length > MAX_KIT_FILES) return { ok: false, reason: `${KIT_MANIFEST_NAME}: files must be a list of at most ${MAX_KIT_FILES}` };
  const seen = new Set<string>();
  for (const [i, f] of m.files.entries()) {
    const where = `${KIT_MANIFEST_NAME}: files[${i}]`;
    if (typeof f?.path !== 'string' || typeof f.sha256 !== 'string' || !Number.isSafeInteger(f.size) || f.size < 0) return { ok: false, reason: `${where}: expected path, sha256 and size` };
    const unsafe = unsafeKitPath(f.path);
    if (unsafe) return { ok: false, reason: `${where}: ${JSON.stringify(f.path)} is refused: ${unsafe}` };
    if (!/^[0-9a-f]{64}$/.test(f.sha256)) return { ok: false, reason: `${where}: sha256 must be 64 hex digits` };
    if (f.path === KIT_MANIFEST_NAME || f.path === KIT_SIGNATURE_NAME || seen.has(f.path)) return { ok: false, reason: `${where}: ${f.path} listed twice` };
    seen.add(f.path);
  }
  return { ok: true, manifest: m };
}
