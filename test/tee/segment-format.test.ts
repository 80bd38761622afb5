// encodeRecordHeader writes exactly the bytes of encodeRecord; format-2 files (records packed into
// compressed frames, as the tee writes them) decode to the same records with every codec, and damage to
// a frame is reported with the records before it.
import t from 'tap';
import { brotliCompressSync, crc32, deflateRawSync } from 'node:zlib';
import {
  decodeSegment,
  encodeFrameHeader,
  encodeRecord,
  encodeRecord2Header,
  encodeRecordHeader,
  record2HeaderBytes,
  SEGMENT_MAGIC,
  SEGMENT_MAGIC_V2,
  type FrameCodec,
  type SegmentRecord,
} from '../../src/tee/segment-format.js';

const cases: SegmentRecord[] = [
  { signal: 'traces', items: 3, timeMs: 1_764_400_000_123, policyVersion: 'a'.repeat(64), payload: Buffer.from('hello') },
  { signal: 'metrics', items: 0, timeMs: 0, policyVersion: '', payload: new Uint8Array(0) },
  { signal: 'logs', items: 4_000_000_000, timeMs: 2 ** 52, policyVersion: 'v1', payload: Buffer.alloc(300_000, 0xab) },
  { signal: 'traces', items: 1, timeMs: 5, policyVersion: 'x', payload: Buffer.from('..abc..').subarray(2, 5) },
];
const view = (rs: SegmentRecord[]) => rs.map((r) => [r.signal, r.items, r.timeMs, r.policyVersion, Buffer.from(r.payload).toString('hex')]);

function frame(codec: FrameCodec, records: SegmentRecord[]): Buffer {
  const raw = Buffer.alloc(records.reduce((s, r) => s + record2HeaderBytes(r.policyVersion.length) + r.payload.length, 0));
  let at = 0;
  for (const r of records) {
    at = encodeRecord2Header({ ...r, payloadLength: r.payload.length }, raw, at);
    raw.set(r.payload, at);
    at += r.payload.length;
  }
  const stored = codec === 'none' ? raw : codec === 'brotli' ? brotliCompressSync(raw) : deflateRawSync(raw);
  return Buffer.concat([encodeFrameHeader(codec, raw.length, stored.length, crc32(stored)), stored]);
}

t.test('format 2: frames of every codec decode to the records; damage is reported after the intact frames', async (t) => {
  for (const codec of ['none', 'brotli', 'deflate'] as const) {
    const f1 = frame(codec, cases.slice(0, 2));
    const f2 = frame(codec, cases.slice(2));
    const file = Buffer.concat([SEGMENT_MAGIC_V2, f1, f2]);
    const d = decodeSegment(file);
    t.ok(d.ok, `${codec}: decodes`);
    t.same(view(d.records), view(cases), `${codec}: the same records`);
    const torn = decodeSegment(file.subarray(0, file.length - 1));
    t.same(torn.ok ? 'ok' : [torn.reason, torn.offset, torn.records.length], ['truncated frame', SEGMENT_MAGIC_V2.length + f1.length, 2], `${codec}: torn tail`);
    const flipped = Buffer.from(file);
    flipped[file.length - 3] ^= 1;
    const bad = decodeSegment(flipped);
    t.same(bad.ok ? 'ok' : [bad.reason, bad.records.length], ['frame checksum mismatch', 2], `${codec}: flipped byte`);
  }
  // A frame whose CRC holds but whose length header lies (a writer bug) is not trusted either.
  const f = frame('brotli', cases.slice(0, 1));
  f.writeUInt32BE(f.readUInt32BE(1) + 1, 1);
  const d = decodeSegment(Buffer.concat([SEGMENT_MAGIC_V2, f]));
  t.match(d.ok ? 'ok' : d.reason, /^frame length mismatch/);
});

t.test('header + payload = encodeRecord, for every signal, empty and large payloads', async (t) => {
  for (const r of cases) {
    const whole = encodeRecord(r);
    const split = Buffer.concat([encodeRecordHeader(r), r.payload]);
    t.ok(split.equals(whole), `${r.signal} ${r.payload.length} bytes`);
  }
  const file = Buffer.concat([SEGMENT_MAGIC, ...cases.flatMap((r) => [encodeRecordHeader(r), Buffer.from(r.payload)])]);
  const d = decodeSegment(file);
  t.ok(d.ok);
  t.same(d.records.map((r) => [r.signal, r.items, r.timeMs, r.policyVersion, Buffer.from(r.payload).toString('hex')]), cases.map((r) => [r.signal, r.items, r.timeMs, r.policyVersion, Buffer.from(r.payload).toString('hex')]));
});
