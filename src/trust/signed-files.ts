// Signed files and directories: the same offline key pair, Sigstore bundle format (v0.3, a
// messageSignature over the bytes) and offline verification (thresholds 0) as forensic captures
// (src/tee/sign.ts), applied to configs, policy files and anything else that must be the approved bytes.
//
// Two ways a file is covered, checked in this order:
// 1. A bundle beside it: `FILE.sigstore.json` (cosign's `--bundle` naming), signing the file's bytes.
// 2. A signed directory manifest in its directory or an ancestor (up to MAX_MANIFEST_DEPTH levels):
//    `.stella-signed.json`, canonical JSON listing every file below that directory with its SHA-256 and
//    size, and `.stella-signed.json.sigstore.json` beside it signing the manifest's bytes.
//
// Why a manifest for a directory rather than a bundle per file: the manifest binds the set. A
// directory of per-file bundles lets whoever can write to it mix files from different approved
// versions (an old, looser redaction.yaml next to today's allowlists), or delete a file so that a
// default takes over, and each file would still verify. With one signature over the list, every file
// must be the one approved *together with the others*, a listed file that is missing is refused, and a
// deploy signs once. The offline kit's manifest of every file's SHA-256 is the same construct.
//
// Symlinks are resolved before looking for a manifest, so a Kubernetes-style layout (`x.yaml ->
// ..data/x.yaml`, `..data -> ..v3`) finds the manifest of the version directory the bytes came from.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { createKeySigner, keyId, signArtifact, verifyArtifactSignature } from '../tee/sign.js';

/** Suffix of the bundle written beside a signed file. */
export const BUNDLE_SUFFIX = '.sigstore.json';
/** The manifest of a signed directory, at its top. */
export const DIR_MANIFEST = '.stella-signed.json';
export const DIR_MANIFEST_BUNDLE = DIR_MANIFEST + BUNDLE_SUFFIX;
export const MANIFEST_KIND = 'stella.signed-files';
/** How many directories up from a file a manifest is looked for. */
export const MAX_MANIFEST_DEPTH = 4;
/** Files and manifests larger than this are not read for verification (a policy or config is small). */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const MAX_BUNDLE_BYTES = 1024 * 1024;

export interface ManifestEntry {
  /** Relative to the manifest's directory, `/`-separated. */
  path: string;
  sha256: string;
  size: number;
}

export interface DigestManifest {
  kind: typeof MANIFEST_KIND;
  version: 1;
  files: ManifestEntry[];
}

/** Why a file is not trusted: the `reason` of the rejection (all counted as `signature`). */
export type TrustFailure = 'unsigned' | 'tampered' | 'wrong-key' | 'bad-signature' | 'missing';

export type FileVerdict = { ok: true; keyId: string; via: string } | { ok: false; failure: TrustFailure; message: string };

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Canonical JSON (sorted keys, no spaces), so that the same files always give the same manifest bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .filter((k) => obj[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Writes `bytes` to `file` via a temporary file and a rename, so a reader sees the old or the new file. */
export function writeFileAtomic(file: string, bytes: string | Uint8Array, mode = 0o644): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, bytes, { mode });
  renameSync(tmp, file);
}

/** Every regular file below `dir` (symlinks followed, the manifest and its bundle left out), sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string, depth: number): void => {
    if (depth > 16) throw new Error(`${join(dir, sub)}: directories nested more than 16 deep`);
    for (const name of readdirSync(join(dir, sub)).sort()) {
      const rel = sub ? `${sub}/${name}` : name;
      if (!sub && (name === DIR_MANIFEST || name === DIR_MANIFEST_BUNDLE)) continue;
      const st = lstatSync(join(dir, rel));
      const real = st.isSymbolicLink() ? realpathStat(join(dir, rel)) : st;
      if (real.isDirectory()) walk(rel, depth + 1);
      else if (real.isFile()) out.push(rel);
    }
  };
  walk('', 0);
  return out;
}

function realpathStat(path: string) {
  return lstatSync(realpathSync(path));
}

/** The manifest of every file below `dir`. */
export function buildDigestManifest(dir: string): DigestManifest {
  const files = listFiles(dir).map((path) => {
    const bytes = readFileSync(join(dir, path));
    return { path, sha256: sha256Hex(bytes), size: bytes.length };
  });
  return { kind: MANIFEST_KIND, version: 1, files };
}

export function readPrivateKey(path: string): string {
  const pem = readFileSync(path, 'utf8');
  createPrivateKey(pem); // fails early with node's reason
  return pem;
}

export function readPublicKey(path: string): string {
  const pem = readFileSync(path, 'utf8');
  createPublicKey(pem);
  return pem;
}

