// Replay: send the records of a verified bundle to an OTLP backend, in receive-time order (ties keep
// archive order), one Export*ServiceRequest per archived record, at most `ratePerSec` requests per
// second. Each record is retried while the backend answers retryably (honouring its retry hint), so
// a sealed environment can load the archive into its own backends without losing records.
import type { Transport } from '../export/transport.js';
import type { Signal } from '../signals.js';
import type { Manifest } from './manifest.js';
import { decodeSegment, type SegmentRecord } from './segment-format.js';

export interface ReplayOptions {
  manifest: Manifest;
  /** Verified chunk bytes by path (verifyBundle's `chunks`). */
  chunks: Map<string, Uint8Array>;
  transport: Transport;
  /** Requests per second; 0 or absent = as fast as the backend answers. */
  ratePerSec?: number;
  /** Attempts per record before giving up (default 5). */
  maxAttempts?: number;
  onProgress?: (sent: number, total: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

export type ReplayResult =
  | { ok: true; records: number; items: Record<Signal, number> }
  | { ok: false; sent: number; total: number; message: string };

/** The bundle's records in replay order. */
export function bundleRecords(manifest: Manifest, chunks: Map<string, Uint8Array>): SegmentRecord[] {
  const records: { r: SegmentRecord; i: number }[] = [];
  for (const c of manifest.chunks) {
    const decoded = decodeSegment(chunks.get(c.path) ?? new Uint8Array());
    if (!decoded.ok) throw new Error(`${c.path}: ${decoded.reason} at offset ${decoded.offset}`);
    for (const r of decoded.records) records.push({ r, i: records.length });
  }
  records.sort((a, b) => a.r.timeMs - b.r.timeMs || a.i - b.i);
  return records.map((x) => x.r);
}

const defaultSleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

export async function replayBundle(o: ReplayOptions): Promise<ReplayResult> {
  const sleep = o.sleep ?? defaultSleep;
  const records = bundleRecords(o.manifest, o.chunks);
  const maxAttempts = o.maxAttempts ?? 5;
  const items: Record<Signal, number> = { traces: 0, metrics: 0, logs: 0 };
  const started = Date.now();
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (o.ratePerSec && o.ratePerSec > 0) {
      const due = started + (i * 1000) / o.ratePerSec;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
    }
    let attempt = 0;
    for (;;) {
      attempt++;
      const res = await o.transport.send({ signal: r.signal, tenant: o.manifest.tenant, body: r.payload, items: r.items });
      if (res.status === 'ok') break;
      const detail = `${res.reason}${res.message ? `: ${res.message}` : ''}`;
      if (res.status === 'permanent' || attempt >= maxAttempts) {
        return { ok: false, sent: i, total: records.length, message: `record ${i + 1} of ${records.length} (${r.signal}) was refused after ${attempt} attempt(s): ${detail}` };
      }
      await sleep(res.retryAfterMs ?? Math.min(5000, 100 * 2 ** attempt));
    }
    items[r.signal] += r.items;
    o.onProgress?.(i + 1, records.length);
  }
  return { ok: true, records: records.length, items };
}
