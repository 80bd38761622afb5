// The persistent queue on real files: durability waits, replay in order after a restart, the durable
// read offset, torn tails, damage in the middle, and the disk budget.
import t from 'tap';
import { mkdtempSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync, closeSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPersistentQueue, type PersistentQueueConfig, type QueueEvents } from '../../../src/export/queue/persistent-queue.js';
import { QUEUE_MAGIC, RECORD_HEAD } from '../../../src/export/queue/record-format.js';

function cfg(dir: string, patch: Partial<PersistentQueueConfig> = {}): PersistentQueueConfig {
  return { dir, sync: 'batch', syncIntervalMs: 5, maxDiskBytes: 64 * 1024 * 1024, maxBufferBytes: 16 * 1024 * 1024, segmentBytes: 1024 * 1024, ...patch };
}

const body = (i: number, size = 100): Buffer => Buffer.alloc(size, i % 251);
const item = (i: number, tenant = 'acme') => ({ signal: 'traces' as const, tenant, body: body(i), items: 1 + (i % 3) });

async function drainAll(q: ReturnType<typeof createPersistentQueue>) {
  const out = [];
  while (q.hasBacklog) {
    const got = await q.readNext(1 << 30);
    out.push(...got);
    if (got.length === 0) break;
  }
  return out;
}

t.test('durable, then replayed in order after a restart; done records are not replayed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pq-'));
  const q = createPersistentQueue(cfg(dir));
  const report = await q.open();
  t.equal(report.pendingRecords, 0);
  const appended = [];
  for (let i = 0; i < 50; i++) appended.push(q.append(item(i, i % 2 ? 'a' : 'b'), 1000 + i, true));
  const results = await Promise.all(appended.map((a) => a.durable));
  t.ok(results.every((r) => r.ok), 'every append became durable');
  t.same(appended.map((a) => a.seq), [...Array(50).keys()]);
  q.done([0, 1, 2, 3, 4, 10, 11]);
  await q.close();

  const q2 = createPersistentQueue(cfg(dir));
  const r2 = await q2.open();
  t.equal(r2.pendingRecords, 43, 'the records not done');
  t.equal(r2.maybeSentRecords, 43, 'all were handed to the sender before');
  const replayed = await drainAll(q2);
  t.same(replayed.map((r) => r.seq), [...Array(50).keys()].filter((s) => s > 4 && s !== 10 && s !== 11), 'in order, done ones skipped');
  const r7 = replayed.find((r) => r.seq === 7)!;
  t.equal(r7.tenant, 'a');
  t.equal(r7.signal, 'traces');
  t.equal(r7.items, 1 + (7 % 3));
  t.equal(r7.timeMs, 1007);
  t.same(Buffer.from(r7.payload), body(7));
  // New data comes after the replayed records.
  const next = q2.append(item(99), 2000, false);
  t.equal(next.seq, 50);
  await next.durable;
  t.same((await drainAll(q2)).map((r) => r.seq), [50]);
  await q2.close();
});

t.test('spilled records are read back from disk across segment rotation, and acknowledged segments are deleted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pq-'));
  const q = createPersistentQueue(cfg(dir, { segmentBytes: 4096 }));
  await q.open();
  for (let i = 0; i < 200; i += 10) {
    const wave = [];
    for (let j = i; j < i + 10; j++) wave.push(q.append({ ...item(j), body: body(j, 500) }, j, false));
    t.ok((await Promise.all(wave.map((a) => a.durable))).every((r) => r.ok));
  }
  t.ok(readdirSync(dir).filter((n) => n.endsWith('.q')).length > 10, 'rotated into many segments');
  const read = await drainAll(q);
  t.same(read.map((r) => r.seq), [...Array(200).keys()]);
  t.ok(read.every((r, i) => Buffer.from(r.payload).equals(body(i, 500))), 'payloads intact');
  q.done(read.map((r) => r.seq));
  await q.close();
  const left = readdirSync(dir).filter((n) => n.endsWith('.q'));
  t.ok(left.length <= 2, `acknowledged segments deleted (left: ${left.join(', ')})`);
  const q2 = createPersistentQueue(cfg(dir));
  t.equal((await q2.open()).pendingRecords, 0, 'nothing to replay');
  await q2.close();
});

