// The bundles POST /admin/v1/captures writes into `${dataDir}/captures`: private (files 0600, the
// directory 0700: a bundle holds a tenant's telemetry) and bounded (forensic.captures.retention,
// maxCount, maxBytes; oldest deleted first), pruned at start-up, every forensic.pruneInterval and after
// each capture; a kept bundle readable by others (written before this) is made 0600. Only files this module names (`*.tar`, and `*.tar.tmp` a crash left) are ever deleted.
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { CaptureLimitsConfig } from '../config/sections/forensic.js';

const BUNDLE_SUFFIX = '.tar';
const TEMP_SUFFIX = '.tar.tmp';

/** Makes `dir` (0700, also when it existed with a wider mode). */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Writes `data` to `path` atomically (temp file, fsync, rename) with mode 0600. */
export function writePrivateFile(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    // openSync's mode applies only to a new file: a leftover temp file keeps its own.
    chmodSync(tmp, 0o600);
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export interface CapturePruneReport {
  deleted: { path: string; bytes: number; reason: 'age' | 'count' | 'bytes' | 'temp' }[];
  kept: number;
  keptBytes: number;
  errors: string[];
}

/** Deletes bundles beyond the retention, the count or the byte budget (oldest first), and stale temp files. */
export function pruneCaptures(dir: string, limits: Pick<CaptureLimitsConfig, 'retentionMs' | 'maxCount' | 'maxBytes'>, nowMs: number, keep?: string): CapturePruneReport {
  const report: CapturePruneReport = { deleted: [], kept: 0, keptBytes: 0, errors: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return report;
  }
  const bundles: { path: string; bytes: number; mtimeMs: number; mode: number }[] = [];
  const remove = (path: string, bytes: number, reason: CapturePruneReport['deleted'][number]['reason']) => {
    try {
      unlinkSync(path);
      report.deleted.push({ path, bytes, reason });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'ENOENT') report.errors.push(`${path}: ${e.message}`);
    }
  };
  for (const name of names) {
    if (!name.endsWith(BUNDLE_SUFFIX) && !name.endsWith(TEMP_SUFFIX)) continue;
    const path = join(dir, name);
    let st;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    // A temp file is a capture being written (the route writes one at a time) or a crash's leftover:
    // removed only once it is older than a minute.
    if (name.endsWith(TEMP_SUFFIX)) {
      if (nowMs - st.mtimeMs > 60_000) remove(path, st.size, 'temp');
      continue;
    }
    bundles.push({ path, bytes: st.size, mtimeMs: st.mtimeMs, mode: st.mode });
  }
  // Newest first: what is kept is a prefix of this list.
  bundles.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.path < b.path ? 1 : -1));
  for (const b of bundles) {
    // The bundle just written is never the one deleted to make room for itself.
    const fresh = b.path === keep;
    if (!fresh && nowMs - b.mtimeMs > limits.retentionMs) remove(b.path, b.bytes, 'age');
    else if (!fresh && report.kept >= limits.maxCount) remove(b.path, b.bytes, 'count');
    else if (!fresh && report.keptBytes + b.bytes > limits.maxBytes) remove(b.path, b.bytes, 'bytes');
    else {
      report.kept++;
      report.keptBytes += b.bytes;
      // Bundles written before captures were private (mode 0644) become private too.
      if ((b.mode & 0o077) !== 0) {
        try {
          chmodSync(b.path, 0o600);
        } catch (err) {
          report.errors.push(`${b.path}: ${(err as Error).message}`);
        }
      }
    }
  }
  return report;
}
