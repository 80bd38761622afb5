// Retention of the forensic archive: each sealed segment is kept for its tier's duration
// (forensic.retention: default 7d, forensic 90d, airgap 365d by default), then pruned, unless a capture
// holds it. Also what `stella telemetry status` shows: archive usage per tenant and tier.
//
// A segment's age is taken from its file's mtime, which is the seal time (sealing writes the .gz), so at
// or after its last record: a segment is pruned only once its newest record is older than the tier's
// duration. Open segments are never pruned (the tee is still appending to them). (Format-2 segments are
// sealed by a rename, which keeps the mtime of their last append: also at or after their last record.)
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RETENTION_TIERS, type RetentionTier } from '../config/sections/forensic.js';
import { FLEET } from '../incident/types.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { listSegments, readHolds, type Hold, type SegmentFile } from './layout.js';

export interface PrunedSegment {
  tenant: string;
  tier: RetentionTier;
  path: string;
  bytes: number;
  firstRecordTimeMs: number;
  /** The seal time (file mtime) the age was measured from. */
  sealedAtMs: number;
}

export interface PruneReport {
  /** When the pruner looked (ms since the epoch). */
  atMs: number;
  pruned: PrunedSegment[];
  bytesFreed: number;
  /** Expired segments kept because an unexpired hold overlaps them. */
  held: string[];
  /** Hold files that could not be read: while one exists, nothing is pruned (it might hold anything). */
  badHolds: string[];
  /** Deletions that failed (the segment stays; the next run tries again). */
  errors: string[];
}

export interface PruneOptions {
  nowMs?: number;
  metrics?: Pick<GatewayMetrics, 'teePrunedSegments'>;
  logger?: Logger;
}

function holdCovers(hold: Hold, seg: SegmentFile, nowMs: number): boolean {
  if (hold.expiresAt !== null && Date.parse(hold.expiresAt) <= nowMs) return false;
  if (hold.tenant !== seg.tenant && hold.tenant !== FLEET) return false;
  // The segment spans [first record, seal time]; any overlap with the held window keeps it.
  return seg.firstRecordTimeMs <= hold.toMs && seg.mtimeMs >= hold.fromMs;
}

/** Deletes the sealed segments under `root` older than their tier's retention and not held. */
export async function pruneArchive(root: string, retentionMs: Record<RetentionTier, number>, options: PruneOptions = {}): Promise<PruneReport> {
  const nowMs = options.nowMs ?? Date.now();
  const report: PruneReport = { atMs: nowMs, pruned: [], bytesFreed: 0, held: [], badHolds: [], errors: [] };
  const holds: Hold[] = [];
  for (const entry of readHolds(root)) {
    if (entry.ok) holds.push(entry.hold);
    else report.badHolds.push(`${entry.name}: ${entry.error}`);
  }
  if (report.badHolds.length > 0) {
    options.logger?.warn({ badHolds: report.badHolds }, 'forensic pruner: unreadable hold files; pruning nothing until they are fixed or removed');
    return report;
  }
  for (const seg of listSegments(root)) {
    if (!seg.sealed) continue;
    if (nowMs - seg.mtimeMs < retentionMs[seg.tier]) continue;
    if (holds.some((h) => holdCovers(h, seg, nowMs))) {
      report.held.push(seg.path);
      continue;
    }
    try {
      await unlink(seg.path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'ENOENT') report.errors.push(`${seg.path}: ${e.message}`);
      continue;
    }
    report.pruned.push({ tenant: seg.tenant, tier: seg.tier, path: seg.path, bytes: seg.bytes, firstRecordTimeMs: seg.firstRecordTimeMs, sealedAtMs: seg.mtimeMs });
    report.bytesFreed += seg.bytes;
    options.metrics?.teePrunedSegments.inc({ tier: seg.tier });
  }
  if (report.pruned.length > 0 || report.errors.length > 0) {
    options.logger?.info(
      { pruned: report.pruned.map((p) => p.path), bytesFreed: report.bytesFreed, held: report.held.length, errors: report.errors },
      `forensic pruner: deleted ${report.pruned.length} expired segment(s)`,
    );
  }
  return report;
}

export interface TierUsage {
  /** Bytes on disk (sealed segments compressed). */
  bytes: number;
  segments: number;
  /** Of which still open. */
  openSegments: number;
  /** First record time of the oldest segment (ms since the epoch); null when none. */
  oldestMs: number | null;
  /** Last write of the newest segment; null when none. */
  newestMs: number | null;
}

