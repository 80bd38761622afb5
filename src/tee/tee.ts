// The forensic tee (DESIGN: "tee  forensic stream (post-redaction, pre-sampling) ──▶ segments"): every
// processed request of a teed tenant is appended, as one record (./segment-format.ts), to that tenant's
// open segment; segments rotate by size, age and tier. Each batch the writer takes is compressed (zstd at
// a fast level where node:zlib has it, else brotli quality 0; on the libuv thread pool) and appended as one frame (format 2 of
// ./segment-format.ts), so sealing is an fdatasync and a rename: nothing is read back or rewritten.
// Layout on disk: ./layout.ts. Legacy (format 1) segments left open are still sealed with gzip at start.
//
// The tee never blocks ingest and never fails a request. offer() is synchronous and only queues a
// reference to the processed bytes (no copy: nothing mutates a processed body afterwards); one async
// writer per tenant encodes and appends in batches. When the buffer is full, the disk budget
// (forensic.maxBytes) is spent, or a write fails (ENOSPC, EIO, …), the records are SHED: dropped,
// counted (tee_shed_records_total{tenant,reason}), flagged (tee_shedding{tenant} = 1 while it lasts) and
// the window written to <tenant>/shed.jsonl once it ends, so a capture of that time can say the archive
// has a gap there.
//
// Durability (fsync policy): appends go to the page cache; the open segment is fdatasync'ed at most once
// per second while written to, and before the rename that seals it. So a process crash loses
// only what was still buffered in memory (bounded by forensic.bufferBytes); a power loss can also lose
// about the last second of the open segment, which readers then see as a torn tail (frame length/CRC check).
// Segments left open by a crash are sealed at the next start.
//
// createTee composes the parts: tee-lanes.ts (per-tenant lanes, byte accounting), tee-writer.ts
// (batches → frames → appends), frame-compressor.ts, tee-segments.ts (segment files, rotation, fsync),
// tee-sealing.ts (sealing, crash clean-up), tee-shedding.ts (shed records and windows), and the pruner
// (retention.ts). Here: admission (offer), the timer, flush, start and close.
import { open, type FileHandle } from 'node:fs/promises';
import type { ForensicConfig, RetentionTier } from '../config/sections/forensic.js';
import { resolveSegmentCompression } from '../config/sections/forensic.js';
import { FLEET, type IncidentState } from '../incident/types.js';
import type { Signal } from '../signals.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { createFrameCompressor } from './frame-compressor.js';
import { listSegments } from './layout.js';
import { createPruner, escalateTier, type PruneReport } from './retention.js';
import { record2HeaderBytes, type FrameCodec } from './segment-format.js';
import { createAccounting, createLanes } from './tee-lanes.js';
import { createSealing } from './tee-sealing.js';
import { createSegments, SYNC_INTERVAL_MS } from './tee-segments.js';
import { createShedding } from './tee-shedding.js';
import { createWriter, FRAME_TARGET_BYTES } from './tee-writer.js';
import { zstdUnavailableMessage, zstdZlib } from './zstd-support.js';

export interface TeeOffer {
  signal: Signal;
  tenant: string;
  /** The processed request (post-redaction). Kept by reference until written: do not mutate it. */
  body: Uint8Array;
  items: number;
  /** The policy version the body was processed under ('' when none). */
  policyVersion: string;
  /** When the gateway received the request (ms since the epoch). */
  timeMs: number;
}

export type ShedReason = 'buffer_full' | 'disk_budget' | 'write_error' | 'shutdown';

