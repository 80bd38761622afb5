// Offline verification of a forensic bundle with one public key: the signature over manifest.json,
// then every chunk the manifest lists (present, same size, same SHA-256), then nothing extra. Every
// failure is reported with its own kind and message, so an operator sees exactly what was altered.
// verifyBundle checks bytes in memory (replay needs the chunks); verifyBundleFile streams a file, holding
// only the manifest and the signature, so a bundle larger than memory verifies too.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { IO_CHUNK, MANIFEST_NAME, SIGNATURE_NAME } from './bundle.js';
import { parseManifest, type Manifest } from './manifest.js';
import { openSignedManifest } from './signed-manifest.js';
import { nextTarHeader, parseTarHeader, readTar, TAR_BLOCK } from './tar.js';

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

/** What the checks need of one tar entry: its bytes when small (manifest, signature), else its size and hash. */
interface Entry {
  name: string;
  size: number;
  sha256(): string;
  data?: Uint8Array;
}

/** Verifies a bundle held in memory; `chunks` are views into `tar`. */
export function verifyBundle(tar: Uint8Array, publicKeyPem: string): BundleVerification {
  const read = readTar(tar);
  if (!read.ok) return { ok: false, failures: [{ kind: 'not-a-bundle', message: `not a bundle: ${read.reason}` }] };
  const entries = read.entries.map((e) => ({ name: e.name, size: e.data.length, data: e.data, sha256: () => createHash('sha256').update(e.data).digest('hex') }));
  return checkEntries(entries, publicKeyPem);
}

/** The manifest and signature are read into memory up to this size; larger is not a bundle this gateway wrote. */
const MAX_HELD_ENTRY = 256 * 1024 * 1024;

/**
 * Verifies a bundle file by streaming it (IO_CHUNK at a time): chunks are hashed, not held, so `chunks`
 * in the result is empty. Memory: the manifest, the signature and one IO_CHUNK buffer.
 */
export function verifyBundleFile(path: string, publicKeyPem: string): BundleVerification {
  const read = scanTarFile(path);
  if (!read.ok) return { ok: false, failures: [{ kind: 'not-a-bundle', message: `not a bundle: ${read.reason}` }] };
  const result = checkEntries(read.entries, publicKeyPem);
  return result.ok ? { ...result, chunks: new Map() } : result;
}

function scanTarFile(path: string): { ok: true; entries: Entry[] } | { ok: false; reason: string } {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(IO_CHUNK);
    const readFully = (into: Buffer, length: number, position: number): number => {
      let got = 0;
      while (got < length) {
        const n = readSync(fd, into, got, length - got, position + got);
        if (n === 0) break;
        got += n;
      }
      return got;
    };
    const entries: Entry[] = [];
    const header = Buffer.alloc(TAR_BLOCK);
    let at = 0;
    for (;;) {
      if (readFully(header, TAR_BLOCK, at) < TAR_BLOCK) return { ok: false, reason: 'tar archive ends without its end-of-archive blocks' };
      const h = parseTarHeader(header, at);
      if (h.kind === 'end') return { ok: true, entries };
      if (h.kind === 'bad') return { ok: false, reason: h.reason };
      const held = h.name === MANIFEST_NAME || h.name === SIGNATURE_NAME;
      if (held && h.size > MAX_HELD_ENTRY) return { ok: false, reason: `${h.name} is ${h.size} bytes (at most ${MAX_HELD_ENTRY})` };
      const hash = createHash('sha256');
      const data = held ? Buffer.alloc(h.size) : undefined;
      for (let done = 0; done < h.size; ) {
        const want = Math.min(IO_CHUNK, h.size - done);
        const got = readFully(buf, want, at + TAR_BLOCK + done);
        if (got < want) return { ok: false, reason: `truncated tar entry ${h.name}` };
        const piece = buf.subarray(0, got);
        hash.update(piece);
        data?.set(piece, done);
        done += got;
      }
      const sha256 = hash.digest('hex');
      entries.push({ name: h.name, size: h.size, sha256: () => sha256, ...(data && { data }) });
      at = nextTarHeader(at, h.size);
    }
  } finally {
    closeSync(fd);
  }
}

function checkEntries(entries: Entry[], publicKeyPem: string): BundleVerification {
  const opened = openSignedManifest<Entry>(entries, { manifest: MANIFEST_NAME, signature: SIGNATURE_NAME }, publicKeyPem);
  const { files, signed } = opened;
  const failures: BundleFailure[] = opened.failures;
  // Without a verified signature the manifest cannot be trusted to list the chunks; stop here.
  if (!signed) return { ok: false, failures };
  const parsed = parseManifest(signed.manifest);
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
    const sha = e.sha256();
    if (sha !== c.sha256 || e.size !== c.size) {
      failures.push({
        kind: 'tampered-chunk',
        path: c.path,
        message: `tampered chunk: ${c.path} has sha256 ${sha} (${e.size} bytes), the manifest says ${c.sha256} (${c.size} bytes)`,
      });
      continue;
    }
    if (e.data) chunks.set(c.path, e.data);
  }
  for (const name of files.keys()) {
    if (!listed.has(name)) failures.push({ kind: 'extra-file', path: name, message: `extra file: ${name} (not listed in the manifest)` });
  }
  if (failures.length > 0) return { ok: false, failures };
  return {
    ok: true,
    manifest: parsed.manifest,
    manifestSha256: createHash('sha256').update(signed.manifest).digest('hex'),
    keyId: signed.keyId,
    chunks,
  };
}
