// Protobuf wire-format primitives over a Uint8Array: tags, varints, fixed-width values and length
// prefixes, each bounds-checked against a limit and none allocating. Encoding rules:
// https://protobuf.dev/programming-guides/encoding/
//
// Every reader takes (buf, pos, limit) and returns the position after the value, or a negative
// WireError. Values that do not fit the return slot (a tag, a varint's two 32-bit halves) are left in
// the `wire` registers, so the hot loop never builds an object. 64-bit varints are kept as two uint32
// halves: BigInt is for the end of a request, not for every field.

export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

/** Negative results of the readers; describeWireError turns them into words. */
export const WireError = {
  TRUNCATED: -1,
  VARINT_TOO_LONG: -2,
  VARINT_OVERFLOW: -3,
  TAG_TOO_LONG: -4,
  LENGTH_TOO_LONG: -5,
  LENGTH_OVERFLOW: -6,
} as const;
export type WireErrorCode = (typeof WireError)[keyof typeof WireError];

/** Registers the readers fill: the last tag, and the last varint as two unsigned 32-bit halves. */
export const wire = { tag: 0, lo: 0, hi: 0 };

export function describeWireError(code: number): string {
  switch (code) {
    case WireError.TRUNCATED:
      return 'truncated';
    case WireError.VARINT_TOO_LONG:
      return 'varint longer than 10 bytes';
    case WireError.VARINT_OVERFLOW:
      return 'varint overflows 64 bits';
    case WireError.TAG_TOO_LONG:
      return 'tag is not a 32-bit varint';
    case WireError.LENGTH_TOO_LONG:
      return 'length prefix is not a 32-bit varint';
    case WireError.LENGTH_OVERFLOW:
      return 'length exceeds the enclosing message';
    default:
      return `wire error ${code}`;
  }
}

/**
 * Reads a tag into wire.tag. Tags are 32-bit varints of at most 5 bytes (field number up to 2^29-1,
 * as protoc and protobufjs require); a longer or wider encoding is refused rather than guessed at.
 */
export function readTag(buf: Uint8Array, pos: number, limit: number): number {
  if (pos >= limit) return WireError.TRUNCATED;
  let b = buf[pos++]!;
  if (b < 0x80) {
    wire.tag = b;
    return pos;
  }
  let v = b & 0x7f;
  for (let shift = 7; shift < 28; shift += 7) {
    if (pos >= limit) return WireError.TRUNCATED;
    b = buf[pos++]!;
    v |= (b & 0x7f) << shift;
    if (b < 0x80) {
      wire.tag = v >>> 0;
      return pos;
    }
  }
  if (pos >= limit) return WireError.TRUNCATED;
  b = buf[pos++]!;
  // Fifth byte: only 4 value bits fit in 32 bits, and no continuation.
  if (b > 0x0f) return WireError.TAG_TOO_LONG;
  wire.tag = (v | (b << 28)) >>> 0;
  return pos;
}

/**
 * Reads a varint of up to 10 bytes into wire.lo / wire.hi. The tenth byte may only carry bit 63
 * (value 0 or 1); anything more overflows 64 bits (protowire's errCodeOverflow).
 */
export function readVarint(buf: Uint8Array, pos: number, limit: number): number {
  if (pos >= limit) return WireError.TRUNCATED;
  let b = buf[pos++]!;
  if (b < 0x80) {
    wire.lo = b;
    wire.hi = 0;
    return pos;
  }
  let lo = b & 0x7f;
  // Bytes 2..4 fill bits 7..27 of the low half.
  for (let shift = 7; shift < 28; shift += 7) {
    if (pos >= limit) return WireError.TRUNCATED;
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      wire.lo = lo >>> 0;
      wire.hi = 0;
      return pos;
    }
  }
  // Byte 5 straddles the halves: 4 bits to lo (28..31), 3 bits to hi (0..2).
  if (pos >= limit) return WireError.TRUNCATED;
  b = buf[pos++]!;
  lo |= (b & 0x0f) << 28;
  let hi = (b & 0x7f) >>> 4;
  if (b < 0x80) {
    wire.lo = lo >>> 0;
    wire.hi = hi;
    return pos;
  }
  // Bytes 6..9 fill bits 3..30 of the high half.
  for (let shift = 3; shift < 31; shift += 7) {
    if (pos >= limit) return WireError.TRUNCATED;
    b = buf[pos++]!;
    hi |= (b & 0x7f) << shift;
    if (b < 0x80) {
      wire.lo = lo >>> 0;
      wire.hi = hi >>> 0;
      return pos;
    }
  }
  // Byte 10 carries bit 63 only.
  if (pos >= limit) return WireError.TRUNCATED;
  b = buf[pos++]!;
  if (b >= 0x80) return WireError.VARINT_TOO_LONG;
  if (b > 1) return WireError.VARINT_OVERFLOW;
  wire.lo = lo >>> 0;
  wire.hi = (hi | (b << 31)) >>> 0;
  return pos;
}

/** Skips a varint with the same rules as readVarint, without computing its value. */
export function skipVarint(buf: Uint8Array, pos: number, limit: number): number {
  const max = pos + 9;
  while (pos < limit) {
    const b = buf[pos++]!;
    if (b < 0x80) {
      if (pos - 1 === max && b > 1) return WireError.VARINT_OVERFLOW;
      return pos;
    }
    if (pos > max) return WireError.VARINT_TOO_LONG;
  }
  return WireError.TRUNCATED;
}

/**
 * Reads a length prefix (returned in wire.lo) and checks that the payload fits before `limit`.
 * Lengths are at most 5 bytes and below 2^31, as protobufjs reads them.
 */
export function readLength(buf: Uint8Array, pos: number, limit: number): number {
  if (pos >= limit) return WireError.TRUNCATED;
  let b = buf[pos++]!;
  let len: number;
  if (b < 0x80) {
    len = b;
  } else {
    len = b & 0x7f;
    let shift = 7;
    for (;;) {
      if (pos >= limit) return WireError.TRUNCATED;
      b = buf[pos++]!;
      if (shift === 28) {
        if (b > 0x07) return WireError.LENGTH_TOO_LONG;
        len = (len | (b << 28)) >>> 0;
        break;
      }
      len |= (b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7;
    }
  }
  if (len > limit - pos) return WireError.LENGTH_OVERFLOW;
  wire.lo = len;
  return pos;
}

/** Little-endian unsigned 32 bits at pos; the caller has checked pos + 4 <= limit. */
export function fixed32At(buf: Uint8Array, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
}

/**
 * Checks a packed run of varints [pos, end): each at most 10 bytes and the last ending exactly at end.
 * Returns end, or a negative WireError (TRUNCATED when the last varint runs past end).
 */
export function checkPackedVarints(buf: Uint8Array, pos: number, end: number): number {
  while (pos < end) {
    pos = skipVarint(buf, pos, end);
    if (pos < 0) return pos;
  }
  return end;
}

/** An unsigned 64-bit value from two halves, for the few places that report one. */
export function toBigUint64(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