t.test('a torn tail is cut off, counted and the records before it replayed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pq-'));
  const q = createPersistentQueue(cfg(dir));
  await q.open();
  const appended = [];
  for (let i = 0; i < 10; i++) appended.push(q.append(item(i), i, true));
  await Promise.all(appended.map((a) => a.durable));
  await q.close();
  const seg = join(dir, readdirSync(dir).filter((n) => n.endsWith('.q')).sort().pop()!);
  const size = statSync(seg).size;
  truncateSync(seg, size - 37); // mid-record
  const torn: number[] = [];
  const events: QueueEvents = { tornTail: (i) => torn.push(i.bytes, i.records) };
  const q2 = createPersistentQueue(cfg(dir), events);
  const r = await q2.open();
  t.equal(torn.length, 2, 'one torn tail reported');
  t.equal(torn[1], 1, 'holding one record');
  t.ok(torn[0]! > 0 && torn[0]! < 200, `the partial record's bytes (${torn[0]})`);
  t.equal(r.tornBytes, torn[0]);
  t.equal(r.pendingRecords, 9, 'the nine whole records remain');
  t.same((await drainAll(q2)).map((x) => x.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  // The next record gets the torn one's number (it was never acknowledged: its fsync never completed).
  const next = q2.append(item(50), 50, false);
  t.equal(next.seq, 9);
  await next.durable;
  t.same((await drainAll(q2)).map((x) => x.seq), [9]);
  await q2.close();
});

t.test('a corrupt record in the middle is skipped and counted; the queue goes on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pq-'));
  const q = createPersistentQueue(cfg(dir));
  await q.open();
  const appended = [];
  for (let i = 0; i < 10; i++) appended.push(q.append(item(i), i, true));
  await Promise.all(appended.map((a) => a.durable));
  await q.close();
  const seg = join(dir, readdirSync(dir).filter((n) => n.endsWith('.q')).sort()[0]!);
  const bytes = readFileSync(seg);
  // Record 3 starts after the magic and three records; flip its length field and a payload byte of record 6.
  let at = QUEUE_MAGIC.length;
  const starts: number[] = [];
  while (at < bytes.length) {
    starts.push(at);
    at += RECORD_HEAD + bytes.readUInt32BE(at + 4);
  }
  const fd = openSync(seg, 'r+');
  writeSync(fd, Buffer.from([0xff, 0xff]), 0, 2, starts[3]! + 4);
  writeSync(fd, Buffer.from([0x00]), 0, 1, starts[7]! - 3);
  closeSync(fd);
  const lost: number[] = [];
  const corrupt: string[] = [];
  const q2 = createPersistentQueue(cfg(dir), { lost: (i) => lost.push(i.records), corrupt: (i) => corrupt.push(i.reason) });
  await q2.open();
  const read = await drainAll(q2);
  t.same(read.map((x) => x.seq), [0, 1, 2, 4, 5, 7, 8, 9], 'records 3 and 6 lost, the rest read');
  t.equal(lost.reduce((a, b) => a + b, 0), 2, 'two records counted as lost');
  t.equal(corrupt.length, 2, `two damaged stretches (${corrupt.join('; ')})`);
  await q2.close();
});

