// The forensic segment format: what the tee writes and what capture, verify and replay read.
//
// Version 2 (written since the tee compresses while writing; `<seq>.segz.part` while open, renamed to
// `<seq>.segz` when sealed, no rewrite):
//
//   file    = MAGIC2 frame*
//   frame   = codec:u8 rawLength:u32be storedLength:u32be crc:u32be stored
//             (codec 0 none, 1 brotli, 2 raw deflate, 3 zstd; crc = CRC-32 of the stored bytes, so a torn or
//             flipped frame is found before it is decompressed; rawLength = bytes after decompression)
//   raw     = record2*                           (one writer batch per frame; frames decode independently)
//   record2 = length:u32be body                  (no per-record CRC: the frame's CRC covers it)
//
// zstd frames need node:zlib's zstd (Node >= 22.15 / 23.8): on an older Node a reader stops at the first
// one with a failure that names the codec and the Node version needed (`unavailableCodec`), so that a
// capture refuses rather than sign a bundle missing the data it could not read.
//
// Version 1 (what bundles carry as chunks, and what older archives hold: `<seq>.seg` open, gzip'd
// `<seq>.seg.gz` once sealed; both stay readable):
//
//   file    = MAGIC record*
//   record  = length:u32be crc:u32be body        (length = body bytes; crc = CRC-32 of body)
//
// In both:
//   body    = signal:u8 items:u32be timeMs:u64be policyVersion:(len:u8 ascii) payload
//
// The payload is the processed (post-redaction) Export*ServiceRequest, top level only resource_*
// entries, so records of one signal concatenate into a valid request. A torn tail (crash while
// appending) fails its length or CRC check: readers stop there and report it instead of guessing.
import { brotliDecompressSync, crc32, gunzipSync, inflateRawSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { SIGNALS, type Signal } from '../signals.js';
import { zstdUnavailableMessage, zstdZlib, type ZstdZlib } from './zstd-support.js';

export const SEGMENT_MAGIC = Buffer.from('STLSEG1\n', 'ascii');
export const SEGMENT_MAGIC_V2 = Buffer.from('STLSEG2\n', 'ascii');
const HEAD = 8; // length + crc
/** codec, raw length, stored length, crc. */
export const FRAME_HEAD = 13;
/** Frame codec ids (the byte in the frame header). */
export const FRAME_CODECS = { none: 0, brotli: 1, deflate: 2, zstd: 3 } as const;
export type FrameCodec = keyof typeof FRAME_CODECS;
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

/**
 * A version-2 record's bytes before the payload (length and body header; the frame's CRC covers it).
 * `out`/`at`: written in place (the tee packs a whole batch into one buffer); returns the next offset.
 */
export function encodeRecord2Header(r: Omit<SegmentRecord, 'payload'> & { payloadLength: number }, out: Buffer, at: number): number {
  const vlen = r.policyVersion.length; // ASCII, at most 255 (the tee sanitises it)
  out.writeUInt32BE(FIXED + vlen + r.payloadLength, at);
  out[at + 4] = SIGNALS.indexOf(r.signal);
  out.writeUInt32BE(r.items, at + 5);
  // u64 without a BigInt: times are below 2^53.
  out.writeUInt32BE(Math.floor(r.timeMs / 2 ** 32), at + 9);
  out.writeUInt32BE(r.timeMs >>> 0, at + 13);
  out[at + 17] = vlen;
  out.write(r.policyVersion, at + 18, 'latin1');
  return at + 18 + vlen;
}

/** Bytes of a version-2 record header for a policy version of `versionLength` bytes. */
export const record2HeaderBytes = (versionLength: number): number => 4 + FIXED + versionLength;

/** The 13-byte header of a frame whose stored bytes are `stored` (crc over them). */
export function encodeFrameHeader(codec: FrameCodec, rawLength: number, storedLength: number, crc: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEAD);
  out[0] = FRAME_CODECS[codec];
  out.writeUInt32BE(rawLength, 1);
  out.writeUInt32BE(storedLength, 5);
  out.writeUInt32BE(crc >>> 0, 9);
  return out;
}

export type DecodedSegment =
  | { ok: true; records: SegmentRecord[] }
  /**
   * `records` holds what was intact before the damage at `offset`. `unavailableCodec`: not damage, the
   * frame at `offset` uses a codec this Node cannot decompress (the reason says which Node can).
   */
  | { ok: false; records: SegmentRecord[]; offset: number; reason: string; unavailableCodec?: FrameCodec };

export interface DecodeOptions {
  /** node:zlib's zstd; null = as on a Node without it (tests). Default: this Node's, if it has one. */
  zstd?: ZstdZlib | null;
}

type BodyResult = { ok: true; record: SegmentRecord } | { ok: false; reason: string };

