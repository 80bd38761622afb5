// The manifest of a forensic bundle: canonical JSON (keys sorted at every level, two-space indent, one
// trailing newline; DESIGN.md decision 8), so the same window of the same archive always gives the same
// bytes. It holds no wall-clock time except recorded ones (record times, the requested window).
import type { RetentionTier } from '../config/sections/forensic.js';
import type { Signal } from '../signals.js';
import type { ShedWindow } from './layout.js';

export const MANIFEST_FORMAT = 'stella.forensic.manifest/v1';

export interface ManifestChunk {
  /** Path inside the bundle, e.g. `chunks/forensic/1764400000000-000001.seg`. */
  path: string;
  /** The archive segment it was cut from (`<tier>/<name>`). */
  source: string;
  tier: RetentionTier;
  sha256: string;
  size: number;
  /** Records per signal, and items (spans, data points, log records) per signal. */
  records: Record<Signal, number>;
  items: Record<Signal, number>;
  firstRecordMs: number;
  lastRecordMs: number;
  policyVersions: string[];
}

export interface Manifest {
  format: string;
  tenant: string;
  profile: string;
  window: { fromMs: number; toMs: number; from: string; to: string };
  signals: Signal[];
  /** Every tier and policy version of the chunks (sorted). */
  retentionTiers: RetentionTier[];
  policyVersions: string[];
  chunks: ManifestChunk[];
  /** Windows the tee shed (dropped) that overlap the capture window: the archive is incomplete there. */
  shed: ShedWindow[];
  totals: { chunks: number; bytes: number; records: Record<Signal, number>; items: Record<Signal, number> };
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Canonical JSON: sorted keys, two-space indent, "\n" at the end. */
export function canonicalJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

export interface ManifestInput {
  tenant: string;
  profile: string;
  fromMs: number;
  toMs: number;
  signals: readonly Signal[];
  chunks: ManifestChunk[];
  shed: ShedWindow[];
}

export const zeroCounts = (): Record<Signal, number> => ({ traces: 0, metrics: 0, logs: 0 });

export function buildManifest(input: ManifestInput): Manifest {
  const records = zeroCounts();
  const items = zeroCounts();
  for (const c of input.chunks) {
    for (const s of Object.keys(records) as Signal[]) {
      records[s] += c.records[s];
      items[s] += c.items[s];
    }
  }
  return {
    format: MANIFEST_FORMAT,
    tenant: input.tenant,
    profile: input.profile,
    window: { fromMs: input.fromMs, toMs: input.toMs, from: new Date(input.fromMs).toISOString(), to: new Date(input.toMs).toISOString() },
    signals: [...input.signals],
    retentionTiers: [...new Set(input.chunks.map((c) => c.tier))].sort(),
    policyVersions: [...new Set(input.chunks.flatMap((c) => c.policyVersions))].sort(),
    chunks: input.chunks,
    shed: input.shed.map((w) => ({ fromMs: w.fromMs, toMs: w.toMs, records: w.records, bytes: w.bytes, reason: w.reason })),
    totals: { chunks: input.chunks.length, bytes: input.chunks.reduce((n, c) => n + c.size, 0), records, items },
  };
}

/** Parses and shape-checks a manifest (after its signature verified, so this guards against our own bugs and old formats). */
export function parseManifest(bytes: Uint8Array): { ok: true; manifest: Manifest } | { ok: false; reason: string } {
  let m: Manifest;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest;
  } catch (err) {
    return { ok: false, reason: `manifest.json is not JSON: ${(err as Error).message}` };
  }
  if (m?.format !== MANIFEST_FORMAT) return { ok: false, reason: `manifest.json: expected format ${MANIFEST_FORMAT}` };
  if (!Array.isArray(m.chunks) || m.chunks.some((c) => typeof c?.path !== 'string' || typeof c.sha256 !== 'string' || typeof c.size !== 'number')) {
    return { ok: false, reason: 'manifest.json: chunks must list path, sha256 and size' };
  }
  return { ok: true, manifest: m };
}
