// encodeRecordHeader writes exactly the bytes of encodeRecord; format-2 files (records packed into
// compressed frames, as the tee writes them) decode to the same records with every codec, and damage to
// a frame is reported with the records before it. zstd frames (Node >= 22.15) decode where node:zlib has
// zstd, and elsewhere fail with a message naming the codec and the Node version needed (both paths are
// tested on every Node: a stored zstd frame, and decoding as on a Node without zstd).
import t from 'tap';
import { brotliCompressSync, crc32, deflateRawSync } from 'node:zlib';
import { zstdZlib } from '../../src/tee/zstd-support.js';
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
  const zstd = zstdZlib();
  if (codec === 'zstd' && !zstd) throw new Error('no zstd compressor on this Node');
  const stored = codec === 'none' ? raw : codec === 'brotli' ? brotliCompressSync(raw) : codec === 'zstd' ? zstd!.zstdCompressSync(raw) : deflateRawSync(raw);
  return Buffer.concat([encodeFrameHeader(codec, raw.length, stored.length, crc32(stored)), stored]);
}

t.test('format 2: frames of every codec decode to the records; damage is reported after the intact frames', async (t) => {
  // zstd joins where this Node can compress it (the stored-frame test below covers decoding everywhere).
  const codecs: FrameCodec[] = ['none', 'brotli', 'deflate', ...(zstdZlib() ? (['zstd'] as const) : [])];
  t.equal(codecs.length, zstdZlib() ? 4 : 3, `zstd in the round trip iff node:zlib has it (Node ${process.versions.node})`);
  for (const codec of codecs) {
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

// A zstd frame as Node 22 writes it (level -3; the records below), stored here so that Node 20 sees one too.
const ZSTD_STORED = Buffer.from(
  '28b52ffd2094f5010014030000003e00000000020000019ace6f6c7b0276377a737464206672616d65206f6e652c200000004e02000000016dc800610300c42529c27038e27c02',
  'hex',
);
const ZSTD_RECORDS: SegmentRecord[] = [
  { signal: 'traces', items: 2, timeMs: 1764400000123, policyVersion: 'v7', payload: Buffer.from('zstd frame one, zstd frame one, zstd frame one') },
  { signal: 'logs', items: 1, timeMs: 1764400000456, policyVersion: '', payload: Buffer.alloc(64, 0x61) },
];

t.test('a zstd frame: decoded where node:zlib has zstd; elsewhere a failure naming the codec and the Node needed', async (t) => {
  const before = frame('brotli', cases.slice(0, 1));
  const zframe = Buffer.concat([encodeFrameHeader('zstd', 148, ZSTD_STORED.length, crc32(ZSTD_STORED)), ZSTD_STORED]);
  t.equal(zframe[0], 3, 'codec byte 3');
  const file = Buffer.concat([SEGMENT_MAGIC_V2, before, zframe]);
  const withoutZstd = (d: ReturnType<typeof decodeSegment>) => {
    t.notOk(d.ok, 'not ok: the zstd frame is not silently skipped');
    if (d.ok) return;
    t.equal(d.unavailableCodec, 'zstd', 'flagged as an unavailable codec, not damage');
    t.match(d.reason, /^frame codec zstd needs node:zlib zstd \(Node >= 22\.15 \(or >= 23\.8\)\); this is Node \d+\.\d+\.\d+/);
    t.equal(d.offset, SEGMENT_MAGIC_V2.length + before.length, 'at the zstd frame');
    t.same(view(d.records), view(cases.slice(0, 1)), 'the records before it are kept');
  };
  // As on a Node without zstd, whatever this Node is.
  withoutZstd(decodeSegment(file, { zstd: null }));
  const here = decodeSegment(file);
  if (zstdZlib()) {
    t.ok(here.ok, `Node ${process.versions.node} has zstd: decodes`);
    t.same(view(here.records), view([...cases.slice(0, 1), ...ZSTD_RECORDS]), 'the stored records');
  } else {
    // Node 20 (CI): the default decoder is the one without zstd.
    withoutZstd(here);
  }
  // A damaged zstd frame is damage (CRC), not an unavailable codec.
  const flipped = Buffer.from(file);
  flipped[file.length - 2] ^= 1;
  const bad = decodeSegment(flipped);
  t.same(bad.ok ? 'ok' : [bad.reason, bad.unavailableCodec], ['frame checksum mismatch', undefined]);
});
