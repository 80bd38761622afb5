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
import { appendFileSync, createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, appendFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { brotliCompress, constants as zc, crc32, createGzip, deflateRaw } from 'node:zlib';
import type { ForensicConfig, RetentionTier } from '../config/sections/forensic.js';
import { RETENTION_TIERS, resolveSegmentCompression } from '../config/sections/forensic.js';
import { FLEET, type IncidentState } from '../incident/types.js';
import type { Signal } from '../signals.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import {
  listSegments,
  parseSegmentName,
  segmentBaseName,
  shedLogPath,
  tenantDir,
  tierDir,
  LEGACY_OPEN_SUFFIX,
  LEGACY_SEALED_SUFFIX,
  OPEN_SUFFIX,
  SEALED_SUFFIX,
  type ShedWindow,
} from './layout.js';
import { createPruner, escalateTier, type PruneReport } from './retention.js';
import { SEGMENT_MAGIC_V2, encodeFrameHeader, encodeRecord2Header, FRAME_HEAD, record2HeaderBytes, type FrameCodec } from './segment-format.js';
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
/** The largest batch one writev carries. */
const BATCH_BYTES = 4 * 1024 * 1024;
/**
 * A lane writes once this many bytes of records are queued, so that a frame holds several requests: each
 * frame has a fixed cost (a thread-pool task, a writev, and for zstd a fresh compression context: zstd on
 * one 290 KB request per call cost 1.4–1.9 µs/span vs 1.0 for eight). In the gateway requests arrive one
 * per event-loop turn, so without this frames held 1.1–1.5 requests; measured with requests paced as in
 * the gateway (`tee-micro --pace-ms 2 --fresh`): 2.6–3.3 µs/span, vs 2.1–2.3 at 1 MiB, 1.8–2.4 at 3 MiB.
 */
const FRAME_TARGET_BYTES = 3 * 1024 * 1024;
/** …and a record waits at most this long for others to share its frame (memory: bounded by bufferBytes). */
const LINGER_MS = 50;
/** After a failed write, a tenant's records are shed for this long before the next attempt. */
const WRITE_RETRY_MS = 1000;
const SYNC_INTERVAL_MS = 1000;
const SEAL_CONCURRENCY = 2;
const SEAL_CHUNK = 1024 * 1024;
/** Shed windows waiting to be appended to shed.jsonl per tenant (when even that fails). */
const MAX_PENDING_SHED_LINES = 1000;

interface Pending {
  offer: TeeOffer;
  tier: RetentionTier;
  bytes: number;
}

interface OpenSegment {
  tier: RetentionTier;
  path: string;
  handle: SegmentHandle;
  /** Bytes in the file (compressed frames). */
  size: number;
  /** Record bytes before compression: what rotation bounds (a capture reads a whole segment into memory). */
  rawSize: number;
  openedAt: number;
  lastSyncAt: number;
  dirty: boolean;
}

interface OpenShed extends ShedWindow {
  lastShedAt: number;
}