t.test('a torn newest slot of the ack state falls back to the older one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pq-'));
  const q = createPersistentQueue(cfg(dir));
  await q.open();
  const a = [0, 1, 2, 3].map((i) => q.append(item(i), i, true));
  await Promise.all(a.map((x) => x.durable));
  q.done([0]);
  await q.close(); // writes a slot (next 1)
  const q1 = createPersistentQueue(cfg(dir));
  await q1.open();
  q1.done([1]);
  await q1.close(); // writes the other slot (next 2)
  const before = readFileSync(join(dir, 'ack.state'));
  const q2 = createPersistentQueue(cfg(dir));
  t.equal((await q2.open()).pendingRecords, 2, 'the newest slot: records 2 and 3 left');
  await q2.close(); // rewrites a slot with the same state
  // Tear the slot holding the newest generation: the other (older) one is used, which only replays more.
  const gen = (at: number) => before.readUInt32BE(at + 8);
  const newest = gen(0) > gen(64 * 1024) ? 0 : 64 * 1024;
  before[newest + 14] ^= 0xff;
  writeFileSync(join(dir, 'ack.state'), before);
  const q3 = createPersistentQueue(cfg(dir));
  t.equal((await q3.open()).pendingRecords, 3, 'the older slot: records 1, 2 and 3');
  await q3.close();
});

t.test('a damaged ack state replays everything (duplicates, never a loss)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pq-'));
  const q = createPersistentQueue(cfg(dir));
  await q.open();
  const a = [0, 1, 2].map((i) => q.append(item(i), i, true));
  await Promise.all(a.map((x) => x.durable));
  q.done([0, 1]);
  await q.close();
  // Both slots damaged (one flipped byte each).
  const state = readFileSync(join(dir, 'ack.state'));
  for (const at of [20, 64 * 1024 + 20]) if (state.length > at) state[at] ^= 0xff;
  writeFileSync(join(dir, 'ack.state'), state);
  const reasons: string[] = [];
  const q2 = createPersistentQueue(cfg(dir), { ackStateLost: (r) => reasons.push(r) });
  t.equal((await q2.open()).pendingRecords, 3);
  t.equal(reasons.length, 1);
  await q2.close();
});

t.test('the disk budget bounds what is taken', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pq-'));
  const q = createPersistentQueue(cfg(dir, { maxDiskBytes: 2000 }));
  await q.open();
  let taken = 0;
  while (q.hasRoomFor('acme', 100)) {
    await q.append(item(taken), taken, false).durable;
    taken++;
  }
  t.ok(taken >= 10 && taken < 20, `about 2000 bytes of 100-byte records (${taken})`);
  t.ok(q.stats().diskBytes <= 2000);
  q.done([0, 1, 2]);
  await drainAll(q);
  await q.close();
});

t.test('the disk budget counts bytes being written: appending without waiting never overshoots it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pq-'));
  const q = createPersistentQueue(cfg(dir, { maxDiskBytes: 4000 }));
  await q.open();
  const durable: Promise<unknown>[] = [];
  let taken = 0;
  // Appends while the writer has earlier ones in flight (nothing awaited between them, a tick between
  // rounds so that the writer takes what is pending).
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 3 && q.hasRoomFor('acme', 100); i++) durable.push(q.append(item(taken), taken++, false).durable);
    t.ok(q.stats().diskBytes <= 4000, `round ${round}: ${q.stats().diskBytes} bytes`);
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(durable);
  const onDisk = readdirSync(dir)
    .filter((f) => f.endsWith('.q'))
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  t.ok(onDisk <= 4000, `the segment files hold ${onDisk} bytes (${taken} records)`);
  t.ok(taken > 20, 'the budget was used');
  await q.close();
});

for (const sync of ['always', 'none'] as const) {
  t.test(`sync: ${sync} acknowledges and replays the same`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pq-'));
    const q = createPersistentQueue(cfg(dir, { sync }));
    await q.open();
    const a = [0, 1, 2, 3].map((i) => q.append(item(i), i, true));
    t.ok((await Promise.all(a.map((x) => x.durable))).every((r) => r.ok));
    await q.close();
    const q2 = createPersistentQueue(cfg(dir, { sync }));
    t.equal((await q2.open()).pendingRecords, 4);
    t.same((await drainAll(q2)).map((r) => r.seq), [0, 1, 2, 3]);
    await q2.close();
  });
}
