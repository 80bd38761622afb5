// A gateway's deployed configuration as versions and one symlink, so a running gateway never reads a
// half-written set (the layout Kubernetes' AtomicWriter gives ConfigMap volumes):
//
//   DIR/.versions/0003-9f2a1c3b4d5e/   one complete copy per deploy: the config file, policies/, and
//                                      (with a key) .stella-signed.json + its Sigstore bundle
//   DIR/current -> .versions/0003-…    the swap: a new symlink renamed over the old one (atomic)
//   DIR/stella.yaml -> current/stella.yaml,  DIR/policies -> current/policies   (made once)
//
// The gateway runs with `--config DIR/stella.yaml` and `policiesDir: DIR/policies`: every read goes
// through `current`, so it sees the old set or the new one. Its policy watcher follows the swap (it
// watches the symlinks on the way, src/policy/watch-path.ts). A version is written completely (files
// fsync'd) under a temporary name and renamed into .versions before `current` moves. Versions are
// numbered; `rollback` points `current` at the newest version older than it; old versions beyond
// `keep` are pruned (never the current one).
import { closeSync, cpSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildDigestManifest, canonicalJson, DIR_MANIFEST, DIR_MANIFEST_BUNDLE, listFiles, sha256Hex, signDirectory } from '../trust/signed-files.js';

export const VERSIONS_DIR = '.versions';
export const CURRENT_LINK = 'current';
export const POLICIES_SUBDIR = 'policies';
/** Config file names looked for in a deploy source, in this order. */
export const CONFIG_NAMES = ['stella.yaml', 'config.yaml'] as const;
export const DEFAULT_KEEP = 5;

const VERSION_RE = /^(\d{4,})-([0-9a-f]{12})$/;

/** What a deploy source holds: a config file and/or a policies directory. */
export interface DeploySource {
  dir: string;
  /** The config file's name in `dir`, if there is one. */
  configName?: string;
  hasPolicies: boolean;
}

export function readSource(dir: string): DeploySource | { error: string } {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return { error: `${dir}: no such directory` };
  }
  if (!st.isDirectory()) return { error: `${dir}: expected a directory holding ${CONFIG_NAMES.join(' or ')} and/or ${POLICIES_SUBDIR}/` };
  const configs = CONFIG_NAMES.filter((n) => existsSync(join(dir, n)));
  if (configs.length > 1) return { error: `${dir}: holds both ${configs.join(' and ')}; keep one` };
  const hasPolicies = existsSync(join(dir, POLICIES_SUBDIR));
  if (configs.length === 0 && !hasPolicies) return { error: `${dir}: nothing to deploy (no ${CONFIG_NAMES.join(' or ')}, no ${POLICIES_SUBDIR}/)` };
  return { dir, ...(configs[0] && { configName: configs[0] }), hasPolicies };
}

/** The files a source contributes (relative paths); the same set is what a version holds. */
export function sourceFiles(src: DeploySource): string[] {
  const files: string[] = [];
  if (src.configName) files.push(src.configName);
  if (src.hasPolicies) for (const f of listFiles(join(src.dir, POLICIES_SUBDIR))) files.push(`${POLICIES_SUBDIR}/${f}`);
  // Signatures are made for the target by deploy itself.
  return files.filter((f) => !f.endsWith('.sigstore.json') && basename(f) !== DIR_MANIFEST);
}

export interface Version {
  id: string;
  seq: number;
  dir: string;
}

/** The deployed versions, oldest first. */
export function listVersions(target: string): Version[] {
  const root = join(target, VERSIONS_DIR);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names
    .map((id) => ({ id, m: VERSION_RE.exec(id) }))
    .filter((x): x is { id: string; m: RegExpExecArray } => x.m !== null)
    .map(({ id, m }) => ({ id, seq: Number(m[1]), dir: join(root, id) }))
    .sort((a, b) => a.seq - b.seq);
}

/** The version `current` points at, if any. */
export function currentVersion(target: string): Version | undefined {
  let link: string;
  try {
    link = readlinkSync(join(target, CURRENT_LINK));
  } catch {
    return undefined;
  }
  const id = basename(link);
  return listVersions(target).find((v) => v.id === id);
}

