// Segment files: opening a lane's segment (unique names across restarts), rotation by tier, size and
// age, the fdatasync policy, and cutting off a torn tail after a failed append.
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ForensicConfig, RetentionTier } from '../config/sections/forensic.js';
import { RETENTION_TIERS } from '../config/sections/forensic.js';
import type { Logger } from '../telemetry/logger-types.js';
import { parseSegmentName, segmentBaseName, tierDir, OPEN_SUFFIX } from './layout.js';
import { SEGMENT_MAGIC_V2 } from './segment-format.js';
import type { SegmentHandle } from './tee.js';
import type { Lane, OpenSegment, TeeAccounting } from './tee-lanes.js';
import type { Sealing } from './tee-sealing.js';

/** The open segment is fdatasync'ed at most this often while written to. */
export const SYNC_INTERVAL_MS = 1000;

export interface Segments {
  /** The open segment to append `bytes` of `tier` records to: rotates on tier change, size and age. */
  segmentFor(l: Lane, tier: RetentionTier, firstTimeMs: number, bytes: number): Promise<OpenSegment>;
  /** Closes the lane's open segment and seals it: its frames are already compressed, so an fdatasync and a rename. */
  rotate(l: Lane): Promise<void>;
  /** fdatasync of a segment written to since the last one (a failure is logged). */
  sync(l: Lane, seg: OpenSegment): Promise<void>;
  /** After a failed append: cut the partial record off; if even that fails, seal the segment as it is (readers see a torn tail). */
  abandonTail(l: Lane, seg: OpenSegment): Promise<void>;
}

export function createSegments(deps: {
  root: string;
  segment: ForensicConfig['segment'];
  openSegment: (path: string) => Promise<SegmentHandle>;
  now: () => number;
  logger: Logger;
  accounting: TeeAccounting;
  sealing: Sealing;
}): Segments {
  const { root, segment, openSegment, now, logger, accounting, sealing } = deps;

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

  async function segmentFor(l: Lane, tier: RetentionTier, firstTimeMs: number, bytes: number): Promise<OpenSegment> {
    const o = l.open;
    if (o) {
      const full = o.rawSize > 0 && o.rawSize + bytes > segment.maxBytes;
      if (o.tier === tier && !full && now() - o.openedAt < segment.maxAgeMs) return o;
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
      accounting.diskBytes += seg.size;
      l.open = seg;
      return seg;
    }
  }

  async function rotate(l: Lane): Promise<void> {
    const seg = l.open;
    if (!seg) return;
    l.open = undefined;
    await sync(l, seg);
    await seg.handle.close().catch((err: unknown) => logger.error({ path: seg.path, err: String(err) }, 'forensic tee: close failed'));
    await sealing.sealInPlace(seg.path, seg.tier);
  }

  return { segmentFor, rotate, sync, abandonTail };
}
