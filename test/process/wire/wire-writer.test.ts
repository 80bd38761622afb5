import protobuf from 'protobufjs';
import t from 'tap';
import { readVarint, toBigUint64, wire } from '../../../src/process/wire/wire-reader.js';
import { pushLenField, pushVarint, varintBytes, varintSize, writeVarint } from '../../../src/process/wire/wire-writer.js';

// Every width boundary up to 2^53 - 1 (the largest integer a number holds exactly), on both sides.
const values: number[] = [0, 1, 127, 128, 300, 16383, 16384];
for (let bits = 21; bits <= 49; bits += 7) values.push(2 ** bits - 1, 2 ** bits);
values.push(2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 129, Number.MAX_SAFE_INTEGER);

/** protobufjs's encoding of n as a uint64 varint: an implementation this module shares no code with. */
const reference = (n: number): Uint8Array => protobuf.Writer.create().uint64(n).finish();

t.test('writeVarint writes what protobufjs writes, and varintSize says how long it is', async (t) => {
  for (const n of values) {
    const want = reference(n);
    const out = new Uint8Array(want.length + 4).fill(0xee);
    const end = writeVarint(out, 2, n);
    t.equal(end, 2 + want.length, `${n}: position after ${want.length} bytes`);
    t.same([...out.subarray(2, end)], [...want], `${n}: bytes`);
    t.equal(out[1], 0xee, `${n}: nothing written before`);
    t.equal(out[end], 0xee, `${n}: nothing written after`);
    t.equal(varintSize(n), want.length, `${n}: size`);
    t.same([...varintBytes(n)], [...want], `${n}: varintBytes`);
    const list = [7];
    pushVarint(list, n);
    t.same(list, [7, ...want], `${n}: pushVarint appends`);
  }
});

t.test('the wire reader reads back what the writer wrote', async (t) => {
  for (const n of values) {
    const buf = varintBytes(n);
    t.equal(readVarint(buf, 0, buf.length), buf.length, `${n}: read to the end`);
    t.equal(toBigUint64(wire.hi, wire.lo), BigInt(n), `${n}: value`);
  }
});

t.test('pushLenField writes tag, length and payload as protobufjs does', async (t) => {
  for (const size of [0, 1, 127, 128, 300]) {
    const payload = Uint8Array.from({ length: size }, (_, i) => i & 0xff);
    const out: number[] = [];
    pushLenField(out, 3, payload);
    t.same(out, [...protobuf.Writer.create().uint32((3 << 3) | 2).bytes(payload).finish()], `${size} bytes`);
  }
});
