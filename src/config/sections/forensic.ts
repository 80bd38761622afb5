// The `forensic` section of the config file: the tee that archives processed telemetry per tenant
// (src/tee/tee.ts) and the retention of its segments (src/tee/retention.ts). Called by ../validate.ts.
//
//   forensic:
//     mode: incident          # off | incident (tee a tenant while it is in incident mode) | always
//     dir: ./data/forensic     # default `${dataDir}/forensic`
//     maxBytes: 10GiB          # disk budget of the whole archive dir; beyond it the tee sheds
//     bufferBytes: 64MiB       # records offered but not yet written, all tenants; beyond it the tee sheds
//     segment: { maxBytes: 64MiB, maxAge: 10m, compression: auto, gzipLevel: 1 }
//     tier: default            # tier of segments written outside incidents
//     incidentTier: forensic   # tier of segments written while the tenant (or fleet) is in incident
//     retention: { default: 7d, forensic: 90d, airgap: 365d }
//     pruneInterval: 10m
//     captures:                # bundles written by POST /admin/v1/captures and limits of every capture (docs/guides/captures.md)
//       maxWindow: 7d          # longest window one capture may cover (after clamping to the archive's first record)
//       maxFutureSkew: 5m      # how far past now `to` may lie (clock skew between operator and gateway)
//       retention: 7d          # bundles in ${dataDir}/captures older than this are deleted
//       maxCount: 100          # … and beyond this many (oldest first)
//       maxBytes: 10GiB        # … and beyond this many bytes (oldest first)
import type { RawConfig } from '../profiles.js';
import type { Reader } from '../validate.js';
import { zstdAvailable, ZSTD_NODE_VERSIONS } from '../../tee/zstd-support.js';

export type ForensicMode = 'off' | 'incident' | 'always';
export const FORENSIC_MODES: readonly ForensicMode[] = ['off', 'incident', 'always'];

/** Retention tiers, shortest-lived first (the order escalation follows). */
export type RetentionTier = 'default' | 'forensic' | 'airgap';
export const RETENTION_TIERS: readonly RetentionTier[] = ['default', 'forensic', 'airgap'];

/** How the tee compresses segment frames while writing (src/tee/segment-format.ts; costs in README "Forensic archive"). */
export type SegmentCompression = 'auto' | 'zstd' | 'brotli' | 'deflate' | 'none';
export const SEGMENT_COMPRESSIONS: readonly SegmentCompression[] = ['auto', 'zstd', 'brotli', 'deflate', 'none'];
/** What `auto` means on this Node: zstd where node:zlib has it (feature-detected), else brotli quality 0. */
export function resolveSegmentCompression(c: SegmentCompression, hasZstd = zstdAvailable()): Exclude<SegmentCompression, 'auto'> {
  return c === 'auto' ? (hasZstd ? 'zstd' : 'brotli') : c;
}

export interface ForensicConfig {
  mode: ForensicMode;
  /** The archive directory; undefined = `${dataDir}/forensic` (see forensicDir in src/tee/layout.ts). */
  dir?: string;
  /** Disk budget for everything under the archive dir (open and sealed segments). */
  maxBytes: number;
  /** Bound of the in-memory buffer between offer() and the writer, across tenants. */
  bufferBytes: number;
  segment: {
    /** Rotate (seal) the open segment once it holds this many bytes of records (uncompressed: bounds what a capture reads into memory). */
    maxBytes: number;
    /** Rotate the open segment once it is this old, even when idle (so recent data gets sealed). */
    maxAgeMs: number;
    /**
     * Codec of each written frame: `auto` (default) = zstd where node:zlib has it (Node >= 22.15), else
     * brotli quality 0; zstd (fast level, see src/tee/tee.ts); brotli quality 0; deflate at gzipLevel; none.
     */
    compression: SegmentCompression;
    /** zlib level of `deflate` frames, and of legacy (v1 `.seg`) segments sealed to `.seg.gz` at start-up. */
    gzipLevel: number;
  };
  tier: RetentionTier;
  incidentTier: RetentionTier;
  /** How long sealed segments of each tier are kept. */
  retentionMs: Record<RetentionTier, number>;
  /** How often the pruner runs. */
  pruneIntervalMs: number;
  /** Limits of captures (CLI and admin API) and retention of the bundles the admin API writes. */
  captures: CaptureLimitsConfig;
}

export interface CaptureLimitsConfig {
  /** Longest window (to - from) one capture may cover, measured after `from` is clamped to the archive's first record. */
  maxWindowMs: number;
  /** How far past now `to` may lie. */
  maxFutureSkewMs: number;
  /** Bundles in the captures dir older than this are deleted (at start-up, periodically, after each capture). */
  retentionMs: number;
  /** At most this many bundles are kept (oldest deleted first). */
  maxCount: number;
  /** At most this many bytes of bundles are kept (oldest deleted first). */
  maxBytes: number;
}

