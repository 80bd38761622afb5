// The tee's per-tenant lanes (queue, open segment, shed window) and the byte accounting every part of
// the tee shares (buffered and on-disk bytes, published as gauges).
import type { RetentionTier } from '../config/sections/forensic.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { ShedWindow } from './layout.js';
import type { SegmentHandle, ShedReason, TeeOffer } from './tee.js';

export interface Pending {
  offer: TeeOffer;
  tier: RetentionTier;
  bytes: number;
}

export interface OpenSegment {
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

export interface OpenShed extends ShedWindow {
  lastShedAt: number;
}

export interface Lane {
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

export interface Lanes {
  /** The tenant's lane, created on first use. */
  get(tenant: string): Lane;
  all(): IterableIterator<Lane>;
  /** Runs `fn` after the lane's previous file work; errors are logged, never propagated. */
  onLane(l: Lane, fn: () => Promise<void>): Promise<void>;
}

export function createLanes(tenantLabel: (tenant: string) => string, logger: Logger): Lanes {
  const lanes = new Map<string, Lane>();
  return {
    get(tenant) {
      let l = lanes.get(tenant);
      if (!l) {
        l = { tenant, label: tenantLabel(tenant), queue: [], head: 0, queuedBytes: 0, draining: false, force: false, chain: Promise.resolve(), failedUntil: 0, failReason: 'write_error', shedLines: [] };
        lanes.set(tenant, l);
      }
      return l;
    },
    all: () => lanes.values(),
    onLane(l, fn) {
      l.chain = l.chain.then(fn).catch((err: unknown) => logger.error({ tenant: l.tenant, err: String(err) }, 'forensic tee: lane work failed'));
      return l.chain;
    },
  };
}

/** Bytes the tee holds in memory and on disk, against forensic.bufferBytes and forensic.maxBytes. */
export interface TeeAccounting {
  /** Records queued in the lanes, not yet taken by a writer. */
  bufferedBytes: number;
  /** The archive's size on disk, with the batches being written reserved. */
  diskBytes: number;
  /** Sets tee_buffer_bytes. */
  publishBuffer(): void;
  /** Sets tee_disk_bytes. */
  publishDisk(): void;
}

export function createAccounting(metrics: GatewayMetrics): TeeAccounting {
  const a: TeeAccounting = {
    bufferedBytes: 0,
    diskBytes: 0,
    publishBuffer: () => metrics.teeBufferBytes.set(a.bufferedBytes),
    publishDisk: () => metrics.teeDiskBytes.set(a.diskBytes),
  };
  return a;
}
