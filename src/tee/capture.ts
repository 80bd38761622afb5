// Capture: cut a tenant's window out of the forensic archive into a signed bundle. Records are selected
// by receive time in [fromMs, toMs) and by signal, and re-encoded into one chunk per source segment, so
// the chunk bytes depend only on the records (not on whether the segment was open or sealed, nor on
// records outside the window). Before reading, a hold is written so the pruner keeps the window's
// segments while the capture runs (and for `holdMs` after).
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Signer, Witness } from '@sigstore/sign';
import { SIGNALS, type Signal } from '../signals.js';
import { assembleBundle, CHUNKS_DIR } from './bundle.js';
import { childPath, holdsDir, listSegments, readShedWindows, segmentStem, tenantDir, UnsafeTenantPathError, type Hold } from './layout.js';
import { FLEET } from '../incident/types.js';
import { buildManifest, canonicalJson, zeroCounts, type Manifest, type ManifestChunk } from './manifest.js';
import { encodeRecord, readSegmentFile, SEGMENT_MAGIC, type DecodeOptions } from './segment-format.js';
import { signArtifact } from './sign.js';
import type { TarEntry } from './tar.js';


/** A segment uses a frame codec this Node cannot decode (zstd before Node 22.15): the capture stops rather than sign a bundle with records missing. */
export class CodecUnavailableError extends Error {
  override name = 'CodecUnavailableError';
}

export interface CaptureOptions {
  /** The archive root (`${dataDir}/forensic`). */
  root: string;
  tenant: string;
  fromMs: number;
  toMs: number;
  signals: readonly Signal[];
  profile: string;
  signer: Signer;
  /** Rekor/TSA witnesses (keyless signing); none for the offline key. */
  witnesses?: Witness[];
  /** How long the hold outlives the capture (default 7 days); null = until deleted. */
  holdMs?: number | null;
  now?: () => number;
  /** Called after each segment is read. */
  onProgress?: (done: number, total: number) => void;
  /** How segments are decoded (tests: as on a Node without zstd). */
  decode?: DecodeOptions;
}

export interface CaptureResult {
  bundle: Buffer;
  manifest: Manifest;
  manifestBytes: Buffer;
  /** hex SHA-256 of manifest.json. */
  manifestSha256: string;
  /** Segments that were damaged (torn tail or bad CRC): their intact records were used. */
  warnings: string[];
  holdPath: string;
}

export const DEFAULT_HOLD_MS = 7 * 86_400_000;

function holdName(tenant: string, fromMs: number, toMs: number): string {
  return `capture-${tenant}-${fromMs}-${toMs}.json`;
}