/** Signs `file`'s bytes and writes `FILE.sigstore.json`; returns the bundle's path. */
export async function signFile(file: string, privateKeyPem: string): Promise<string> {
  const bytes = readFileSync(file);
  const bundle = await signArtifact(bytes, createKeySigner(privateKeyPem));
  const out = file + BUNDLE_SUFFIX;
  writeFileAtomic(out, `${JSON.stringify(bundle, null, 2)}\n`);
  return out;
}

/** Writes `DIR/.stella-signed.json` (every file's digest) and its bundle; returns the manifest. */
export async function signDirectory(dir: string, privateKeyPem: string): Promise<DigestManifest> {
  const manifest = buildDigestManifest(dir);
  const bytes = Buffer.from(`${canonicalJson(manifest)}\n`);
  const bundle = await signArtifact(bytes, createKeySigner(privateKeyPem));
  // The manifest first, then its bundle: a reader between the two sees a manifest whose signature does
  // not match, which is refused (fail closed), never an unsigned manifest taken as signed.
  writeFileAtomic(join(dir, DIR_MANIFEST), bytes);
  writeFileAtomic(join(dir, DIR_MANIFEST_BUNDLE), `${JSON.stringify(bundle, null, 2)}\n`);
  return manifest;
}

/** The key id (hex SHA-256 of the DER SPKI) of a public key PEM. */
export function publicKeyId(publicKeyPem: string): string {
  return keyId(createPublicKey(publicKeyPem));
}

function readSmall(path: string, max: number): Buffer | undefined {
  try {
    const st = lstatSync(path);
    if (!st.isFile() && !st.isSymbolicLink()) return undefined;
    const bytes = readFileSync(path);
    return bytes.length > max ? undefined : bytes;
  } catch {
    return undefined;
  }
}

/**
 * Checks `bytes` (what was read from `what`, named in messages) against a bundle with any of `keys`.
 * The signed digest is compared first, so a changed file is reported as tampered whichever key signed it.
 */
function checkBundle(what: string, bundleFile: string, bytes: Uint8Array, keys: readonly string[]): FileVerdict {
  const raw = readSmall(bundleFile, MAX_BUNDLE_BYTES);
  if (!raw) return { ok: false, failure: 'bad-signature', message: `${what}: cannot read its signature ${bundleFile}` };
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    return { ok: false, failure: 'bad-signature', message: `${what}: its signature ${bundleFile} is not JSON: ${(err as Error).message}` };
  }
  const signed = (json as { messageSignature?: { messageDigest?: { digest?: string } } } | null)?.messageSignature?.messageDigest?.digest;
  const actual = createHash('sha256').update(bytes).digest();
  if (typeof signed === 'string' && !Buffer.from(signed, 'base64').equals(actual)) {
    return {
      ok: false,
      failure: 'tampered',
      message: `${what}: tampered: its sha256 is ${actual.toString('hex')}, the signature ${basename(bundleFile)} covers ${Buffer.from(signed, 'base64').toString('hex')}`,
    };
  }
  let last: FileVerdict | undefined;
  for (const key of keys) {
    const r = verifyArtifactSignature(bytes, json, key);
    if (r.ok) return { ok: true, keyId: r.keyId, via: bundleFile };
    const failure: TrustFailure = r.kind === 'tampered-manifest' ? 'tampered' : r.kind === 'wrong-key' ? 'wrong-key' : 'bad-signature';
    // A signature by another key says less than one that does not verify at all.
    if (!last || failure !== 'wrong-key') last = { ok: false, failure, message: `${what}: ${r.message.replace(/manifest\.json/g, basename(what))} (${basename(bundleFile)})` };
  }
  return last ?? { ok: false, failure: 'bad-signature', message: `${what}: no trusted key to verify it with` };
}

