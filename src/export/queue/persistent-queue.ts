// The persistent export queue of one exporter (DESIGN.md, decision 7: "acknowledged means safe").
//
// An append-only log of segments `<dir>/<firstSeq>.q` (./record-format.ts), one record per offered
// request, each with a sequence number. The writer appends in groups and fsyncs by `sync`:
// - `batch`: at most one fdatasync every `syncIntervalMs`; a request waits for the fsync that covers it
//   (group commit, as Kafka's and PostgreSQL's logs do);
// - `always`: an fdatasync after every write (still grouped: what arrived during one write goes in the next);
// - `none`: no fsync; a request is acknowledged once written to the page cache (survives a process crash,
//   not a power loss).
// The durable read offset (`ack.state`: every record below `next` and those listed in `done` reached the
// backend or were dropped and counted) moves only when the exporter says a record is done. Records are
// read back from disk when they were not kept in memory: those from before a restart (replay, in order,
// before anything new) and those appended while the exporter's memory queue was full (spill).
// Delivery is at-least-once: what was sent but not yet recorded as done is sent again after a crash.
//
// Why not the forensic tee's writer (src/tee/tee.ts): it is built to never hold a request up (it sheds
// records when its buffer or disk budget is full, and fsyncs once a second), while this queue exists to
// hold the acknowledgement until the bytes are durable and to refuse rather than shed. What carries over
// is its technique: positional writev of [header, payload] without copying, a truncate back to the last
// good length after a failed write, and the record layout (./record-format.ts).
import { mkdirSync } from 'node:fs';
import { open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import type { Signal } from '../../signals.js';
import { QUEUE_MAGIC, RECORD_MARK, encodeRecordHeader, recordBytes, scanStep, type QueueRecord } from './record-format.js';

export type SyncMode = 'batch' | 'always' | 'none';

export interface PersistentQueueConfig {
  dir: string;
  sync: SyncMode;
  syncIntervalMs: number;
  maxDiskBytes: number;
  /** Bytes appended and not yet written (the write buffer) before hasRoomFor says no. */
  maxBufferBytes: number;
  /** A segment is closed and a new one started once it holds this many bytes. */
  segmentBytes: number;
}

export interface QueueEvents {
  /** A torn or corrupt tail was cut off at start-up. */
  tornTail?(info: { file: string; offset: number; bytes: number; records: number; reason: string }): void;
  /** A damaged stretch was skipped while reading. */
  corrupt?(info: { file: string; offset: number; bytes: number; reason: string }): void;
  /** Records not done were missing from the log (lost with a damaged stretch): `firstSeq`…`lastSeq`. */
  lost?(info: { file: string; records: number; firstSeq: number; lastSeq: number }): void;
  /** Records were written (the exporter can read spilled ones now). */
  written?(): void;
  /** The ack state could not be read at start-up: everything on disk is replayed. */
  ackStateLost?(reason: string): void;
}

export interface RecoveryReport {
  /** Records on disk the backend has not acknowledged (replayed, in order, before new data). */
  pendingRecords: number;
  pendingBytes: number;
  /** Of those, records that had been handed to the sender before the restart: they may reach the backend twice. */
  maybeSentRecords: number;
  segments: number;
  tornBytes: number;
}

export type DurableResult = { ok: true } | { ok: false; message: string };

export interface PersistentQueue {
  open(): Promise<RecoveryReport>;
  /** Whether a record of this size fits the disk budget (and the write buffer) now. */
  hasRoomFor(tenant: string, payloadBytes: number): boolean;
  /**
   * Append a record. `loaded`: the caller keeps the payload in memory and sends it (only allowed when
   * `hasBacklog` is false, so that order is kept); otherwise it is read back from disk later.
   * `durable` resolves once the record is on disk as `sync` promises.
   */
  append(item: { signal: Signal; tenant: string; body: Uint8Array; items: number }, timeMs: number, loaded: boolean): { seq: number; durable: Promise<DurableResult> };
  /** Records on disk not yet handed to the sender. */
  readonly hasBacklog: boolean;
  /** Read up to about `maxBytes` of payload of the next records from disk, in order (at least one if any). */
  readNext(maxBytes: number): Promise<QueueRecord[]>;
  /** The backend acknowledged (or permanently refused, counted) these records. */
  done(seqs: readonly number[]): void;
  stats(): { diskBytes: number; oldestTimeMs: number | undefined; records: number };
  /** Write what is buffered, sync, persist the read offset. The queue keeps everything not done for the next start. */
  close(): Promise<void>;
}

interface Segment {
  firstSeq: number;
  path: string;
  /** Bytes in the file (for the active one: written so far). */
  size: number;
}

interface Waiter {
  resolve(r: DurableResult): void;
}

interface PendingWrite {
  seq: number;
  buffers: Buffer[];
  bytes: number;
  waiter: Waiter;
}

const READ_CHUNK = 4 * 1024 * 1024;
/** The durable read offset: two slots of `length:u32be crc:u32be generation:u32be json`, written in turn. */
const ACK_STATE = 'ack.state';
const ACK_SLOT_BYTES = 64 * 1024;
const ACK_SLOT_HEAD = 12;
/**
 * How often the read offset is saved (when it moved): what a crash can forget is at most this long of
 * acknowledgements (sent again: duplicates) and of hand-overs to the sender (not counted as possible
 * duplicates). A small file written and renamed, no fsync: 50 per second cost next to nothing.
 */
const ACK_WRITE_INTERVAL_MS = 20;
const SEQ_DIGITS = 16;

const segmentName = (firstSeq: number): string => `${String(firstSeq).padStart(SEQ_DIGITS, '0')}.q`;

/** Sorted sequence numbers as [first, last] ranges (the ack state stays small). */
function toRanges(seqs: Iterable<number>): [number, number][] {
  const sorted = [...seqs].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && last[1] + 1 === s) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}