function parseBody(body: Buffer): BodyResult {
  const signal = SIGNALS[body.readUInt8(0)];
  if (!signal) return { ok: false, reason: `unknown signal ${body.readUInt8(0)}` };
  const versionLength = body.readUInt8(13);
  if (FIXED + versionLength > body.length) return { ok: false, reason: 'bad policy version length' };
  return {
    ok: true,
    record: {
      signal,
      items: body.readUInt32BE(1),
      timeMs: Number(body.readBigUInt64BE(5)),
      policyVersion: body.toString('ascii', FIXED, FIXED + versionLength),
      payload: body.subarray(FIXED + versionLength),
    },
  };
}

/** Decodes a whole (uncompressed) version-1 segment file's bytes, or a version-2 file. Payloads are views into the bytes (v1). */
export function decodeSegment(bytes: Uint8Array, options: DecodeOptions = {}): DecodedSegment {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: SegmentRecord[] = [];
  if (buf.length >= SEGMENT_MAGIC_V2.length && buf.subarray(0, SEGMENT_MAGIC_V2.length).equals(SEGMENT_MAGIC_V2)) return decodeFramedSegment(buf, options);
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
    const parsed = parseBody(body);
    if (!parsed.ok) return { ok: false, records, offset: at, reason: parsed.reason };
    records.push(parsed.record);
    at = start + length;
  }
  return { ok: true, records };
}

const defaultZstd = zstdZlib();

function decompressFrame(codec: number, stored: Buffer, rawLength: number, options: DecodeOptions): Buffer | string {
  try {
    if (codec === FRAME_CODECS.none) return stored;
    if (codec === FRAME_CODECS.brotli) return brotliDecompressSync(stored);
    if (codec === FRAME_CODECS.deflate) return inflateRawSync(stored);
    if (codec === FRAME_CODECS.zstd) {
      const zstd = options.zstd === undefined ? defaultZstd : options.zstd;
      if (!zstd) return zstdUnavailableMessage();
      // Bounded by the header's length (+1, so that a lying header still fails the length check below).
      return zstd.zstdDecompressSync(stored, { maxOutputLength: rawLength + 1 });
    }
  } catch (err) {
    return `frame does not decompress (${(err as Error).message})`;
  }
  return `unknown frame codec ${codec}`;
}

/** Decodes a version-2 (framed, compressed) segment file; offsets in failures are file offsets of the frame. */
function decodeFramedSegment(buf: Buffer, options: DecodeOptions): DecodedSegment {
  const records: SegmentRecord[] = [];
  let at = SEGMENT_MAGIC_V2.length;
  while (at < buf.length) {
    if (buf.length - at < FRAME_HEAD) return { ok: false, records, offset: at, reason: 'truncated frame header' };
    const codec = buf[at]!;
    const rawLength = buf.readUInt32BE(at + 1);
    const storedLength = buf.readUInt32BE(at + 5);
    const crc = buf.readUInt32BE(at + 9);
    const start = at + FRAME_HEAD;
    if (start + storedLength > buf.length) return { ok: false, records, offset: at, reason: 'truncated frame' };
    const stored = buf.subarray(start, start + storedLength);
    if (crc32(stored) !== crc) return { ok: false, records, offset: at, reason: 'frame checksum mismatch' };
    const raw = decompressFrame(codec, stored, rawLength, options);
    if (typeof raw === 'string') {
      const unavailable = codec === FRAME_CODECS.zstd && !(options.zstd === undefined ? defaultZstd : options.zstd);
      return unavailable ? { ok: false, records, offset: at, reason: raw, unavailableCodec: 'zstd' } : { ok: false, records, offset: at, reason: raw };
    }
    if (raw.length !== rawLength) return { ok: false, records, offset: at, reason: `frame length mismatch (${raw.length} bytes, header says ${rawLength})` };
    // Records are all-or-nothing per frame: a frame that passed its CRC yet holds a bad record is a writer bug.
    const inFrame: SegmentRecord[] = [];
    for (let p = 0; p < raw.length; ) {
      const length = raw.length - p >= 4 ? raw.readUInt32BE(p) : -1;
      if (length < FIXED || p + 4 + length > raw.length) return { ok: false, records, offset: at, reason: 'bad record inside a frame' };
      const parsed = parseBody(raw.subarray(p + 4, p + 4 + length));
      if (!parsed.ok) return { ok: false, records, offset: at, reason: parsed.reason };
      inFrame.push(parsed.record);
      p += 4 + length;
    }
    for (const r of inFrame) records.push(r);
    at = start + storedLength;
  }
  return { ok: true, records };
}

/** Reads a segment file: open or sealed, version 2 (`.segz.part`, `.segz`) or 1 (`.seg`, gzip'd `.seg.gz`). */
export function readSegmentFile(path: string, options: DecodeOptions = {}): DecodedSegment {
  const raw = readFileSync(path);
  return decodeSegment(path.endsWith('.gz') ? gunzipSync(raw) : raw, options);
}
