// Where the forensic archive lives on disk. The tee writes this layout; retention, capture, verify and
// status read it, so every path is spelled here once:
//
//   <root>/<tenant>/<tier>/<firstRecordTimeMs:13>-<seq:6>.segz.part  open segment (compressed frames being appended)
//   <root>/<tenant>/<tier>/<firstRecordTimeMs:13>-<seq:6>.segz       sealed segment (the same file, renamed)
//   <root>/<tenant>/<tier>/<firstRecordTimeMs:13>-<seq:6>.seg        legacy (format v1) open segment: sealed at start
//   <root>/<tenant>/<tier>/<firstRecordTimeMs:13>-<seq:6>.seg.gz     legacy (format v1) sealed segment (gzip of the file)
//   <root>/<tenant>/shed.jsonl     one JSON line per window of records the tee dropped (ShedWindow)
//   <root>/holds/<name>.json       a capture's hold: segments overlapping it are never pruned (Hold)
//
// <root> is forensic.dir, by default `${dataDir}/forensic`. Tenant ids are directory names (TENANT_RE in
// src/config/validate.ts forbids "/" and leading dots), and "holds" is not a valid tier, so a tenant
// named "holds" cannot be confused with the holds dir: tenant dirs always contain tier dirs.
// Every path built from a tenant id goes through tenantDir, which refuses anything that is not a tenant
// id (defence in depth: callers validate first, but a path must never be able to leave <root>).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { RETENTION_TIERS, type RetentionTier } from '../config/sections/forensic.js';
import type { GatewayConfig } from '../config/types.js';
import { TENANT_RE } from '../tenant-id.js';

export const HOLDS_DIR = 'holds';
export const SHED_LOG = 'shed.jsonl';
/** Format 2 (./segment-format.ts): compressed while written, sealed by a rename. */
export const OPEN_SUFFIX = '.segz.part';
export const SEALED_SUFFIX = '.segz';
/** Format 1, as archives written before format 2 hold them: still read; a legacy open one is gzip'd at start. */
export const LEGACY_OPEN_SUFFIX = '.seg';
export const LEGACY_SEALED_SUFFIX = '.seg.gz';

/** The archive root of a config (absolute). */
export function forensicDir(config: Pick<GatewayConfig, 'dataDir' | 'forensic'>): string {
  return resolve(config.forensic.dir ?? join(config.dataDir, 'forensic'));
}

/** Thrown when a path would be built from something that is not a tenant id. */
export class UnsafeTenantPathError extends Error {
  override name = 'UnsafeTenantPathError';
}

/**
 * `<dir>/<name>`, refusing a name that is not one path component inside `dir` (no "/", "\\", "..",
 * NUL, leading "."): for file and directory names derived from a tenant id.
 */
export function childPath(dir: string, name: string): string {
  const base = resolve(dir);
  const path = resolve(base, name);
  if (name === '' || name.startsWith('.') || /[/\\\0]/.test(name) || !path.startsWith(base + sep)) {
    throw new UnsafeTenantPathError(`refusing a path outside ${base}: ${JSON.stringify(name)}`);
  }
  return path;
}

/** `<root>/<tenant>`: only for a valid tenant id. */
export function tenantDir(root: string, tenant: string): string {
  if (!TENANT_RE.test(tenant)) throw new UnsafeTenantPathError(`not a tenant id: ${JSON.stringify(tenant)}`);
  return childPath(root, tenant);
}

export function tierDir(root: string, tenant: string, tier: RetentionTier): string {
  return join(tenantDir(root, tenant), tier);
}

export function shedLogPath(root: string, tenant: string): string {
  return join(tenantDir(root, tenant), SHED_LOG);
}

export function holdsDir(root: string): string {
  return join(root, HOLDS_DIR);
}

/** `0001764400000000-000042` (without suffix): sorts by time, then by sequence. */
export function segmentBaseName(firstRecordTimeMs: number, seq: number): string {
  return `${String(Math.max(0, Math.floor(firstRecordTimeMs))).padStart(13, '0')}-${String(seq % 1_000_000).padStart(6, '0')}`;
}

const NAME_RE = /^(\d{13})-(\d{6})(\.seg|\.seg\.gz|\.segz|\.segz\.part)$/;

export interface SegmentName {
  firstRecordTimeMs: number;
  seq: number;
  sealed: boolean;
  /** 2: compressed frames (.segz[.part]); 1: legacy records (.seg, .seg.gz). */
  format: 1 | 2;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const suffix = m[3]!;
  return {
    firstRecordTimeMs: Number(m[1]),
    seq: Number(m[2]),
    sealed: suffix === SEALED_SUFFIX || suffix === LEGACY_SEALED_SUFFIX,
    format: suffix === LEGACY_OPEN_SUFFIX || suffix === LEGACY_SEALED_SUFFIX ? 1 : 2,
  };
}

