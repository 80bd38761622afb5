// The forensic bundle: one tar holding, in this order, manifest.json, manifest.sigstore.json (a Sigstore
// bundle over the manifest bytes) and chunks/<tier>/<segment name> (each a segment file holding the
// selected records, in archive order). Fixed order, modes and times: see tar.ts.
import { writeTar, type TarEntry } from './tar.js';

export const MANIFEST_NAME = 'manifest.json';
export const SIGNATURE_NAME = 'manifest.sigstore.json';
export const CHUNKS_DIR = 'chunks/';

export interface BundleParts {
  manifest: Uint8Array;
  signature: Uint8Array;
  /** Chunks in manifest order. */
  chunks: TarEntry[];
}

export function assembleBundle(parts: BundleParts): Buffer {
  return writeTar([{ name: MANIFEST_NAME, data: parts.manifest }, { name: SIGNATURE_NAME, data: parts.signature }, ...parts.chunks]);
}
