import t from 'tap';
import { createTraceGroups } from '../../../src/process/worker/trace-groups.js';

const id = (words: number[]): Uint8Array => {
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt32LE(w >>> 0, i * 4));
  return b;
};
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('groups by the 16 id bytes, keeps first-seen order, and compares times as unsigned 64-bit', async (t) => {
  const g = createTraceGroups(8);
  g.reset();
  const a = id([1, 2, 3, 4]);
  const b = id([1, 2, 3, 5]);
  g.add(a, 0, false, false, 0, 10, 0, 20);
  g.add(b, 0, true, false, 0x80000000, 0, 0x80000000, 5);
  g.add(a, 0, true, true, 0, 5, 1, 0);
  g.add(new Uint8Array(0), -1, false, true, 0, 1, 0, 2);
  t.same(g.summaries(), [
    { traceId: hex(a), spans: 2, error: true, root: true, startNs: 5n, endNs: 2n ** 32n },
    { traceId: hex(b), spans: 1, error: true, root: false, startNs: 2n ** 63n, endNs: 2n ** 63n + 5n },
    { traceId: '', spans: 1, error: false, root: true, startNs: 1n, endNs: 2n },
  ]);
});

t.test('ids differing only in high bits, and many of them, still group exactly', async (t) => {
  const g = createTraceGroups(8);
  g.reset();
  const n = 20_000;
  const buf = Buffer.alloc(16 * n);
  for (let i = 0; i < n; i++) buf.writeUInt32LE((i << 16) >>> 0, i * 16 + 12); // low bits of every word equal
  for (let round = 0; round < 2; round++) for (let i = 0; i < n; i++) g.add(buf, i * 16, false, false, 0, i, 0, i + round);
  const s = g.summaries();
  t.equal(s.length, n);
  t.ok(s.every((x, i) => x.spans === 2 && x.traceId === hex(buf.subarray(i * 16, i * 16 + 16)) && x.endNs === BigInt(i + 1)));
  // After a large request the next one starts empty (and the memory is given back).
  g.reset();
  g.add(buf, 0, false, false, 0, 0, 0, 0);
  t.equal(g.summaries().length, 1);
});