/** The file name without its suffix (`<time>-<seq>`). */
export function segmentStem(name: string): string {
  const m = NAME_RE.exec(name);
  return m ? `${m[1]}-${m[2]}` : name;
}

export interface SegmentFile extends SegmentName {
  tenant: string;
  tier: RetentionTier;
  path: string;
  /** Size on disk (compressed when sealed). */
  bytes: number;
  /** Last modification: the last append (open) or the seal (sealed), at or after the last record. */
  mtimeMs: number;
}

function dirNames(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/** Tenants that have an archive dir (sorted); a directory whose name is not a tenant id is not one. */
export function listTenants(root: string): string[] {
  return dirNames(root)
    .filter((name) => name !== HOLDS_DIR && TENANT_RE.test(name))
    .sort();
}

/**
 * Every segment under the root (open and sealed), sorted by tenant, tier, then name (= time order).
 * Files vanishing while listed (sealed or pruned meanwhile) are skipped; a segment is listed once.
 */
export function listSegments(root: string, filter: { tenant?: string } = {}): SegmentFile[] {
  const out: SegmentFile[] = [];
  for (const tenant of filter.tenant !== undefined ? [filter.tenant] : listTenants(root)) {
    for (const tier of RETENTION_TIERS) {
      const dir = tierDir(root, tenant, tier);
      let names: string[];
      try {
        names = readdirSync(dir).sort();
      } catch {
        continue;
      }
      const sealed = new Set(names.filter((n) => n.endsWith(LEGACY_SEALED_SUFFIX) || n.endsWith(SEALED_SUFFIX)));
      for (const name of names) {
        const parsed = parseSegmentName(name);
        if (!parsed) continue;
        // Legacy sealing renames the .gz into place before it unlinks the .seg: for that moment both
        // exist, and the sealed one is the segment. (Format 2 seals with one rename: never both.)
        if (!parsed.sealed && (sealed.has(`${name}.gz`) || sealed.has(`${segmentStem(name)}${SEALED_SUFFIX}`))) continue;
        const path = join(dir, name);
        try {
          const st = statSync(path);
          out.push({ ...parsed, tenant, tier, path, bytes: st.size, mtimeMs: st.mtimeMs });
        } catch {
          // gone between readdir and stat
        }
      }
    }
  }
  return out;
}

/** A window of records the tee dropped (one line of shed.jsonl). Times are the records' receive times. */
export interface ShedWindow {
  fromMs: number;
  toMs: number;
  records: number;
  bytes: number;
  reason: string;
}

/** The shed windows of a tenant, oldest first; unreadable lines (a torn last line) are skipped. */
export function readShedWindows(root: string, tenant: string): ShedWindow[] {
  let text: string;
  try {
    text = readFileSync(shedLogPath(root, tenant), 'utf8');
  } catch {
    return [];
  }
  const out: ShedWindow[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const w = JSON.parse(line) as ShedWindow;
      if (typeof w.fromMs === 'number' && typeof w.toMs === 'number') out.push(w);
    } catch {
      // torn line
    }
  }
  return out;
}

/** A capture's hold on a tenant's window (written by capture; honoured by the pruner). */
export interface Hold {
  /** A tenant id, or "_all" (FLEET) for every tenant. */
  tenant: string;
  fromMs: number;
  toMs: number;
  /** ISO time after which the hold no longer protects anything; null = until the file is deleted. */
  expiresAt: string | null;
}

export type HoldEntry = { name: string; ok: true; hold: Hold } | { name: string; ok: false; error: string };

/** Every hold file; one that cannot be read or parsed is reported (and the pruner treats it as holding everything). */
export function readHolds(root: string): HoldEntry[] {
  const dir = holdsDir(root);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const out: HoldEntry[] = [];
  for (const name of names) {
    try {
      const h = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Partial<Hold>;
      if (typeof h.tenant !== 'string' || typeof h.fromMs !== 'number' || typeof h.toMs !== 'number') throw new Error('expected tenant, fromMs and toMs');
      if (h.expiresAt !== null && h.expiresAt !== undefined && Number.isNaN(Date.parse(h.expiresAt))) throw new Error(`bad expiresAt ${JSON.stringify(h.expiresAt)}`);
      out.push({ name, ok: true, hold: { tenant: h.tenant, fromMs: h.fromMs, toMs: h.toMs, expiresAt: h.expiresAt ?? null } });
    } catch (err) {
      out.push({ name, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return out;
}