interface Lane {
  tenant: string;
  /** The tenant's metric label. */
  label: string;
  queue: Pending[];
  head: number;
  /** Bytes of the queued records (from head on). */
  queuedBytes: number;
  draining: boolean;
  /** Write whatever is queued, not only full frames (the linger time passed, or a flush). */
  force: boolean;
  linger?: NodeJS.Timeout;
  /** Serialises the lane's file work (drain, rotation, shed log). */
  chain: Promise<void>;
  open?: OpenSegment;
  nextSeq?: number;
  failedUntil: number;
  failReason: ShedReason;
  shed?: OpenShed;
  shedLines: string[];
  /** The batch being written right now (for the shutdown deadline). */
  writing?: Pending[];
}

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
  const zstdLevel = deps.zstdLevel ?? ZSTD_LEVEL;
  const frameTarget = deps.frameTargetBytes ?? FRAME_TARGET_BYTES;
  const escalated = escalateTier(config.tier, config.incidentTier);
  const lanes = new Map<string, Lane>();
  let bufferedBytes = 0;
  let diskBytes = 0;
  let closed = false;
  let ticker: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  const pruner = createPruner(
    { root, retentionMs: config.retentionMs, intervalMs: config.pruneIntervalMs },
    {
      metrics,
      logger,
      now,
      onPruned: (report) => {
        diskBytes = Math.max(0, diskBytes - report.bytesFreed);
        metrics.teeDiskBytes.set(diskBytes);
      },
    },
  );

  function lane(tenant: string): Lane {
    let l = lanes.get(tenant);
    if (!l) {
      l = { tenant, label: tenantLabel(tenant), queue: [], head: 0, queuedBytes: 0, draining: false, force: false, chain: Promise.resolve(), failedUntil: 0, failReason: 'write_error', shedLines: [] };
      lanes.set(tenant, l);
    }
    return l;
  }

  /** Runs `fn` after the lane's previous file work; errors are logged, never propagated. */
  function onLane(l: Lane, fn: () => Promise<void>): Promise<void> {
    l.chain = l.chain.then(fn).catch((err: unknown) => logger.error({ tenant: l.tenant, err: String(err) }, 'forensic tee: lane work failed'));
    return l.chain;
  }

  // ---- shedding ------------------------------------------------------------------------------------

  function shed(l: Lane, o: TeeOffer, bytes: number, reason: ShedReason): void {
    metrics.teeShedRecords.inc({ tenant: l.label, reason });
    let w = l.shed;
    if (w && w.reason !== reason) {
      endShedWindow(l);
      w = undefined;
    }
    if (!w) {
      w = l.shed = { fromMs: o.timeMs, toMs: o.timeMs, records: 0, bytes: 0, reason, lastShedAt: 0 };
      metrics.teeShedding.set({ tenant: l.label }, 1);
      logger.warn({ tenant: l.tenant, reason }, 'forensic tee: shedding records (the archive will have a gap)');
    }
    if (o.timeMs < w.fromMs) w.fromMs = o.timeMs;
    if (o.timeMs > w.toMs) w.toMs = o.timeMs;
    w.records++;
    w.bytes += bytes;
    w.lastShedAt = now();
  }

  /** Ends the lane's shed window; `sync` (the shutdown deadline, file work may be stuck) appends its line at once. */
  function endShedWindow(l: Lane, sync = false): void {
    const w = l.shed;
    if (!w) return;
    l.shed = undefined;
    metrics.teeShedding.set({ tenant: l.label }, 0);
    const line: ShedWindow = { fromMs: w.fromMs, toMs: w.toMs, records: w.records, bytes: w.bytes, reason: w.reason };
    logger.warn({ tenant: l.tenant, ...line }, 'forensic tee: shed window ended');
    if (l.shedLines.length >= MAX_PENDING_SHED_LINES) l.shedLines.shift();
    l.shedLines.push(`${JSON.stringify(line)}\n`);
    if (!sync) {
      void onLane(l, () => writeShedLines(l));
      return;
    }
    try {
      mkdirSync(tenantDir(root, l.tenant), { recursive: true });
      appendFileSync(shedLogPath(root, l.tenant), l.shedLines.join(''));
      l.shedLines = [];
    } catch (err) {
      logger.error({ tenant: l.tenant, err: String(err) }, 'forensic tee: cannot append to shed.jsonl at shutdown');
    }
  }

  async function writeShedLines(l: Lane): Promise<void> {
    if (l.shedLines.length === 0) return;
    const n = l.shedLines.length; // lines added while appending wait for the next call
    const text = l.shedLines.slice(0, n).join('');
    try {
      await mkdir(tenantDir(root, l.tenant), { recursive: true });
      await appendFile(shedLogPath(root, l.tenant), text);
      l.shedLines.splice(0, n);
    } catch (err) {
      // Kept in memory and retried on the next tick; a full disk often frees up after pruning.
      logger.error({ tenant: l.tenant, err: String(err) }, 'forensic tee: cannot append to shed.jsonl (will retry)');
    }
  }

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
    const l = lane(o.tenant);
    // The record format holds at most 255 ASCII bytes of version (versions are SHA-256 hex: 64).
    if (o.policyVersion.length > 255 || !/^[\x20-\x7e]*$/.test(o.policyVersion)) o = { ...o, policyVersion: o.policyVersion.replace(/[^\x20-\x7e]/g, '?').slice(0, 255) };
    const bytes = o.body.byteLength + RECORD_OVERHEAD + o.policyVersion.length;
    if (bufferedBytes + bytes > config.bufferBytes) return shed(l, o, bytes, 'buffer_full');
    if (diskBytes + bufferedBytes + bytes > config.maxBytes) return shed(l, o, bytes, 'disk_budget');
    if (l.failedUntil > 0 && now() < l.failedUntil) return shed(l, o, bytes, l.failReason);
    l.queue.push({ offer: o, tier, bytes });
    bufferedBytes += bytes;
    l.queuedBytes += bytes;
    scheduleDrain(l);
  }

  /** Starts the lane's writer once a frame's worth is queued (or it is forced); else arms the linger timer. */
  function scheduleDrain(l: Lane): void {
    if (l.draining || l.head === l.queue.length) return;
    if (l.force || l.queuedBytes >= frameTarget) {
      if (l.linger) clearTimeout(l.linger);
      l.linger = undefined;
      l.draining = true;
      // Deferred, so that offer() costs a push and requests of the same tick share one write.
      setImmediate(() => void onLane(l, () => drain(l)));
    } else if (!l.linger) {
      l.linger = setTimeout(() => {
        l.linger = undefined;
        l.force = true;
        scheduleDrain(l);
      }, LINGER_MS);
      l.linger.unref(); // flush() and close() force the write; a linger timer alone keeps nothing alive
    }
  }

  // ---- the writer ----------------------------------------------------------------------------------

  function takeBatch(l: Lane): Pending[] {
    const first = l.queue[l.head]!;
    const batch: Pending[] = [];
    let size = 0;
    while (l.head < l.queue.length) {
      const p = l.queue[l.head]!;
      if (p.tier !== first.tier || (batch.length > 0 && size + p.bytes > BATCH_BYTES)) break;
      batch.push(p);
      size += p.bytes;
      l.head++;
    }
    if (l.head === l.queue.length) {
      l.queue = [];
      l.head = 0;
    } else if (l.head > 1024) {
      l.queue = l.queue.slice(l.head);
      l.head = 0;
    }
    bufferedBytes -= size;
    l.queuedBytes -= size;
    return batch;
  }

  async function drain(l: Lane): Promise<void> {
    try {
      while (l.head < l.queue.length && (l.force || l.queuedBytes >= frameTarget)) {
        const batch = takeBatch(l);
        const size = batch.reduce((s, p) => s + p.bytes, 0);
        const shedAll = (reason: ShedReason): void => {
          for (const p of batch) shed(l, p.offer, p.bytes, reason);
        };
        if (l.failedUntil > 0 && now() < l.failedUntil) {
          shedAll(l.failReason);
          continue;
        }
        if (diskBytes + size > config.maxBytes) {
          shedAll('disk_budget');
          continue;
        }
        // Reserved before the await, so that concurrent lanes cannot together overrun the budget.
        diskBytes += size;
        let seg: OpenSegment;
        try {
          seg = await segmentFor(l, batch[0]!.tier, batch[0]!.offer.timeMs, size);
        } catch (err) {
          diskBytes -= size;
          writeFailed(l, err, 'cannot open a segment');
          shedAll('write_error');
          continue;
        }
        // The batch packed into one buffer (the compressor takes one input), then one frame.
        let total = 0;
        let rawBytes = 0;
        const pack = takePack(size);
        try {
          let at = 0;
          for (const { offer: o } of batch) {
            at = encodeRecord2Header({ signal: o.signal, items: o.items, timeMs: o.timeMs, policyVersion: o.policyVersion, payloadLength: o.body.byteLength }, pack, at);
            pack.set(o.body, at);
            at += o.body.byteLength;
          }
          let stored: Buffer;
          l.writing = batch;
          try {
            stored = await compress(pack.subarray(0, at));
          } catch (err) {
            l.writing = undefined;
            diskBytes -= size;
            logger.error({ tenant: l.tenant, err: String(err) }, 'forensic tee: compression failed');
            shedAll('write_error');
            continue;
          }
          const buffers = [encodeFrameHeader(codec, at, stored.length, crc32(stored)), stored];
          total = FRAME_HEAD + stored.length;
          rawBytes = at;
          try {
            const { bytesWritten } = await seg.handle.writev(buffers, seg.size);
            if (bytesWritten !== total) throw Object.assign(new Error(`short write (${bytesWritten} of ${total} bytes)`), { code: 'ENOSPC' });
          } catch (err) {
            l.writing = undefined;
            diskBytes -= size;
            writeFailed(l, err, 'write failed');
            shedAll('write_error');
            await abandonTail(l, seg);
            continue;
          }
        } finally {
          // Written (or given up): with codec none the pack itself was the frame, so not before now.
          givePack(pack);
        }
        l.writing = undefined;
        seg.size += total;
        seg.rawSize += rawBytes;
        seg.dirty = true;
        diskBytes += total - size; // reserved the uncompressed size; the frame is what landed
        l.failedUntil = 0;
        metrics.teeWrittenRecords.inc({ tenant: l.label }, batch.length);
        metrics.teeWrittenBytes.inc({ tenant: l.label }, total);
        if (now() - seg.lastSyncAt >= SYNC_INTERVAL_MS) await sync(l, seg);
      }
    } finally {
      // No await between the last emptiness check and this: a record offered now schedules a new drain.
      l.draining = false;
      if (l.head === l.queue.length) l.force = false;
      else scheduleDrain(l); // less than a frame left: it lingers (or is written now, when forced)
      metrics.teeBufferBytes.set(bufferedBytes);
      metrics.teeDiskBytes.set(diskBytes);
    }
  }

  function writeFailed(l: Lane, err: unknown, what: string): void {
    l.failedUntil = now() + WRITE_RETRY_MS;
    l.failReason = 'write_error';
    logger.error({ tenant: l.tenant, code: (err as NodeJS.ErrnoException).code, err: String(err) }, `forensic tee: ${what}; shedding for ${WRITE_RETRY_MS} ms`);
  }

  async function sync(l: Lane, seg: OpenSegment): Promise<void> {
    seg.lastSyncAt = now();
    if (!seg.dirty) return;
    seg.dirty = false;
    try {
      await seg.handle.datasync();
    } catch (err) {
      logger.error({ tenant: l.tenant, path: seg.path, err: String(err) }, 'forensic tee: fdatasync failed');
    }
  }

  /** After a failed append: cut the partial record off; if even that fails, seal the segment as it is (readers see a torn tail). */
  async function abandonTail(l: Lane, seg: OpenSegment): Promise<void> {
    try {
      await seg.handle.truncate(seg.size);
    } catch {
      await rotate(l);
    }
  }

  async function nextSeq(l: Lane): Promise<number> {
    if (l.nextSeq === undefined) {
      // Continue after the tenant's highest sequence on disk, so names stay unique across restarts.
      let max = -1;
      for (const tier of RETENTION_TIERS) {
        let names: string[] = [];
        try {
          names = await readdir(tierDir(root, l.tenant, tier));
        } catch {
          // no such tier yet
        }
        for (const n of names) max = Math.max(max, parseSegmentName(n)?.seq ?? -1);
      }
      l.nextSeq = max + 1;
    }
    const seq = l.nextSeq;
    l.nextSeq = (seq + 1) % 1_000_000;
    return seq;
  }

  /** The open segment to append `bytes` of `tier` records to: rotates on tier change, size and age. */
  async function segmentFor(l: Lane, tier: RetentionTier, firstTimeMs: number, bytes: number): Promise<OpenSegment> {
    const o = l.open;
    if (o) {
      const full = o.rawSize > 0 && o.rawSize + bytes > config.segment.maxBytes;
      if (o.tier === tier && !full && now() - o.openedAt < config.segment.maxAgeMs) return o;
      await rotate(l);
    }
    const dir = tierDir(root, l.tenant, tier);
    await mkdir(dir, { recursive: true });
    for (let attempt = 0; ; attempt++) {
      const path = join(dir, `${segmentBaseName(firstTimeMs, await nextSeq(l))}${OPEN_SUFFIX}`);
      let handle: SegmentHandle;
      try {
        handle = await openSegment(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 10) continue;
        throw err;
      }
      try {
        await handle.writev([SEGMENT_MAGIC_V2], 0);
      } catch (err) {
        await handle.close().catch(() => {});
        await unlink(path).catch(() => {});
        throw err;
      }
      const t = now();
      const seg: OpenSegment = { tier, path, handle, size: SEGMENT_MAGIC_V2.length, rawSize: 0, openedAt: t, lastSyncAt: t, dirty: true };
      diskBytes += seg.size;
      l.open = seg;
      return seg;
    }
  }

  /** Closes the lane's open segment and seals it: its frames are already compressed, so an fdatasync and a rename. */
  async function rotate(l: Lane): Promise<void> {
    const seg = l.open;
    if (!seg) return;
    l.open = undefined;
    await sync(l, seg);
    await seg.handle.close().catch((err: unknown) => logger.error({ path: seg.path, err: String(err) }, 'forensic tee: close failed'));
    await sealInPlace(seg.path, seg.tier);
  }

  /** `.segz.part` → `.segz`. A failure leaves the open name (readable as is); the next start tries again. */
  async function sealInPlace(path: string, tier: RetentionTier): Promise<void> {
    try {
      await rename(path, path.slice(0, -OPEN_SUFFIX.length) + SEALED_SUFFIX);
      metrics.teeSealedSegments.inc({ tier });
    } catch (err) {
      logger.error({ path, err: String(err) }, 'forensic tee: sealing (rename) failed; the segment stays open until the next start');
    }
  }

  // ---- compression ---------------------------------------------------------------------------------

  // Packing buffers, reused: a fresh multi-MiB buffer per batch costs page faults and GC work every time.
  // At most two are kept (lanes of different tenants pack at once), each at most twice BATCH_BYTES.
  const packPool: Buffer[] = [];
  function takePack(size: number): Buffer {
    const i = packPool.findIndex((b) => b.length >= size);
    if (i >= 0) return packPool.splice(i, 1)[0]!;
    return Buffer.allocUnsafeSlow(Math.max(size, 256 * 1024));
  }
  function givePack(b: Buffer): void {
    if (packPool.length < 2 && b.length <= 2 * BATCH_BYTES) packPool.push(b);
  }

  /** Compresses one frame on the libuv thread pool (never on the event loop). */
  function compress(raw: Buffer): Promise<Buffer> {
    if (codec === 'none') return Promise.resolve(raw);
    // Output chunks sized to the expected output: zlib's 16 KiB default costs measurably more per byte.
    const chunkSize = Math.min(1 << 20, Math.max(16 * 1024, raw.length >>> 1));
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, out: Buffer) => (err ? reject(err) : resolve(out));
      if (codec === 'deflate') deflateRaw(raw, { level: config.segment.gzipLevel, chunkSize }, done);
      else if (codec === 'zstd') zstd!.zstdCompress(raw, { chunkSize, params: { [zstd!.constants.ZSTD_c_compressionLevel]: zstdLevel } }, done);
      // Quality 0 is brotli's fastest (measured on the bench's spans: cheaper per byte than deflate
      // level 1, lz4-napi or snappy, and a better ratio; README "Forensic archive").
      else brotliCompress(raw, { chunkSize, params: { [zc.BROTLI_PARAM_QUALITY]: 0, [zc.BROTLI_PARAM_SIZE_HINT]: raw.length } }, done);
    });
  }

  // ---- sealing -------------------------------------------------------------------------------------

  const sealQueue: Array<{ path: string; tier: RetentionTier; size: number }> = [];
  let sealing = 0;
  let sealIdle: Array<() => void> = [];

  function enqueueSeal(path: string, tier: RetentionTier, size: number): void {
    sealQueue.push({ path, tier, size });
    pumpSeals();
  }

  function pumpSeals(): void {
    while (sealing < SEAL_CONCURRENCY && sealQueue.length > 0) {
      const job = sealQueue.shift()!;
      sealing++;
      void seal(job.path, job.tier, job.size).finally(() => {
        sealing--;
        pumpSeals();
        if (sealing === 0 && sealQueue.length === 0) {
          const waiters = sealIdle;
          sealIdle = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  function sealsDone(): Promise<void> {
    if (sealing === 0 && sealQueue.length === 0) return Promise.resolve();
    return new Promise((resolve) => sealIdle.push(resolve));
  }

  /** Legacy (format 1) segments: gzip (zlib on the libuv thread pool, streamed: memory stays small) → fsync → rename → unlink. */
  async function seal(path: string, tier: RetentionTier, size: number): Promise<void> {
    const sealed = path.slice(0, -LEGACY_OPEN_SUFFIX.length) + LEGACY_SEALED_SUFFIX;
    const tmp = `${sealed}.tmp`;
    try {
      // 1 MiB chunks: with the stream defaults (64 KiB reads, 16 KiB zlib output) the per-chunk overhead
      // cost more CPU than the compression itself (measured: 4.3 vs 0.9 µs per archived span at level 0).
      await pipeline(
        createReadStream(path, { highWaterMark: SEAL_CHUNK }),
        createGzip({ level: config.segment.gzipLevel, chunkSize: SEAL_CHUNK }),
        createWriteStream(tmp, { highWaterMark: SEAL_CHUNK }),
      );
      const h = await open(tmp, 'r+');
      try {
        await h.sync();
      } finally {
        await h.close();
      }
      const gzSize = (await stat(tmp)).size;
      await rename(tmp, sealed);
      await unlink(path);
      diskBytes += gzSize - size;
      metrics.teeDiskBytes.set(diskBytes);
      metrics.teeSealedSegments.inc({ tier });
    } catch (err) {
      // The .seg stays (readable as is); the next start seals it again.
      await unlink(tmp).catch(() => {});
      logger.error({ path, err: String(err) }, 'forensic tee: sealing failed; the segment stays unsealed until the next start');
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------------------

  function tick(): void {
    const t = now();
    for (const l of lanes.values()) {
      if (l.shed && t - l.shed.lastShedAt >= shedQuietMs) endShedWindow(l);
      else if (l.shedLines.length > 0) void onLane(l, () => writeShedLines(l));
      const seg = l.open;
      if (seg && !l.draining && t - seg.openedAt >= config.segment.maxAgeMs) {
        void onLane(l, async () => {
          if (l.open === seg && now() - seg.openedAt >= config.segment.maxAgeMs) await rotate(l);
        });
      } else if (seg && !l.draining && seg.dirty && t - seg.lastSyncAt >= SYNC_INTERVAL_MS) {
        void onLane(l, () => sync(l, seg));
      }
    }
    metrics.teeBufferBytes.set(bufferedBytes);
  }

  async function flush(): Promise<void> {
    // Twice: the first pass may end shed windows, whose lines are written by the second.
    for (let pass = 0; pass < 2; pass++) {
      // Lingering records are written now (a running drain sees the flag and writes the rest too).
      for (const l of lanes.values()) {
        if (l.head === l.queue.length) continue;
        l.force = true;
        scheduleDrain(l);
      }
      await new Promise<void>((r) => setImmediate(r)); // let deferred drains get onto their chains
      await Promise.all([...lanes.values()].map((l) => onLane(l, async () => {})));
      for (const l of lanes.values()) if (l.shed) endShedWindow(l);
    }
  }

  async function sealAll(): Promise<void> {
    await flush();
    await Promise.all([...lanes.values()].map((l) => onLane(l, () => rotate(l))));
    await sealsDone();
  }

  async function start(): Promise<void> {
    // No mkdir here: a gateway that never tees leaves no forensic dir behind.
    // Leftovers of a crash mid-seal go first (a new seal must not find its temp file removed under it).
    await Promise.all(removeSealTemps(listSegments(root)));
    const segments = listSegments(root);
    diskBytes = segments.reduce((s, seg) => s + seg.bytes, 0);
    metrics.teeDiskBytes.set(diskBytes);
    for (const seg of segments) {
      if (seg.sealed) continue;
      // A format-2 segment left open keeps what it has (a torn last frame is reported by readers).
      if (seg.format === 2) await sealInPlace(seg.path, seg.tier);
      else enqueueSeal(seg.path, seg.tier, seg.bytes);
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
      for (const l of lanes.values()) {
        if (incident.scope !== FLEET && incident.scope !== l.tenant) continue;
        const seg = l.open;
        if (seg && seg.tier === escalated && !incidents.isActive(l.tenant)) {
          void onLane(l, async () => {
            if (l.open === seg) await rotate(l);
          });
        }
      }
    });
    if (segments.length > 0) logger.info({ root, segments: segments.length, diskBytes, resealing: segments.filter((s) => !s.sealed).length }, 'forensic archive found');
  }

  /**
   * Cleans up after a crash mid-seal: `.seg.gz.tmp` files (the seal starts again from the `.seg`), and a
   * `.seg` whose `.seg.gz` is already in place (the crash fell between the rename and the unlink).
   */
  function removeSealTemps(segments: ReturnType<typeof listSegments>): Promise<void>[] {
    const dirs = new Set(segments.map((s) => join(s.path, '..')));
    return [...dirs].map(async (dir) => {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const n of names) {
        const leftover = n.endsWith(`${LEGACY_SEALED_SUFFIX}.tmp`) || (n.endsWith(LEGACY_OPEN_SUFFIX) && names.includes(`${n}.gz`));
        if (leftover) await unlink(join(dir, n)).catch(() => {});
      }
    });
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
      for (const l of lanes.values()) {
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
          bufferedBytes -= p.bytes;
          l.queuedBytes -= p.bytes;
        }
        endShedWindow(l, true);
      }
      // Only a deadline that cost records is worth a warning (a start-up that failed closes with 0 ms).
      if (shedRecords > 0) logger.warn({ deadlineMs, shedRecords }, 'forensic tee: shutdown deadline reached before everything was sealed');
    }
    metrics.teeBufferBytes.set(bufferedBytes);
  }

  return {
    offer,
    isTeed: (tenant) => tierOf(tenant) !== undefined,
    start,
    flush,
    sealAll,
    prune: () => pruner.run(),
    close,
    stats: () => ({ bufferedBytes, diskBytes, openSegments: [...lanes.values()].filter((l) => l.open).length, sealing: sealing + sealQueue.length }),
    root,
  };
}