/** What the writer needs of an open file; node's FileHandle by default (tests inject failures). */
export interface SegmentHandle {
  /** Positional: after a failed append the tail is cut off and the next append goes where it was. */
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface TeeDeps {
  metrics: GatewayMetrics;
  logger: Logger;
  /** Incident mode (src/incident): who is teed in mode `incident`, and the escalated tier. Default: never active. */
  incidents?: Pick<IncidentState, 'isActive'> & Partial<Pick<IncidentState, 'onChange'>>;
  now?: () => number;
  /** Opens a new segment file exclusively (`wx`); default fs.promises.open. */
  openSegment?: (path: string) => Promise<SegmentHandle>;
  /** Metric label of a tenant (capped cardinality, src/telemetry/tenant-label.ts); default: the tenant id. */
  tenantLabel?: (tenant: string) => string;
  /** A shed window ends after this long without a shed record (default 1000 ms). */
  shedQuietMs?: number;
  /** zstd level of zstd frames (default ZSTD_LEVEL; the bench tries others). */
  zstdLevel?: number;
  /** Bytes a lane waits for before writing a frame (default FRAME_TARGET_BYTES; 0 = write every turn; the bench compares). */
  frameTargetBytes?: number;
}

/**
 * zstd level of the tee's frames: ZSTD_c_compressionLevel (negative = zstd's "fast" levels). Chosen by
 * measurement on the bench's spans (README "Forensic archive", `node dist/bench/tee-micro.js --codecs`).
 */
export const ZSTD_LEVEL = -3;

export interface TeeStats {
  bufferedBytes: number;
  diskBytes: number;
  openSegments: number;
  sealing: number;
}

export interface Tee {
  /** Synchronous and cheap: queues the record, or sheds it. Never throws, never blocks. */
  offer(offer: TeeOffer): void;
  /** Whether offer() would archive this tenant now (mode and incident state). */
  isTeed(tenant: string): boolean;
  /** Scans the archive (disk usage), seals segments a crash left open, starts the rotation timer and the pruner. */
  start(): Promise<void>;
  /** Resolves once everything offered before the call is written (or shed) and shed windows are logged. */
  flush(): Promise<void>;
  /** flush(), then seal every open segment and wait for sealing to finish. */
  sealAll(): Promise<void>;
  /** Runs the pruner now. */
  prune(): Promise<PruneReport>;
  /** Stops taking records, then flushes and seals within `deadlineMs`; what is still buffered after it is shed ('shutdown'). */
  close(deadlineMs?: number): Promise<void>;
  stats(): TeeStats;
  readonly root: string;
}

/** Record header bytes on top of the payload and the policy version (format 2 of segment-format.ts). */
const RECORD_OVERHEAD = record2HeaderBytes(0);

export function createTee(config: ForensicConfig & { root: string }, deps: TeeDeps): Tee {
  const { metrics, logger } = deps;
  const now = deps.now ?? Date.now;
  const incidents = deps.incidents ?? { isActive: () => false };
  const openSegment = deps.openSegment ?? ((path: string) => open(path, 'wx') as Promise<FileHandle>);
  const shedQuietMs = deps.shedQuietMs ?? 1000;
  const tenantLabel = deps.tenantLabel ?? ((tenant: string) => tenant);
  const root = config.root;
  // The frame codec, fixed for the tee's life: `auto` is zstd where this Node's zlib has it, else brotli.
  const zstd = zstdZlib();
  const codec: FrameCodec = resolveSegmentCompression(config.segment.compression, zstd !== undefined);
  // Validation rejects an explicit zstd on a Node without it; this is the same check for direct callers.
  if (codec === 'zstd' && !zstd) throw new Error(`forensic tee: ${zstdUnavailableMessage()}`);
  const escalated = escalateTier(config.tier, config.incidentTier);
  let closed = false;
  let ticker: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  const accounting = createAccounting(metrics);
  const lanes = createLanes(tenantLabel, logger);
  const pruner = createPruner(
    { root, retentionMs: config.retentionMs, intervalMs: config.pruneIntervalMs },
    {
      metrics,
      logger,
      now,
      onPruned: (report) => {
        accounting.diskBytes = Math.max(0, accounting.diskBytes - report.bytesFreed);
        accounting.publishDisk();
      },
    },
  );
  const shedding = createShedding({ root, metrics, logger, now, lanes });
  const sealing = createSealing({ segment: config.segment, metrics, logger, accounting });
  const segments = createSegments({ root, segment: config.segment, openSegment, now, logger, accounting, sealing });
  const compressor = createFrameCompressor({ codec, zstd, zstdLevel: deps.zstdLevel ?? ZSTD_LEVEL, segment: config.segment });
  const writer = createWriter({
    config,
    frameTarget: deps.frameTargetBytes ?? FRAME_TARGET_BYTES,
    codec,
    now,
    metrics,
    logger,
    accounting,
    lanes,
    segments,
    compressor,
    shedding,
  });
  const { shed, endShedWindow, writeShedLines } = shedding;

  // ---- the hot path --------------------------------------------------------------------------------

  function tierOf(tenant: string): RetentionTier | undefined {
    if (config.mode === 'off') return undefined;
    const incident = incidents.isActive(tenant);
    if (incident) return escalated;
    return config.mode === 'always' ? config.tier : undefined;
  }

  function offer(o: TeeOffer): void {
    if (closed) return;
    const tier = tierOf(o.tenant);
    if (tier === undefined) return;
    const l = lanes.get(o.tenant);
    // The record format holds at most 255 ASCII bytes of version (versions are SHA-256 hex: 64).
    if (o.policyVersion.length > 255 || !/^[\x20-\x7e]*$/.test(o.policyVersion)) o = { ...o, policyVersion: o.policyVersion.replace(/[^\x20-\x7e]/g, '?').slice(0, 255) };
    const bytes = o.body.byteLength + RECORD_OVERHEAD + o.policyVersion.length;
    if (accounting.bufferedBytes + bytes > config.bufferBytes) return shed(l, o, bytes, 'buffer_full');
    if (accounting.diskBytes + accounting.bufferedBytes + bytes > config.maxBytes) return shed(l, o, bytes, 'disk_budget');
    if (l.failedUntil > 0 && now() < l.failedUntil) return shed(l, o, bytes, l.failReason);
    l.queue.push({ offer: o, tier, bytes });
    accounting.bufferedBytes += bytes;
    l.queuedBytes += bytes;
    writer.scheduleDrain(l);
  }

  // ---- lifecycle -----------------------------------------------------------------------------------

  function tick(): void {
    const t = now();
    for (const l of lanes.all()) {
      if (l.shed && t - l.shed.lastShedAt >= shedQuietMs) endShedWindow(l);
      else if (l.shedLines.length > 0) void lanes.onLane(l, () => writeShedLines(l));
      const seg = l.open;
      if (seg && !l.draining && t - seg.openedAt >= config.segment.maxAgeMs) {
        void lanes.onLane(l, async () => {
          if (l.open === seg && now() - seg.openedAt >= config.segment.maxAgeMs) await segments.rotate(l);
        });
      } else if (seg && !l.draining && seg.dirty && t - seg.lastSyncAt >= SYNC_INTERVAL_MS) {
        void lanes.onLane(l, () => segments.sync(l, seg));
      }
    }
    accounting.publishBuffer();
  }

  async function flush(): Promise<void> {
    // Twice: the first pass may end shed windows, whose lines are written by the second.
    for (let pass = 0; pass < 2; pass++) {
      // Lingering records are written now (a running drain sees the flag and writes the rest too).
      for (const l of lanes.all()) {
        if (l.head === l.queue.length) continue;
        l.force = true;
        writer.scheduleDrain(l);
      }
      await new Promise<void>((r) => setImmediate(r)); // let deferred drains get onto their chains
      await Promise.all([...lanes.all()].map((l) => lanes.onLane(l, async () => {})));
      for (const l of lanes.all()) if (l.shed) endShedWindow(l);
    }
  }

  async function sealAll(): Promise<void> {
    await flush();
    await Promise.all([...lanes.all()].map((l) => lanes.onLane(l, () => segments.rotate(l))));
    await sealing.sealsDone();
  }

  async function start(): Promise<void> {
    // No mkdir here: a gateway that never tees leaves no forensic dir behind.
    // Leftovers of a crash mid-seal go first (a new seal must not find its temp file removed under it).
    await Promise.all(sealing.removeSealTemps(listSegments(root)));
    const found = listSegments(root);
    accounting.diskBytes = found.reduce((s, seg) => s + seg.bytes, 0);
    accounting.publishDisk();
    for (const seg of found) {
      if (seg.sealed) continue;
      // A format-2 segment left open keeps what it has (a torn last frame is reported by readers).
      if (seg.format === 2) await sealing.sealInPlace(seg.path, seg.tier);
      else sealing.enqueueLegacySeal(seg.path, seg.tier, seg.bytes);
    }
    metrics.teeBufferBytes.set(0);
    const every = Math.max(20, Math.min(1000, Math.floor(config.segment.maxAgeMs / 4), Math.floor(shedQuietMs / 2)));
    ticker = setInterval(tick, every);
    ticker.unref();
    pruner.start();
    // When an incident ends, its escalated segments are sealed now rather than at their max age, so a
    // capture of the incident's window right afterwards finds them sealed.
    unsubscribe = incidents.onChange?.(({ type, incident }) => {
      if (type === 'start') return;
      for (const l of lanes.all()) {
        if (incident.scope !== FLEET && incident.scope !== l.tenant) continue;
        const seg = l.open;
        if (seg && seg.tier === escalated && !incidents.isActive(l.tenant)) {
          void lanes.onLane(l, async () => {
            if (l.open === seg) await segments.rotate(l);
          });
        }
      }
    });
    if (found.length > 0) logger.info({ root, segments: found.length, diskBytes: accounting.diskBytes, resealing: found.filter((s) => !s.sealed).length }, 'forensic archive found');
  }

  async function close(deadlineMs = 10_000): Promise<void> {
    if (closed) return;
    closed = true;
    if (ticker) clearInterval(ticker);
    unsubscribe?.();
    pruner.stop();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), deadlineMs);
    });
    const outcome = await Promise.race([sealAll().then(() => 'done' as const), expired]);
    clearTimeout(timer);
    if (outcome === 'late') {
      // Still buffered, or being written (it may yet land: counted as shed all the same, since a gap
      // claimed wrongly is safer than a gap not claimed). Unsealed segments are sealed at the next start.
      let shedRecords = 0;
      for (const l of lanes.all()) {
        if (l.linger) clearTimeout(l.linger);
        l.linger = undefined;
        for (const p of l.writing ?? []) {
          shed(l, p.offer, p.bytes, 'shutdown');
          shedRecords++;
        }
        l.writing = undefined;
        while (l.head < l.queue.length) {
          const p = l.queue[l.head++]!;
          shed(l, p.offer, p.bytes, 'shutdown');
          shedRecords++;
          accounting.bufferedBytes -= p.bytes;
          l.queuedBytes -= p.bytes;
        }
        endShedWindow(l, true);
      }
      // Only a deadline that cost records is worth a warning (a start-up that failed closes with 0 ms).
      if (shedRecords > 0) logger.warn({ deadlineMs, shedRecords }, 'forensic tee: shutdown deadline reached before everything was sealed');
    }
    accounting.publishBuffer();
  }

  return {
    offer,
    isTeed: (tenant) => tierOf(tenant) !== undefined,
    start,
    flush,
    sealAll,
    prune: () => pruner.run(),
    close,
    stats: () => ({
      bufferedBytes: accounting.bufferedBytes,
      diskBytes: accounting.diskBytes,
      openSegments: [...lanes.all()].filter((l) => l.open).length,
      sealing: sealing.pending(),
    }),
    root,
  };
}
