// The persistent export queue's on-disk format (`<data-dir>/queue/<exporter>/<firstSeq>.q`).
//
//   file    = MAGIC record*
//   record  = MARK:u32be length:u32be crc:u32be body      (crc = CRC-32 of body; length = body bytes)
//   body    = seq:u64be signal:u8 items:u32be timeMs:u64be tenantLength:u16be tenant(utf8) payload
//
// It is the forensic archive's format 1 (src/tee/segment-format.ts: `length crc body`, the CRC chained
// over header and payload so a record is written as [header, payload] with one writev and no copy),
// with three changes the queue needs and the tee does not:
// - a sequence number per record: the durable read offset is a sequence number, so replay skips what the
//   backend acknowledged and counts exactly what a damaged stretch held (the gap in the numbers);
// - the tenant in the record: the tee keeps one directory per tenant, the queue keeps one log per
//   exporter so that replay is in arrival order across tenants;
// - a MARK before each record: a damaged length in the middle of a file would otherwise lose the rest of
//   the file; with the mark the reader resynchronises on the next record whose CRC checks out.
// The tee's format 2 (compressed frames) is not used: compressing costs CPU on the acknowledgement path,
// and its frames group many requests, which a per-request durability wait cannot.
import { crc32 } from 'node:zlib';
import { SIGNALS, type Signal } from '../../signals.js';

export const QUEUE_MAGIC = Buffer.from('STLQUE1\n', 'ascii');
/** "STQR": the start of every record. */
export const RECORD_MARK = 0x53545152;
/** MARK, length, crc. */
export const RECORD_HEAD = 12;
/** seq, signal, items, timeMs, tenant length. */
const FIXED = 8 + 1 + 4 + 8 + 2;
/** Largest body the reader accepts: a length above it is damage, not a record. */
export const MAX_RECORD_BODY = 1024 * 1024 * 1024;

export interface QueueRecord {
  seq: number;
  signal: Signal;
  tenant: string;
  items: number;
  timeMs: number;
  payload: Uint8Array;
}

/** The bytes before the payload (MARK, length, crc, body header); [header, payload] is the whole record. */
export function encodeRecordHeader(r: QueueRecord): Buffer {
  const tenantLength = Buffer.byteLength(r.tenant, 'utf8');
  if (tenantLength > 0xffff) throw new RangeError('tenant longer than 65535 bytes');
  const out = Buffer.allocUnsafe(RECORD_HEAD + FIXED + tenantLength);
  out.writeUInt32BE(RECORD_MARK, 0);
  out.writeUInt32BE(FIXED + tenantLength + r.payload.length, 4);
  let at = RECORD_HEAD;
  // u64 without a BigInt: sequence numbers and times stay below 2^53.
  out.writeUInt32BE(Math.floor(r.seq / 2 ** 32), at);
  out.writeUInt32BE(r.seq >>> 0, at + 4);
  out[at + 8] = SIGNALS.indexOf(r.signal);
  out.writeUInt32BE(r.items, at + 9);
  out.writeUInt32BE(Math.floor(r.timeMs / 2 ** 32), at + 13);
  out.writeUInt32BE(r.timeMs >>> 0, at + 17);
  out.writeUInt16BE(tenantLength, at + 21);
  at += FIXED;
  out.write(r.tenant, at, 'utf8');
  out.writeUInt32BE(crc32(r.payload, crc32(out.subarray(RECORD_HEAD))), 8);
  return out;
}

export const recordBytes = (tenant: string, payloadLength: number): number =>
  RECORD_HEAD + FIXED + Buffer.byteLength(tenant, 'utf8') + payloadLength;

function parseBody(body: Buffer): QueueRecord | undefined {
  if (body.length < FIXED) return undefined;
  const signal = SIGNALS[body[8]!];
  const tenantLength = body.readUInt16BE(21);
  if (!signal || FIXED + tenantLength > body.length) return undefined;
  return {
    seq: body.readUInt32BE(0) * 2 ** 32 + body.readUInt32BE(4),
    signal,
    items: body.readUInt32BE(9),
    timeMs: body.readUInt32BE(13) * 2 ** 32 + body.readUInt32BE(17),
    tenant: body.toString('utf8', FIXED, FIXED + tenantLength),
    payload: body.subarray(FIXED + tenantLength),
  };
}

export type ScanStep =
  /** A good record at `offset`, `end` = offset of what follows it. */
  | { kind: 'record'; record: QueueRecord; offset: number; end: number }
  /** The bytes from `offset` on cannot be a whole record yet: read more (or, at the end of the file, a torn tail). */
  | { kind: 'need'; offset: number; bytes: number }
  /** Damage from `offset` to `end` (the next MARK whose record checks out, or the end of the buffer). */
  | { kind: 'damage'; offset: number; end: number; reason: string };

/**
 * One step of reading `buf` (which holds file bytes from `base` on) at file offset `at`; `eof`: nothing
 * follows `buf` in the file (a record cut short there is damage, not a reason to read more). A bad record is
 * reported as damage up to the next offset where a whole, checked record starts, so a corrupt record in
 * the middle costs that record only.
 */
export function scanStep(buf: Buffer, base: number, at: number, eof: boolean): ScanStep {
  const i = at - base;
  if (buf.length - i < RECORD_HEAD && !eof) return { kind: 'need', offset: at, bytes: RECORD_HEAD };
  let bad = buf.length - i < RECORD_HEAD ? 'truncated record header' : checkAt(buf, i);
  if (bad === undefined) {
    const length = buf.readUInt32BE(i + 4);
    const body = buf.subarray(i + RECORD_HEAD, i + RECORD_HEAD + length);
    const record = parseBody(body)!;
    return { kind: 'record', record, offset: at, end: at + RECORD_HEAD + length };
  }
  if (typeof bad === 'number') {
    // `buf` ends where the file (or its written part) ends: the record can never be whole.
    if (!eof) return { kind: 'need', offset: at, bytes: bad };
    bad = 'truncated record';
  }
  // Resynchronise: the next MARK from which a whole record checks out.
  for (let j = i + 1; j + RECORD_HEAD <= buf.length; j++) {
    if (buf[j] !== 0x53 || buf.readUInt32BE(j) !== RECORD_MARK) continue;
    if (checkAt(buf, j) === undefined) return { kind: 'damage', offset: at, end: base + j, reason: bad };
  }
  return { kind: 'damage', offset: at, end: base + buf.length, reason: bad };
}

/** undefined = a whole, checked record at i; a number = bytes needed from i; a string = why not a record. */
function checkAt(buf: Buffer, i: number): undefined | number | string {
  if (buf.readUInt32BE(i) !== RECORD_MARK) return 'no record mark';
  const length = buf.readUInt32BE(i + 4);
  if (length < FIXED || length > MAX_RECORD_BODY) return `bad record length ${length}`;
  if (buf.length - i < RECORD_HEAD + length) return RECORD_HEAD + length;
  const body = buf.subarray(i + RECORD_HEAD, i + RECORD_HEAD + length);
  if (crc32(body) !== buf.readUInt32BE(i + 8)) return 'record checksum mismatch';
  if (!parseBody(body)) return 'bad record body';
  return undefined;
}
