// The forensic segment format: what the tee writes and what capture, verify and replay read.
//
//   file    = MAGIC record*                      (`<seq>.seg` while open, gzip'd `<seq>.seg.gz` once sealed)
//   record  = length:u32be crc:u32be body        (length = body bytes; crc = CRC-32 of body)
//   body    = signal:u8 items:u32be timeMs:u64be policyVersion:(len:u8 ascii) payload
//
// The payload is the processed (post-redaction) Export*ServiceRequest, top level only resource_*
// entries, so records of one signal concatenate into a valid request. A torn tail (crash while
// appending) fails its length or CRC check: readers stop there and report it instead of guessing.
import { crc32, gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { SIGNALS, type Signal } from '../signals.js';

export const SEGMENT_MAGIC = Buffer.from('STLSEG1\n', 'ascii');
const HEAD = 8; // length + crc
const FIXED = 1 + 4 + 8 + 1; // signal, items, timeMs, policy version length

export interface SegmentRecord {
  signal: Signal;
  /** Spans, data points or log records in the payload. */
  items: number;
  /** When the gateway received the request (ms since the epoch). */
  timeMs: number;
  /** The policy version the payload was processed under ('' when none). */
  policyVersion: string;
  payload: Uint8Array;
}

export function encodeRecord(r: SegmentRecord): Buffer {
  const version = Buffer.from(r.policyVersion, 'ascii');
  if (version.length > 255) throw new RangeError('policy version longer than 255 bytes');
  const bodyLength = FIXED + version.length + r.payload.length;
  const out = Buffer.allocUnsafe(HEAD + bodyLength);
  out.writeUInt32BE(bodyLength, 0);
  let at = HEAD;
  out.writeUInt8(SIGNALS.indexOf(r.signal), at++);
  out.writeUInt32BE(r.items, at);
  out.writeBigUInt64BE(BigInt(r.timeMs), at + 4);
  out.writeUInt8(version.length, at + 12);
  at += 13;
  version.copy(out, at);
  out.set(r.payload, at + version.length);
  out.writeUInt32BE(crc32(out.subarray(HEAD)), 4);
  return out;
}

/**
 * The bytes of encodeRecord(r) before the payload: with the payload after it, the same record, without
 * copying the payload (the tee writes [header, payload] with one writev). The CRC is chained over the
 * payload (zlib's crc32 takes the running value), so it equals encodeRecord's.
 */
export function encodeRecordHeader(r: SegmentRecord): Buffer {
  const version = Buffer.from(r.policyVersion, 'ascii');
  if (version.length > 255) throw new RangeError('policy version longer than 255 bytes');
  const out = Buffer.allocUnsafe(HEAD + FIXED + version.length);
  out.writeUInt32BE(FIXED + version.length + r.payload.length, 0);
  let at = HEAD;
  out.writeUInt8(SIGNALS.indexOf(r.signal), at++);
  out.writeUInt32BE(r.items, at);
  out.writeBigUInt64BE(BigInt(r.timeMs), at + 4);
  out.writeUInt8(version.length, at + 12);
  version.copy(out, at + 13);
  out.writeUInt32BE(crc32(r.payload, crc32(out.subarray(HEAD))), 4);
  return out;
}

export type DecodedSegment =
  | { ok: true; records: SegmentRecord[] }
  /** `records` holds what was intact before the damage at `offset`. */
  | { ok: false; records: SegmentRecord[]; offset: number; reason: string };

/** Decodes a whole (uncompressed) segment file's bytes. Payloads are views into `bytes`. */
export function decodeSegment(bytes: Uint8Array): DecodedSegment {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: SegmentRecord[] = [];
  if (buf.length < SEGMENT_MAGIC.length || !buf.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)) {
    return { ok: false, records, offset: 0, reason: 'not a segment file (bad magic)' };
  }
  let at = SEGMENT_MAGIC.length;
  while (at < buf.length) {
    if (buf.length - at < HEAD) return { ok: false, records, offset: at, reason: 'truncated record header' };
    const length = buf.readUInt32BE(at);
    const crc = buf.readUInt32BE(at + 4);
    const start = at + HEAD;
    if (length < FIXED || start + length > buf.length) return { ok: false, records, offset: at, reason: 'truncated record' };
    const body = buf.subarray(start, start + length);
    if (crc32(body) !== crc) return { ok: false, records, offset: at, reason: 'record checksum mismatch' };
    const signal = SIGNALS[body.readUInt8(0)];
    if (!signal) return { ok: false, records, offset: at, reason: `unknown signal ${body.readUInt8(0)}` };
    const versionLength = body.readUInt8(13);
    if (FIXED + versionLength > length) return { ok: false, records, offset: at, reason: 'bad policy version length' };
    records.push({
      signal,
      items: body.readUInt32BE(1),
      timeMs: Number(body.readBigUInt64BE(5)),
      policyVersion: body.toString('ascii', FIXED, FIXED + versionLength),
      payload: body.subarray(FIXED + versionLength),
    });
    at = start + length;
  }
  return { ok: true, records };
}

/** Reads an open (`.seg`) or sealed (`.seg.gz`) segment file. */
export function readSegmentFile(path: string): DecodedSegment {
  const raw = readFileSync(path);
  return decodeSegment(path.endsWith('.gz') ? gunzipSync(raw) : raw);
}