/** Writes (atomically) the hold that keeps the window from being pruned. */
export function writeHold(root: string, hold: Hold): string {
  // The tenant is part of the file name: only a tenant id (or the fleet) may get there.
  if (hold.tenant !== FLEET) tenantDir(root, hold.tenant);
  if (!Number.isSafeInteger(hold.fromMs) || !Number.isSafeInteger(hold.toMs)) throw new RangeError(`hold: bad window ${hold.fromMs} .. ${hold.toMs}`);
  const dir = holdsDir(root);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = childPath(dir, holdName(hold.tenant, hold.fromMs, hold.toMs));
  writeFileSync(`${path}.tmp`, `${JSON.stringify(hold)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return path;
}

export async function captureWindow(o: CaptureOptions): Promise<CaptureResult> {
  if (!(o.fromMs < o.toMs)) throw new RangeError(`capture window: from (${o.fromMs}) must be before to (${o.toMs})`);
  // Callers validate with parseCaptureRequest (./capture-request.ts); this is the last line of defence.
  if (o.tenant === FLEET) throw new UnsafeTenantPathError('capture: the fleet is not a tenant');
  tenantDir(o.root, o.tenant);
  const now = o.now ?? Date.now;
  const holdMs = o.holdMs === undefined ? DEFAULT_HOLD_MS : o.holdMs;
  const holdPath = writeHold(o.root, {
    tenant: o.tenant,
    fromMs: o.fromMs,
    toMs: o.toMs,
    expiresAt: holdMs === null ? null : new Date(now() + holdMs).toISOString(),
  });
  const wanted = new Set(o.signals);
  const segments = listSegments(o.root, { tenant: o.tenant });
  const chunks: ManifestChunk[] = [];
  const entries: TarEntry[] = [];
  const warnings: string[] = [];
  for (const [i, seg] of segments.entries()) {
    // Reads are synchronous (segments are bounded by the tee's rotation size); yield between segments so
    // a capture through the admin API does not hold the gateway's event loop for the whole window.
    if (i > 0) await new Promise<void>((res) => setImmediate(res));
    // A segment's first record time is in its name; segments starting at or after `toMs` hold nothing of the window.
    if (seg.firstRecordTimeMs >= o.toMs) {
      o.onProgress?.(i + 1, segments.length);
      continue;
    }
    let decoded;
    try {
      decoded = readSegmentFile(seg.path, o.decode);
    } catch (err) {
      // Pruned or sealed between listing and reading (the hold protects the window; a seal renames).
      warnings.push(`${seg.tier}/${basename(seg.path)}: unreadable (${(err as Error).message})`);
      o.onProgress?.(i + 1, segments.length);
      continue;
    }
    // Not damage: data this Node cannot read (zstd frames on Node < 22.15). A bundle without it would be
    // signed as if complete, so the capture fails, naming the codec and the Node version that reads it.
    if (!decoded.ok && decoded.unavailableCodec) {
      throw new CodecUnavailableError(`${seg.tier}/${basename(seg.path)}: ${decoded.reason} (offset ${decoded.offset}); nothing was captured`);
    }
    if (!decoded.ok) warnings.push(`${seg.tier}/${basename(seg.path)}: ${decoded.reason} at offset ${decoded.offset}; kept the ${decoded.records.length} records before it`);
    const kept = decoded.records.filter((r) => r.timeMs >= o.fromMs && r.timeMs < o.toMs && wanted.has(r.signal));
    if (kept.length > 0) {
      const data = Buffer.concat([SEGMENT_MAGIC, ...kept.map(encodeRecord)]);
      // Chunks are format-1 `.seg` files whatever the archive's format, so the bundle does not depend on it.
      const name = `${segmentStem(basename(seg.path))}.seg`;
      const path = `${CHUNKS_DIR}${seg.tier}/${name}`;
      const records = zeroCounts();
      const items = zeroCounts();
      for (const r of kept) {
        records[r.signal]++;
        items[r.signal] += r.items;
      }
      chunks.push({
        path,
        source: `${seg.tier}/${name}`,
        tier: seg.tier,
        sha256: createHash('sha256').update(data).digest('hex'),
        size: data.length,
        records,
        items,
        firstRecordMs: Math.min(...kept.map((r) => r.timeMs)),
        lastRecordMs: Math.max(...kept.map((r) => r.timeMs)),
        policyVersions: [...new Set(kept.map((r) => r.policyVersion))].sort(),
      });
      entries.push({ name: path, data });
    }
    o.onProgress?.(i + 1, segments.length);
  }
  // An open segment and its sealed twin are listed once (listSegments); names are unique per tier.
  const order = chunks.map((c, i) => [c, entries[i]!] as const).sort((a, b) => (a[0].path < b[0].path ? -1 : a[0].path > b[0].path ? 1 : 0));
  const shed = readShedWindows(o.root, o.tenant)
    .filter((w) => w.fromMs < o.toMs && w.toMs >= o.fromMs)
    .sort((a, b) => a.fromMs - b.fromMs || a.toMs - b.toMs);
  const manifest = buildManifest({
    tenant: o.tenant,
    profile: o.profile,
    fromMs: o.fromMs,
    toMs: o.toMs,
    signals: SIGNALS.filter((s) => wanted.has(s)),
    chunks: order.map(([c]) => c),
    shed,
  });
  const manifestBytes = Buffer.from(canonicalJson(manifest), 'utf8');
  const signature = Buffer.from(canonicalJson(await signArtifact(manifestBytes, o.signer, o.witnesses ?? [])), 'utf8');
  const bundle = assembleBundle({ manifest: manifestBytes, signature, chunks: order.map(([, e]) => e) });
  return {
    bundle,
    manifest,
    manifestBytes,
    manifestSha256: createHash('sha256').update(manifestBytes).digest('hex'),
    warnings,
    holdPath,
  };
}
