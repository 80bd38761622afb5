// encodeRecordHeader (the tee's zero-copy path) writes exactly the bytes of encodeRecord.
import t from 'tap';
import { decodeSegment, encodeRecord, encodeRecordHeader, SEGMENT_MAGIC, type SegmentRecord } from '../../src/tee/segment-format.js';

t.test('header + payload = encodeRecord, for every signal, empty and large payloads', async (t) => {
  const cases: SegmentRecord[] = [
    { signal: 'traces', items: 3, timeMs: 1_764_400_000_123, policyVersion: 'a'.repeat(64), payload: Buffer.from('hello') },
    { signal: 'metrics', items: 0, timeMs: 0, policyVersion: '', payload: new Uint8Array(0) },
    { signal: 'logs', items: 4_000_000_000, timeMs: 2 ** 52, policyVersion: 'v1', payload: Buffer.alloc(300_000, 0xab) },
    // A payload that is a view into a larger buffer.
    { signal: 'traces', items: 1, timeMs: 5, policyVersion: 'x', payload: Buffer.from('..abc..').subarray(2, 5) },
  ];
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