export interface ArchiveUsage {
  root: string;
  bytes: number;
  segments: number;
  /** tenant → tier → usage (only tiers that hold segments). */
  tenants: Record<string, Partial<Record<RetentionTier, TierUsage>>>;
}

/** Usage of the archive at `root` (the forensic dir itself). */
export function archiveUsageAt(root: string): ArchiveUsage {
  const usage: ArchiveUsage = { root, bytes: 0, segments: 0, tenants: {} };
  for (const seg of listSegments(root)) {
    const tiers = (usage.tenants[seg.tenant] ??= {});
    const u = (tiers[seg.tier] ??= { bytes: 0, segments: 0, openSegments: 0, oldestMs: null, newestMs: null });
    u.bytes += seg.bytes;
    u.segments++;
    if (!seg.sealed) u.openSegments++;
    u.oldestMs = u.oldestMs === null ? seg.firstRecordTimeMs : Math.min(u.oldestMs, seg.firstRecordTimeMs);
    u.newestMs = u.newestMs === null ? seg.mtimeMs : Math.max(u.newestMs, seg.mtimeMs);
    usage.bytes += seg.bytes;
    usage.segments++;
  }
  return usage;
}

/**
 * Archive usage per tenant and tier, for `stella telemetry status`. `dataDir` is the gateway's data dir;
 * pass `dir` when forensic.dir is set elsewhere (forensicDir(config) in ./layout.ts gives the root).
 */
export function archiveUsage(dataDir: string, options: { dir?: string } = {}): ArchiveUsage {
  return archiveUsageAt(options.dir ?? join(dataDir, 'forensic'));
}

/** The archive as `GET /admin/v1/status` shows it: usage per tenant and tier, plus the tee's own view. */
export interface ArchiveStatus extends ArchiveUsage {
  /** forensic.mode: off | incident | always. */
  mode: string;
  /** forensic.maxBytes: beyond it the tee sheds. */
  maxBytes: number;
  /** Records offered and not yet written (all tenants). */
  bufferedBytes: number;
}

/**
 * Archive usage for the status document. Lists the archive dir (readdir + stat per segment, synchronous:
 * segments are 64 MiB by default, so even a 10 GiB archive is a few hundred files).
 */
export function archiveStatus(root: string, config: { mode: string; maxBytes: number }, tee?: { stats(): { bufferedBytes: number } }): ArchiveStatus {
  return { ...archiveUsageAt(root), mode: config.mode, maxBytes: config.maxBytes, bufferedBytes: tee?.stats().bufferedBytes ?? 0 };
}

/** The same status seen by a token scoped to some tenants: only theirs, totals recomputed from them. */
export function scopeArchiveStatus(a: ArchiveStatus, visible: (tenant: string) => boolean): ArchiveStatus {
  const tenants: ArchiveStatus['tenants'] = {};
  let bytes = 0;
  let segments = 0;
  for (const [tenant, tiers] of Object.entries(a.tenants)) {
    if (!visible(tenant)) continue;
    tenants[tenant] = tiers;
    for (const u of Object.values(tiers)) {
      bytes += u.bytes;
      segments += u.segments;
    }
  }
  // The buffer is shared by every tenant: not shown to a scoped token.
  return { ...a, tenants, bytes, segments, bufferedBytes: 0 };
}

/** Tier order for escalation: the longer-lived of two tiers. */
export function escalateTier(a: RetentionTier, b: RetentionTier): RetentionTier {
  return RETENTION_TIERS.indexOf(a) >= RETENTION_TIERS.indexOf(b) ? a : b;
}

export interface Pruner {
  /** Runs now (runs never overlap: a call during a run waits for it and returns its report). */
  run(): Promise<PruneReport>;
  start(): void;
  stop(): void;
}

/** Prunes every `intervalMs` (and on demand); `onPruned` lets the tee give the freed bytes back to its budget. */
export function createPruner(
  config: { root: string; retentionMs: Record<RetentionTier, number>; intervalMs: number },
  deps: PruneOptions & { onPruned?: (report: PruneReport) => void; now?: () => number },
): Pruner {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<PruneReport> | undefined;
  const run = (): Promise<PruneReport> => {
    running ??= pruneArchive(config.root, config.retentionMs, { ...deps, nowMs: (deps.now ?? Date.now)() })
      .then((report) => {
        deps.onPruned?.(report);
        return report;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  return {
    run,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        run().catch((err: unknown) => deps.logger?.error({ err: String(err) }, 'forensic pruner failed'));
      }, config.intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