const MiB = 1024 * 1024;
const DAY = 86_400_000;

export const DEFAULT_FORENSIC: ForensicConfig = {
  mode: 'incident',
  maxBytes: 10 * 1024 * MiB,
  bufferBytes: 64 * MiB,
  segment: { maxBytes: 64 * MiB, maxAgeMs: 600_000, compression: 'auto', gzipLevel: 1 },
  tier: 'default',
  incidentTier: 'forensic',
  retentionMs: { default: 7 * DAY, forensic: 90 * DAY, airgap: 365 * DAY },
  pruneIntervalMs: 600_000,
  captures: { maxWindowMs: 7 * DAY, maxFutureSkewMs: 300_000, retentionMs: 7 * DAY, maxCount: 100, maxBytes: 10 * 1024 * MiB },
};

export function readForensic(r: Reader, value: unknown): ForensicConfig {
  const D = DEFAULT_FORENSIC;
  const s: RawConfig = r.section('forensic', value, [
    'mode',
    'dir',
    'maxBytes',
    'bufferBytes',
    'segment',
    'tier',
    'incidentTier',
    'retention',
    'pruneInterval',
    'captures',
  ]);
  const cap: RawConfig = r.section('forensic.captures', s.captures, ['maxWindow', 'maxFutureSkew', 'retention', 'maxCount', 'maxBytes']);
  const seg: RawConfig = r.section('forensic.segment', s.segment, ['maxBytes', 'maxAge', 'compression', 'gzipLevel']);
  const ret: RawConfig = r.section('forensic.retention', s.retention, RETENTION_TIERS);
  const config: ForensicConfig = {
    mode: r.oneOf('forensic.mode', s.mode, D.mode, FORENSIC_MODES),
    maxBytes: r.size('forensic.maxBytes', s.maxBytes, D.maxBytes, 64 * 1024),
    bufferBytes: r.size('forensic.bufferBytes', s.bufferBytes, D.bufferBytes, 64 * 1024),
    segment: {
      maxBytes: r.size('forensic.segment.maxBytes', seg.maxBytes, D.segment.maxBytes, 4096),
      maxAgeMs: r.duration('forensic.segment.maxAge', seg.maxAge, D.segment.maxAgeMs, 100),
      compression: r.oneOf('forensic.segment.compression', seg.compression, D.segment.compression, SEGMENT_COMPRESSIONS),
      gzipLevel: r.int('forensic.segment.gzipLevel', seg.gzipLevel, D.segment.gzipLevel, 0, 9),
    },
    tier: r.oneOf('forensic.tier', s.tier, D.tier, RETENTION_TIERS),
    incidentTier: r.oneOf('forensic.incidentTier', s.incidentTier, D.incidentTier, RETENTION_TIERS),
    retentionMs: {
      default: r.duration('forensic.retention.default', ret.default, D.retentionMs.default),
      forensic: r.duration('forensic.retention.forensic', ret.forensic, D.retentionMs.forensic),
      airgap: r.duration('forensic.retention.airgap', ret.airgap, D.retentionMs.airgap),
    },
    pruneIntervalMs: r.duration('forensic.pruneInterval', s.pruneInterval, D.pruneIntervalMs, 1000),
    captures: {
      maxWindowMs: r.duration('forensic.captures.maxWindow', cap.maxWindow, D.captures.maxWindowMs, 1000),
      maxFutureSkewMs: r.duration('forensic.captures.maxFutureSkew', cap.maxFutureSkew, D.captures.maxFutureSkewMs, 0),
      retentionMs: r.duration('forensic.captures.retention', cap.retention, D.captures.retentionMs, 1000),
      maxCount: r.int('forensic.captures.maxCount', cap.maxCount, D.captures.maxCount, 1, 1_000_000),
      maxBytes: r.size('forensic.captures.maxBytes', cap.maxBytes, D.captures.maxBytes, 1024 * 1024),
    },
  };
  // Fail at start-up, not at the first write: an explicit zstd on a Node without it is a config error.
  if (config.segment.compression === 'zstd' && !zstdAvailable()) {
    r.fail('forensic.segment.compression', `zstd needs node:zlib zstd (${ZSTD_NODE_VERSIONS}); this is Node ${process.versions.node}: use auto (zstd where available, else brotli) or brotli`);
  }
  const dir = s.dir === undefined || s.dir === null ? undefined : r.string('forensic.dir', s.dir, '');
  if (dir) config.dir = dir;
  return config;
}