/** The content id of a set of files: SHA-256 over their paths and digests (12 hex digits). */
export function contentId(dir: string, files: readonly string[]): string {
  const manifest = buildDigestManifest(dir).files.filter((f) => files.includes(f.path));
  return sha256Hex(Buffer.from(canonicalJson(manifest))).slice(0, 12);
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the source's files as a new version (signed with `privateKeyPem` when given) and returns it;
 * `current` is not touched (see activate). The version is complete and durable before it gets its name.
 */
export async function writeVersion(target: string, src: DeploySource, privateKeyPem?: string): Promise<Version> {
  const files = sourceFiles(src);
  const root = join(target, VERSIONS_DIR);
  mkdirSync(root, { recursive: true });
  const seq = (listVersions(target).at(-1)?.seq ?? 0) + 1;
  const id = `${String(seq).padStart(4, '0')}-${contentId(src.dir, files)}`;
  const tmp = join(root, `.tmp-${id}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  for (const f of files) {
    mkdirSync(join(tmp, f, '..'), { recursive: true });
    // Contents, not links: a version must not change when the source does.
    cpSync(join(src.dir, f), join(tmp, f), { dereference: true });
  }
  if (src.hasPolicies) mkdirSync(join(tmp, POLICIES_SUBDIR), { recursive: true });
  if (privateKeyPem !== undefined) await signDirectory(tmp, privateKeyPem);
  for (const f of [...files, ...(privateKeyPem !== undefined ? [DIR_MANIFEST, DIR_MANIFEST_BUNDLE] : [])]) fsyncPath(join(tmp, f));
  const dir = join(root, id);
  renameSync(tmp, dir);
  fsyncPath(root);
  return { id, seq, dir };
}

/**
 * Points `current` at `version` (a new symlink renamed over the old one: readers see one or the
 * other), and makes the stable links DIR/<config> and DIR/policies when missing.
 */
export function activate(target: string, version: Version, src: Pick<DeploySource, 'configName' | 'hasPolicies'>): void {
  const tmp = join(target, `.${CURRENT_LINK}.tmp-${process.pid}`);
  rmSync(tmp, { force: true });
  symlinkSync(join(VERSIONS_DIR, version.id), tmp);
  renameSync(tmp, join(target, CURRENT_LINK));
  const stable = [...(src.configName ? [src.configName] : []), ...(src.hasPolicies ? [POLICIES_SUBDIR] : [])];
  for (const name of stable) {
    const path = join(target, name);
    let st;
    try {
      st = lstatSync(path);
    } catch {
      symlinkSync(join(CURRENT_LINK, name), path);
      continue;
    }
    if (!st.isSymbolicLink() || readlinkSync(path) !== join(CURRENT_LINK, name)) {
      throw new Error(`${path} exists and is not the deploy link ${join(CURRENT_LINK, name)}: move it away (the gateway must read through ${CURRENT_LINK})`);
    }
  }
  fsyncPath(target);
}

/** Removes the oldest versions beyond `keep`, never the current one; returns the ids removed. */
export function prune(target: string, keep: number): string[] {
  const current = currentVersion(target)?.id;
  const versions = listVersions(target);
  const removable = versions.filter((v) => v.id !== current);
  const excess = versions.length - keep;
  const removed: string[] = [];
  for (const v of removable.slice(0, Math.max(0, excess))) {
    rmSync(v.dir, { recursive: true, force: true });
    removed.push(v.id);
  }
  return removed;
}

/** The version a rollback goes to: the newest one older than the current one. */
export function previousVersion(target: string): Version | undefined {
  const current = currentVersion(target);
  if (!current) return undefined;
  return listVersions(target)
    .filter((v) => v.seq < current.seq)
    .at(-1);
}

/** A source-shaped view of a deployed version (for diffs and the stable links). */
export function versionSource(version: Version): DeploySource {
  const r = readSource(version.dir);
  return 'error' in r ? { dir: version.dir, hasPolicies: false } : r;
}
