import t from 'tap';
import {
  WireError,
  checkPackedVarints,
  describeWireError,
  fixed32At,
  readLength,
  readTag,
  readVarint,
  skipVarint,
  toBigUint64,
  wire,
} from '../../../src/process/wire/wire-reader.js';
import { varint } from '../../helpers/wire-builder.js';

const u8 = (a: number[]): Uint8Array => Uint8Array.from(a);

t.test('readVarint reads every width up to 64 bits, as two uint32 halves', async (t) => {
  const values = [0n, 1n, 127n, 128n, 300n, 16383n, 16384n, 2n ** 28n - 1n, 2n ** 28n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 35n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];
  for (const v of values) {
    const enc = varint(v);
    const buf = u8([0xaa, ...enc, 0xbb]);
    const next = readVarint(buf, 1, buf.length);
    t.equal(next, 1 + enc.length, `${v}: position after ${enc.length} bytes`);
    t.equal(toBigUint64(wire.hi, wire.lo), v, `${v}: value`);
    t.equal(skipVarint(buf, 1, buf.length), 1 + enc.length, `${v}: skip agrees`);
  }
  // Negative int64 (and int32) values are 10-byte two's complement.
  const minus1 = varint(-1);
  t.equal(minus1.length, 10);
  t.equal(readVarint(u8(minus1), 0, 10), 10);
  t.equal(wire.lo | 0, -1, 'low half as int32 is -1');
});

t.test('readVarint refuses truncation, 11-byte varints and 64-bit overflow', async (t) => {
  t.equal(readVarint(u8([]), 0, 0), WireError.TRUNCATED);
  t.equal(readVarint(u8([0x80, 0x80]), 0, 2), WireError.TRUNCATED);
  // The limit, not the buffer, bounds the read.
  t.equal(readVarint(u8([0x80, 0x01]), 0, 1), WireError.TRUNCATED);
  const eleven = [...Array(10).fill(0x80), 0x01];
  t.equal(readVarint(u8(eleven), 0, 11), WireError.VARINT_TOO_LONG);
  t.equal(skipVarint(u8(eleven), 0, 11), WireError.VARINT_TOO_LONG);
  const overflow = [...Array(9).fill(0xff), 0x02];
  t.equal(readVarint(u8(overflow), 0, 10), WireError.VARINT_OVERFLOW);
  t.equal(skipVarint(u8(overflow), 0, 10), WireError.VARINT_OVERFLOW);
  t.equal(skipVarint(u8([0x80, 0x80]), 0, 2), WireError.TRUNCATED);
  // Non-minimal encodings are valid protobuf (0 written in two bytes).
  t.equal(readVarint(u8([0x80, 0x00]), 0, 2), 2);
  t.equal(wire.lo, 0);
});

t.test('readTag accepts 32-bit tags of at most 5 bytes', async (t) => {
  const maxField = 2 ** 29 - 1;
  const enc = varint(maxField * 8 + 2);
  t.equal(readTag(u8(enc), 0, enc.length), enc.length);
  t.equal(wire.tag >>> 3, maxField);
  t.equal(wire.tag & 7, 2);
  t.equal(readTag(u8([0x0a]), 0, 1), 1);
  t.equal(wire.tag, 0x0a);
  t.equal(readTag(u8(varint(2n ** 32n)), 0, 6), WireError.TAG_TOO_LONG, 'wider than 32 bits');
  t.equal(readTag(u8([0x8a, 0x80, 0x80, 0x80, 0x80, 0x00]), 0, 6), WireError.TAG_TOO_LONG, 'six bytes');
  t.equal(readTag(u8([0x8a]), 0, 1), WireError.TRUNCATED);
  t.equal(readTag(u8([]), 0, 0), WireError.TRUNCATED);
});

t.test('readLength checks that the payload fits before the limit', async (t) => {
  t.equal(readLength(u8([3, 1, 2, 3]), 0, 4), 1);
  t.equal(wire.lo, 3);
  t.equal(readLength(u8([4, 1, 2, 3]), 0, 4), WireError.LENGTH_OVERFLOW);
  t.equal(readLength(u8([3, 1, 2, 3, 4]), 0, 3), WireError.LENGTH_OVERFLOW, 'the limit, not the buffer end');
  t.equal(readLength(u8([0x80]), 0, 1), WireError.TRUNCATED);
  t.equal(readLength(u8([0xff, 0xff, 0xff, 0xff, 0x0f]), 0, 5), WireError.LENGTH_TOO_LONG, '2^32-1 is beyond 2^31');
  t.equal(readLength(u8([0xff, 0xff, 0xff, 0xff, 0x07]), 0, 5), WireError.LENGTH_OVERFLOW, '2^31-1 is a length, too long here');
  t.equal(readLength(u8([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 0, 6), WireError.LENGTH_TOO_LONG, 'six bytes');
  t.equal(readLength(u8([0x80, 0x00]), 0, 2), 2, 'non-minimal zero');
  t.equal(wire.lo, 0);
});

t.test('fixed32At is little-endian and unsigned', async (t) => {
  t.equal(fixed32At(u8([0x78, 0x56, 0x34, 0x12]), 0), 0x12345678);
  t.equal(fixed32At(u8([0xff, 0xff, 0xff, 0xff]), 0), 0xffffffff);
});

t.test('checkPackedVarints needs whole varints ending exactly at the end', async (t) => {
  const packed = [...varint(1), ...varint(300), ...varint(2n ** 64n - 1n)];
  t.equal(checkPackedVarints(u8(packed), 0, packed.length), packed.length);
  t.equal(checkPackedVarints(u8(packed), 0, packed.length - 1), WireError.TRUNCATED);
  t.equal(checkPackedVarints(u8([]), 0, 0), 0);
});

t.test('every error code has words', async (t) => {
  for (const code of Object.values(WireError)) t.notMatch(describeWireError(code), /^wire error/);
});