function fromRanges(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: number[] = [];
  for (const r of value) {
    if (!Array.isArray(r) || r.length !== 2 || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1]) || r[1] < r[0] || r[1] - r[0] > 1e7) return undefined;
    for (let s = r[0] as number; s <= (r[1] as number); s++) out.push(s);
  }
  return out;
}

async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export function createPersistentQueue(config: PersistentQueueConfig, events: QueueEvents = {}): PersistentQueue {
  const { dir } = config;
  const segments: Segment[] = [];
  let active: { seg: Segment; handle: FileHandle } | undefined;
  /** The next sequence number to hand out. */
  let nextSeq = 0;
  /** Sequence number after the last record whose write completed. */
  let writtenSeq = 0;
  /** Every record below it is done. */
  let ackedSeq = 0;
  /** Done records at or above ackedSeq. */
  const doneAbove = new Set<number>();
  /** Records below it were handed to the sender (kept in memory, or read back). */
  let loadedSeq = 0;
  /** Loaded, not done: sequence number → receive time (insertion order = sequence order). */
  const times = new Map<number, number>();
  let cursor = { segment: 0, offset: QUEUE_MAGIC.length, expected: 0 };
  let pending: PendingWrite[] = [];
  let pendingBytes = 0;
  // Bytes taken from `pending` by the writer and not yet on disk: still held and still to be charged.
  let writingBytes = 0;
  let writing: Promise<void> | undefined;
  let lastSyncAt = 0;
  let closed = false;
  let ackDirty = false;
  let ackTimer: NodeJS.Timeout | undefined;
  let ackWriting: Promise<void> = Promise.resolve();
  let ackHandle: FileHandle | undefined;
  let ackGeneration = 0;
  let diskBytes = 0;

  // ---- start-up ----------------------------------------------------------------------------------

  async function readAckState(): Promise<{ next: number; done: number[]; loaded: number } | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, ACK_STATE));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      events.ackStateLost?.(`cannot read ${ACK_STATE}: ${(err as Error).message}`);
      return undefined;
    }
    // Two slots written in turn: the newest one that checks out (a torn slot leaves the other).
    let best: { generation: number; state: { next: number; done: number[]; loaded: number } } | undefined;
    for (let slot = 0; slot < 2; slot++) {
      const at = slot * ACK_SLOT_BYTES;
      if (bytes.length < at + ACK_SLOT_HEAD) continue;
      const length = bytes.readUInt32BE(at);
      if (length > ACK_SLOT_BYTES - ACK_SLOT_HEAD || bytes.length < at + ACK_SLOT_HEAD + length) continue;
      const body = bytes.subarray(at + ACK_SLOT_HEAD, at + ACK_SLOT_HEAD + length);
      if (crc32(body, bytes.readUInt32BE(at + 8)) !== bytes.readUInt32BE(at + 4)) continue;
      const generation = bytes.readUInt32BE(at + 8);
      try {
        const v = JSON.parse(body.toString('utf8')) as { next?: unknown; done?: unknown; loaded?: unknown };
        const done = fromRanges(v.done ?? []);
        if (!Number.isSafeInteger(v.next) || (v.next as number) < 0 || !done) continue;
        const loaded = Number.isSafeInteger(v.loaded) ? (v.loaded as number) : (v.next as number);
        // Serial-number order (RFC 1982): the generation wraps after 2^32 writes.
        if (!best || ((generation - best.generation) >>> 0) < 2 ** 31) best = { generation, state: { next: v.next as number, done, loaded } };
      } catch {
        // not this slot
      }
    }
    if (!best) {
      events.ackStateLost?.(`${ACK_STATE} is damaged (no slot checks out); replaying everything on disk`);
      return undefined;
    }
    ackGeneration = best.generation;
    return best.state;
  }

  /** Scans the last segment: cuts a torn or corrupt tail; returns the sequence number after its last good record. */
  async function recoverTail(seg: Segment): Promise<{ next: number; tornBytes: number }> {
    const bytes = await readFile(seg.path);
    let at = QUEUE_MAGIC.length;
    let next = seg.firstSeq;
    let goodEnd = at;
    const magicOk = bytes.length >= QUEUE_MAGIC.length && bytes.subarray(0, QUEUE_MAGIC.length).equals(QUEUE_MAGIC);
    if (magicOk) {
      while (at < bytes.length) {
        const step = scanStep(bytes, 0, at, true);
        if (step.kind === 'record') {
          next = step.record.seq + 1;
          goodEnd = step.end;
          at = step.end;
        } else if (step.kind === 'damage') {
          // Damage in the middle is left for the reader (it skips it and counts what it held).
          at = step.end;
        } else break;
      }
    }
    const torn = magicOk ? bytes.length - goodEnd : bytes.length;
    if (torn > 0) {
      const h = await open(seg.path, 'r+');
      try {
        if (!magicOk) {
          await h.truncate(0);
          await h.write(QUEUE_MAGIC, 0, QUEUE_MAGIC.length, 0);
        } else await h.truncate(goodEnd);
        await h.datasync();
      } finally {
        await h.close();
      }
      const from = magicOk ? goodEnd : 0;
      events.tornTail?.({ file: seg.path, offset: from, bytes: torn, records: recordStarts(bytes, from), reason: magicOk ? describeTail(bytes, goodEnd) : 'bad segment header' });
      seg.size = magicOk ? goodEnd : QUEUE_MAGIC.length;
    }
    return { next, tornBytes: torn };
  }

  /** Records that started in the cut-off bytes (each MARK): what the torn tail held, as far as can be told. */
  function recordStarts(bytes: Buffer, from: number): number {
    const mark = Buffer.alloc(4);
    mark.writeUInt32BE(RECORD_MARK);
    let n = 0;
    for (let i = bytes.indexOf(mark, from); i >= 0; i = bytes.indexOf(mark, i + 4)) n++;
    return n;
  }

  function describeTail(bytes: Buffer, at: number): string {
    const step = scanStep(bytes, 0, at, true);
    return step.kind === 'damage' ? step.reason : 'truncated record';
  }

  async function openSegment(firstSeq: number): Promise<void> {
    const path = join(dir, segmentName(firstSeq));
    const handle = await open(path, 'wx');
    await handle.write(QUEUE_MAGIC, 0, QUEUE_MAGIC.length, 0);
    if (config.sync !== 'none') {
      await handle.datasync();
      await syncDir(dir);
    }
    const seg = { firstSeq, path, size: QUEUE_MAGIC.length };
    segments.push(seg);
    diskBytes += seg.size;
    active = { seg, handle };
  }

  async function openQueue(): Promise<RecoveryReport> {
    mkdirSync(dir, { recursive: true });
    const names = (await readdir(dir)).filter((n) => /^\d{16}\.q$/.test(n)).sort();
    for (const name of names) {
      const path = join(dir, name);
      segments.push({ firstSeq: Number(name.slice(0, SEQ_DIGITS)), path, size: (await stat(path)).size });
    }
    let tornBytes = 0;
    const last = segments[segments.length - 1];
    if (last) {
      const tail = await recoverTail(last);
      tornBytes = tail.tornBytes;
      nextSeq = tail.next;
    }
    for (const s of segments) diskBytes += s.size;
    const first = segments[0]?.firstSeq ?? 0;
    const state = await readAckState();
    ackedSeq = Math.max(state?.next ?? first, first);
    for (const s of state?.done ?? []) if (s >= ackedSeq) doneAbove.add(s);
    while (doneAbove.delete(ackedSeq)) ackedSeq++;
    nextSeq = Math.max(nextSeq, ackedSeq);
    writtenSeq = nextSeq;
    loadedSeq = first;
    cursor = { segment: 0, offset: QUEUE_MAGIC.length, expected: first };
    let pendingRecords = 0;
    for (let s = ackedSeq; s < nextSeq; s++) if (!doneAbove.has(s)) pendingRecords++;
    let maybeSent = 0;
    for (let s = ackedSeq; s < Math.min(state?.loaded ?? 0, nextSeq); s++) if (!doneAbove.has(s)) maybeSent++;
    const report: RecoveryReport = { pendingRecords, pendingBytes: 0, maybeSentRecords: maybeSent, segments: segments.length, tornBytes };
    // New records go to a new segment: a recovered file is never appended to.
    if (last && last.size === QUEUE_MAGIC.length && last.firstSeq === nextSeq) {
      await unlink(last.path);
      diskBytes -= last.size;
      segments.pop();
    }
    await openSegment(nextSeq);
    // Segments the backend had fully acknowledged (a crash came before they were deleted).
    await deleteAcknowledgedSegments();
    report.pendingBytes = diskBytes - QUEUE_MAGIC.length;
    return report;
  }

  // ---- writing -----------------------------------------------------------------------------------

  function hasRoomFor(tenant: string, payloadBytes: number): boolean {
    const bytes = recordBytes(tenant, payloadBytes);
    const buffered = pendingBytes + writingBytes + bytes;
    return !closed && active !== undefined && diskBytes + buffered <= config.maxDiskBytes && buffered <= config.maxBufferBytes;
  }

  function append(item: { signal: Signal; tenant: string; body: Uint8Array; items: number }, timeMs: number, loaded: boolean): { seq: number; durable: Promise<DurableResult> } {
    const seq = nextSeq++;
    const record: QueueRecord = { seq, signal: item.signal, tenant: item.tenant, items: item.items, timeMs, payload: item.body };
    const header = encodeRecordHeader(record);
    const payload = Buffer.from(item.body.buffer, item.body.byteOffset, item.body.byteLength);
    const bytes = header.length + payload.length;
    if (loaded) {
      if (loadedSeq === seq) loadedSeq = seq + 1;
      times.set(seq, timeMs);
      scheduleAckWrite();
    }
    if (closed || !active) {
      // Callers ask hasRoomFor first; should one not, the number is not waited for anywhere.
      writtenSeq = Math.max(writtenSeq, seq + 1);
      done([seq]);
      return { seq, durable: Promise.resolve({ ok: false, message: 'the persistent queue is closed' }) };
    }
    let waiter!: Waiter;
    const durable = new Promise<DurableResult>((resolve) => (waiter = { resolve }));
    pending.push({ seq, buffers: [header, payload], bytes, waiter });
    pendingBytes += bytes;
    kickWriter();
    return { seq, durable };
  }

  function kickWriter(): void {
    if (writing) return;
    writing = writeLoop()
      .catch((err: Error) => {
        // A bug, not an I/O error (those are answered per group): nobody may wait forever.
        for (const p of takePending()) p.waiter.resolve({ ok: false, message: `persistent queue writer failed: ${err.message}` });
      })
      .finally(() => {
        writing = undefined;
        // Appended after the loop's last check (a waiter resumed before this ran): write those too.
        if (pending.length > 0 && active) kickWriter();
      });
  }

  async function writeGroup(group: PendingWrite[]): Promise<string | undefined> {
    const { seg, handle } = active!;
    const buffers: Buffer[] = [];
    let bytes = 0;
    for (const p of group) {
      buffers.push(...p.buffers);
      bytes += p.bytes;
    }
    try {
      // Positional, so that after a failure the next group goes where this one started.
      let written = 0;
      while (written < bytes) {
        const { bytesWritten } = await handle.writev(written === 0 ? buffers : [Buffer.concat(buffers).subarray(written)], seg.size + written);
        written += bytesWritten;
      }
    } catch (err) {
      writingBytes -= bytes;
      await handle.truncate(seg.size).catch(() => {});
      return `writing ${seg.path} failed: ${(err as Error).message}`;
    }
    seg.size += bytes;
    diskBytes += bytes;
    writingBytes -= bytes;
    return undefined;
  }

  async function writeLoop(): Promise<void> {
    while (pending.length > 0 && active) {
      let group = takePending();
      const failed = await writeGroup(group);
      if (failed) {
        settle(group, failed);
        continue;
      }
      writtenSeq = group[group.length - 1]!.seq + 1;
      events.written?.();
      if (config.sync === 'batch') {
        // Group commit: wait out the interval since the last fsync; what arrives meanwhile joins this fsync.
        const wait = lastSyncAt + config.syncIntervalMs - Date.now();
        if (wait > 0) {
          await new Promise((r) => setTimeout(r, wait));
          if (pending.length > 0) {
            const more = takePending();
            const failedMore = await writeGroup(more);
            if (failedMore) settle(more, failedMore);
            else {
              writtenSeq = more[more.length - 1]!.seq + 1;
              group = group.concat(more);
              events.written?.();
            }
          }
        }
      }
      if (config.sync !== 'none') {
        try {
          await active.handle.datasync();
          lastSyncAt = Date.now();
        } catch (err) {
          // After a failed fsync the kernel may have dropped the dirty pages: none of these is durable.
          settle(group, `fsync of ${active.seg.path} failed: ${(err as Error).message}`);
          await rotate();
          continue;
        }
      }
      settle(group);
      if (active.seg.size >= config.segmentBytes) await rotate();
    }
  }

  function takePending(): PendingWrite[] {
    const group = pending;
    pending = [];
    for (const p of group) {
      pendingBytes -= p.bytes;
      writingBytes += p.bytes;
    }
    return group;
  }

  function settle(group: PendingWrite[], failure?: string): void {
    if (failure) {
      // Not acknowledged to the client (it retries); the numbers are not waited for at replay or by the reader.
      writtenSeq = Math.max(writtenSeq, group[group.length - 1]!.seq + 1);
      done(group.map((p) => p.seq));
      for (const p of group) p.waiter.resolve({ ok: false, message: failure });
      return;
    }
    for (const p of group) p.waiter.resolve({ ok: true });
  }

  async function rotate(): Promise<void> {
    const old = active!;
    try {
      // The new segment first: hasRoomFor keeps saying yes while the old one is closed.
      await openSegment(writtenSeq);
    } catch (err) {
      // Without a segment nothing can be written: fail what waits; hasRoomFor refuses from now on.
      active = undefined;
      closed = true;
      for (const p of takePending()) p.waiter.resolve({ ok: false, message: `cannot open a new queue segment: ${(err as Error).message}` });
    }
    await old.handle.close().catch(() => {});
  }

  // ---- reading back ------------------------------------------------------------------------------

  async function readNext(maxBytes: number): Promise<QueueRecord[]> {
    const out: QueueRecord[] = [];
    let bytes = 0;
    while (bytes < maxBytes && loadedSeq < writtenSeq) {
      const seg = segments[cursor.segment];
      if (!seg) break;
      const isActive = seg === active?.seg;
      const limit = seg.size;
      const nextSegment = segments[cursor.segment + 1];
      if (cursor.offset >= limit) {
        if (isActive || !nextSegment) {
          // The end of what is written: numbers below writtenSeq that were never found are lost.
          skipTo(writtenSeq, seg.path);
          break;
        }
        skipTo(nextSegment.firstSeq, seg.path);
        cursor = { segment: cursor.segment + 1, offset: QUEUE_MAGIC.length, expected: cursor.expected };
        continue;
      }
      const h = await open(seg.path, 'r');
      try {
        let want = Math.min(READ_CHUNK, limit - cursor.offset);
        for (;;) {
          const buf = Buffer.allocUnsafe(want);
          const { bytesRead } = await h.read(buf, 0, want, cursor.offset);
          const chunk = buf.subarray(0, bytesRead);
          const base = cursor.offset;
          const eof = base + bytesRead >= limit;
          let at = base;
          let needMore = 0;
          while (at < base + chunk.length && bytes < maxBytes) {
            const step = scanStep(chunk, base, at, eof);
            if (step.kind === 'need') {
              needMore = step.bytes;
              break;
            }
            if (step.kind === 'damage') {
              // What the stretch held is counted by number when the next good record is read (skipTo).
              events.corrupt?.({ file: seg.path, offset: step.offset, bytes: step.end - step.offset, reason: step.reason });
              at = step.end;
              cursor.offset = at;
              continue;
            }
            const r = step.record;
            at = step.end;
            cursor.offset = at;
            if (r.seq < cursor.expected) continue;
            if (r.seq < loadedSeq) {
              // Kept in memory when appended (no backlog then): the reader only walks past it. Each
              // record is walked past at most once: the cursor only moves forward.
              skipTo(r.seq, seg.path);
              cursor.expected = r.seq + 1;
              continue;
            }
            skipTo(r.seq, seg.path);
            cursor.expected = r.seq + 1;
            loadedSeq = r.seq + 1;
            if (r.seq < ackedSeq || doneAbove.has(r.seq)) continue;
            // A view into the chunk: copied so that a batch does not keep the whole chunk alive.
            out.push({ ...r, payload: Buffer.from(r.payload) });
            times.set(r.seq, r.timeMs);
            scheduleAckWrite();
            bytes += r.payload.length;
          }
          if (needMore > 0 && at === base) {
            want = Math.min(needMore, limit - cursor.offset);
            continue;
          }
          break;
        }
      } finally {
        await h.close();
      }
    }
    return out;
  }

  function skipTo(seq: number, file: string): void {
    if (seq <= cursor.expected) return;
    const missing: number[] = [];
    for (let s = Math.max(cursor.expected, ackedSeq); s < seq; s++) if (!doneAbove.has(s)) missing.push(s);
    cursor.expected = seq;
    if (loadedSeq < seq) loadedSeq = seq;
    if (missing.length > 0) {
      events.lost?.({ file, records: missing.length, firstSeq: missing[0]!, lastSeq: missing[missing.length - 1]! });
      done(missing);
    }
  }

  // ---- acknowledgement ---------------------------------------------------------------------------

  function done(seqs: readonly number[]): void {
    for (const s of seqs) {
      times.delete(s);
      if (s >= ackedSeq) doneAbove.add(s);
    }
    const before = ackedSeq;
    while (doneAbove.delete(ackedSeq)) ackedSeq++;
    if (ackedSeq !== before || seqs.length > 0) scheduleAckWrite();
  }

  function scheduleAckWrite(): void {
    ackDirty = true;
    if (ackTimer || closed) return;
    ackTimer = setTimeout(() => {
      ackTimer = undefined;
      void persistAck();
    }, ACK_WRITE_INTERVAL_MS);
    ackTimer.unref();
  }

  function persistAck(sync = false): Promise<void> {
    ackWriting = ackWriting.then(async () => {
      if (!ackDirty && !sync) return;
      ackDirty = false;
      try {
        ackHandle ??= await open(join(dir, ACK_STATE), 'r+').catch(() => open(join(dir, ACK_STATE), 'w+'));
        let body = Buffer.from(JSON.stringify({ next: ackedSeq, done: toRanges(doneAbove), loaded: loadedSeq }));
        // Too many gaps to list: without them only more is replayed (duplicates), never less.
        if (body.length > ACK_SLOT_BYTES - ACK_SLOT_HEAD) body = Buffer.from(JSON.stringify({ next: ackedSeq, loaded: loadedSeq }));
        const generation = ++ackGeneration >>> 0;
        const head = Buffer.alloc(ACK_SLOT_HEAD);
        head.writeUInt32BE(body.length, 0);
        head.writeUInt32BE(crc32(body, generation), 4);
        head.writeUInt32BE(generation, 8);
        // One positional write into the slot not holding the newest state; no fsync (except at close):
        // after a process crash the page cache has it; after a power loss an older offset only means
        // more duplicates (at-least-once), never a loss.
        await ackHandle.writev([head, body], (generation % 2) * ACK_SLOT_BYTES);
        if (sync) await ackHandle.datasync();
        await deleteAcknowledgedSegments();
      } catch {
        ackDirty = true;
      }
    });
    return ackWriting;
  }

  /** Segments whose every record is below the durable read offset (never the active one). */
  async function deleteAcknowledgedSegments(): Promise<void> {
    while (segments.length > 1 && segments[1]!.firstSeq <= ackedSeq && segments[0] !== active?.seg) {
      const seg = segments.shift()!;
      // The reader moves with the list; if it was still in the deleted segment it starts the next one.
      if (cursor.segment === 0) cursor.offset = QUEUE_MAGIC.length;
      else cursor.segment--;
      diskBytes -= seg.size;
      await unlink(seg.path).catch(() => {});
    }
  }

  return {
    open: openQueue,
    hasRoomFor,
    append,
    get hasBacklog() {
      return loadedSeq < nextSeq;
    },
    readNext,
    done,
    stats() {
      const oldest = times.values().next();
      return { diskBytes: diskBytes + writingBytes + pendingBytes, oldestTimeMs: oldest.done ? undefined : oldest.value, records: nextSeq - ackedSeq - doneAbove.size };
    },
    async close() {
      while (writing) await writing;
      closed = true;
      clearTimeout(ackTimer);
      ackTimer = undefined;
      await persistAck(true);
      await ackHandle?.close().catch(() => {});
      ackHandle = undefined;
      if (active) {
        await active.handle.close().catch(() => {});
        active = undefined;
      }
    },
  };
}