/** The nearest signed manifest above `realFile` (a resolved path), if any. */
function findManifest(realFile: string): string | undefined {
  let dir = dirname(realFile);
  for (let i = 0; i < MAX_MANIFEST_DEPTH; i++) {
    const m = join(dir, DIR_MANIFEST);
    try {
      lstatSync(m);
      return dir;
    } catch {
      /* not here */
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** Reads and verifies the manifest of `dir`; its entries by path, or why not. */
export function verifyManifest(dir: string, keys: readonly string[]): { ok: true; manifest: DigestManifest; keyId: string } | { ok: false; failure: TrustFailure; message: string } {
  const manifestFile = join(dir, DIR_MANIFEST);
  const bytes = readSmall(manifestFile, MAX_MANIFEST_BYTES);
  if (!bytes) return { ok: false, failure: 'bad-signature', message: `${manifestFile}: cannot read the signed manifest` };
  const sig = checkBundle(manifestFile, join(dir, DIR_MANIFEST_BUNDLE), bytes, keys);
  if (!sig.ok) return sig;
  let manifest: DigestManifest;
  try {
    manifest = JSON.parse(bytes.toString('utf8')) as DigestManifest;
    if (manifest.kind !== MANIFEST_KIND || !Array.isArray(manifest.files)) throw new Error(`not a ${MANIFEST_KIND} manifest`);
  } catch (err) {
    return { ok: false, failure: 'bad-signature', message: `${manifestFile}: ${(err as Error).message}` };
  }
  return { ok: true, manifest, keyId: sig.keyId };
}

/**
 * Is `bytes`, read from `file`, the signed content of that file? By its own bundle, else by the nearest
 * signed directory manifest. Never throws. Messages start with the file's path and say the reason.
 */
export function verifyFileBytes(file: string, bytes: Uint8Array, keys: readonly string[]): FileVerdict {
  if (keys.length === 0) return { ok: false, failure: 'bad-signature', message: `${file}: no trusted key to verify it with` };
  const beside = file + BUNDLE_SUFFIX;
  if (readSmall(beside, MAX_BUNDLE_BYTES) !== undefined) return checkBundle(file, beside, bytes, keys);
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    real = file;
  }
  if (real !== file && readSmall(real + BUNDLE_SUFFIX, MAX_BUNDLE_BYTES) !== undefined) return checkBundle(file, real + BUNDLE_SUFFIX, bytes, keys);
  const dir = findManifest(real);
  if (dir === undefined) {
    return { ok: false, failure: 'unsigned', message: `${file}: unsigned: no ${basename(file)}${BUNDLE_SUFFIX} beside it and no signed ${DIR_MANIFEST} above it (sign it with "stella telemetry config sign")` };
  }
  const m = verifyManifest(dir, keys);
  if (!m.ok) return { ok: false, failure: m.failure, message: `${file}: ${m.message}` };
  const rel = relative(dir, real).split(sep).join('/');
  const entry = m.manifest.files.find((f) => f.path === rel);
  if (!entry) return { ok: false, failure: 'unsigned', message: `${file}: unsigned: not listed in the signed manifest ${join(dir, DIR_MANIFEST)}` };
  const sha = sha256Hex(bytes);
  if (entry.sha256 !== sha || entry.size !== bytes.length) {
    return { ok: false, failure: 'tampered', message: `${file}: tampered: its sha256 is ${sha} (${bytes.length} bytes), the signed manifest ${join(dir, DIR_MANIFEST)} says ${entry.sha256} (${entry.size} bytes)` };
  }
  return { ok: true, keyId: m.keyId, via: join(dir, DIR_MANIFEST) };
}

/** Reads `file` and verifies it (see verifyFileBytes); the bytes are returned so the caller parses what was checked. */
export function readVerifiedFile(file: string, keys: readonly string[]): { ok: true; bytes: Buffer; keyId: string } | { ok: false; failure: TrustFailure; message: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return { ok: false, failure: 'missing', message: `${file}: cannot read: ${(err as Error).message}` };
  }
  const v = verifyFileBytes(file, bytes, keys);
  return v.ok ? { ok: true, bytes, keyId: v.keyId } : v;
}

/**
 * Every problem with a signed directory: each listed file present with its digest, nothing unlisted.
 * Empty when the whole directory is the signed set.
 */
export function verifyDirectory(dir: string, keys: readonly string[]): { ok: true; keyId: string; files: number } | { ok: false; problems: { file: string; failure: TrustFailure; message: string }[] } {
  const m = verifyManifest(dir, keys);
  if (!m.ok) return { ok: false, problems: [{ file: join(dir, DIR_MANIFEST), failure: m.failure, message: m.message }] };
  const problems: { file: string; failure: TrustFailure; message: string }[] = [];
  const listed = new Set<string>();
  for (const e of m.manifest.files) {
    listed.add(e.path);
    const file = join(dir, e.path);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      problems.push({ file, failure: 'missing', message: `${file}: missing (listed in the signed manifest)` });
      continue;
    }
    const sha = sha256Hex(bytes);
    if (sha !== e.sha256 || bytes.length !== e.size) problems.push({ file, failure: 'tampered', message: `${file}: tampered: its sha256 is ${sha} (${bytes.length} bytes), the signed manifest says ${e.sha256} (${e.size} bytes)` });
  }
  for (const rel of listFiles(dir)) {
    if (!listed.has(rel)) problems.push({ file: join(dir, rel), failure: 'unsigned', message: `${join(dir, rel)}: unsigned: not listed in the signed manifest` });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, keyId: m.keyId, files: m.manifest.files.length };
}

/** Is `name` (a relative path in a manifest's directory) listed in the signed manifest above `dir`? For "missing" checks. */
export function listedInManifest(file: string, keys: readonly string[]): boolean {
  let real: string;
  try {
    real = join(realpathSync(dirname(file)), basename(file));
  } catch {
    return false;
  }
  const dir = findManifest(real);
  if (dir === undefined) return false;
  const m = verifyManifest(dir, keys);
  if (!m.ok) return false;
  const rel = relative(dir, real).split(sep).join('/');
  return m.manifest.files.some((f) => f.path === rel);
}
