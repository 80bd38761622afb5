// The file "backend": batches appended to segment files as length-delimited records
// (varint length + Export*ServiceRequest bytes, the framing protobuf's writeDelimited uses), one
// directory per signal and tenant: `${dir}/${signal}/${tenantDir}/segment-<seq>.pb`.
// Segments rotate by size and age; a segment is fsynced when it is rotated and at shutdown, so a
// crash loses at most the unsynced tail of open segments, and a record cut short by a crash is
// detected (and reported) by the reader rather than misread.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExporterConfig } from '../config/types.js';
import { varintBytes } from '../process/wire/wire-writer.js';
import type { Signal } from '../signals.js';
import type { ExportBatch, Transport, TransportResult } from './transport.js';

const SEGMENT_RE = /^segment-(\d+)\.pb$/;
const SEQ_DIGITS = 10;

export function segmentFileName(seq: number): string {
  return `segment-${String(seq).padStart(SEQ_DIGITS, '0')}.pb`;
}

/**
 * A tenant as one safe, reversible path component: every byte outside [A-Za-z0-9_-] (including
 * '.', '/', '%') becomes %XX, so '..' or 'a/b' cannot escape or collide; the empty tenant is '%'.
 */
export function tenantDirName(tenant: string): string {
  if (tenant === '') return '%';
  let out = '';
  for (const byte of Buffer.from(tenant, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of tenantDirName. */
export function tenantFromDirName(name: string): string {
  if (name === '%') return '';
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '%') {
      bytes.push(parseInt(name.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(name.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

interface Segment {
  fh: FileHandle;
  path: string;
  seq: number;
  bytes: number;
  openedAt: number;
}

interface Stream {
  dir: string;
  segment?: Segment;
  nextSeq?: number;
  /** Writes to one stream are serialised, so records never interleave. */
  chain: Promise<unknown>;
}

export interface FileTransportEnv {
  now?: () => number;
}

/** A Transport that appends each batch as one record; used by createExporter for kind 'file'. */
export function createFileTransport(
  config: Pick<ExporterConfig, 'endpoint' | 'file'>,
  env: FileTransportEnv = {},
): Transport {
  const now = env.now ?? Date.now;
  const root = config.endpoint;
  const { maxSegmentBytes, maxSegmentAgeMs } = config.file;
  const streams = new Map<string, Stream>();
  let closed = false;

  async function nextSeq(stream: Stream): Promise<number> {
    if (stream.nextSeq === undefined) {
      // Continue after what is already there: a restart never overwrites earlier segments.
      let max = 0;
      for (const name of await readdir(stream.dir)) {
        const m = SEGMENT_RE.exec(name);
        if (m) max = Math.max(max, Number(m[1]));
      }
      stream.nextSeq = max + 1;
    }
    return stream.nextSeq++;
  }

  async function openSegment(stream: Stream): Promise<Segment> {
    await mkdir(stream.dir, { recursive: true });
    for (;;) {
      const seq = await nextSeq(stream);
      const path = join(stream.dir, segmentFileName(seq));
      try {
        // 'wx': fail rather than append to a segment another process (or an earlier run) owns.
        const fh = await open(path, 'wx');
        return { fh, path, seq, bytes: 0, openedAt: now() };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }

  async function closeSegment(stream: Stream): Promise<void> {
    const seg = stream.segment;
    if (!seg) return;
    stream.segment = undefined;
    try {
      await seg.fh.sync();
    } finally {
      await seg.fh.close();
    }
  }

  async function write(stream: Stream, record: Buffer[], length: number): Promise<void> {
    const seg = stream.segment;
    if (seg && (now() - seg.openedAt >= maxSegmentAgeMs || (seg.bytes > 0 && seg.bytes + length > maxSegmentBytes))) {
      await closeSegment(stream);
    }
    stream.segment ??= await openSegment(stream);
    const current = stream.segment;
    await current.fh.writev(record);
    current.bytes += length;
  }

  function streamFor(signal: Signal, tenant: string): Stream {
    const key = `${signal}/${tenantDirName(tenant)}`;
    let s = streams.get(key);
    if (!s) streams.set(key, (s = { dir: join(root, signal, tenantDirName(tenant)), chain: Promise.resolve() }));
    return s;
  }

  // Age-based rotation also for idle segments, so an old segment gets synced and closed even when
  // nothing more is written to it.
  const ageTimer = setInterval(
    () => {
      for (const s of streams.values()) {
        s.chain = s.chain.then(async () => {
          if (s.segment && now() - s.segment.openedAt >= maxSegmentAgeMs) await closeSegment(s);
        }).catch(() => {});
      }
    },
    Math.max(10, Math.min(maxSegmentAgeMs, 60_000)),
  );
  ageTimer.unref();

  function send(batch: ExportBatch): Promise<TransportResult> {
    if (closed) return Promise.resolve({ status: 'retryable', reason: 'aborted', message: 'file exporter closed' });
    const stream = streamFor(batch.signal, batch.tenant);
    const length = varintBytes(batch.body.length);
    const prefix = Buffer.from(length.buffer, length.byteOffset, length.byteLength);
    const body = Buffer.from(batch.body.buffer, batch.body.byteOffset, batch.body.byteLength);
    const result = stream.chain.then(
      async (): Promise<TransportResult> => {
        try {
          await write(stream, [prefix, body], prefix.length + body.length);
          return { status: 'ok' };
        } catch (err) {
          // A failed write may have left a partial record; start a fresh segment for the next one.
          await closeSegment(stream).catch(() => {});
          const e = err as NodeJS.ErrnoException;
          return { status: 'retryable', reason: 'file_io', message: `${e.code ?? ''} ${e.message}`.trim() };
        }
      },
    );
    stream.chain = result;
    return result;
  }

  return {
    kind: 'file',
    send,
    async close() {
      closed = true;
      clearInterval(ageTimer);
      await Promise.all(
        [...streams.values()].map(async (s) => {
          await s.chain.catch(() => {});
          await closeSegment(s);
        }),
      );
    },
  };
}

// ---- reading back (tests, tooling) ----

export interface FileRecord {
  tenant: string;
  /** The segment file the record came from. */
  path: string;
  /** Byte offset of the record's length prefix in that file. */
  offset: number;
  /** The Export*ServiceRequest bytes. */
  body: Uint8Array;
}

export interface TruncatedRecord {
  path: string;
  /** Where the incomplete record starts. */
  offset: number;
  /** Bytes present from that offset to the end of the file. */
  presentBytes: number;
  /** The declared record length, when its prefix was complete. */
  declaredBytes?: number;
}

export interface FileReadResult {
  records: FileRecord[];
  /** Records cut short (a crash mid-write); reading of that segment stops there. */
  truncated: TruncatedRecord[];
}

/** Split one segment's bytes into records; a record that does not fit is reported, not thrown. */
export function parseSegment(
  buf: Uint8Array,
  path: string,
  tenant: string,
): { records: FileRecord[]; truncated?: TruncatedRecord } {
  const records: FileRecord[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    let len = 0;
    let shift = 0;
    let complete = false;
    while (pos < buf.length && shift <= 49) {
      const b = buf[pos++]!;
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) {
        complete = true;
        break;
      }
    }
    if (!complete) return { records, truncated: { path, offset: start, presentBytes: buf.length - start } };
    if (pos + len > buf.length) {
      return { records, truncated: { path, offset: start, presentBytes: buf.length - start, declaredBytes: len } };
    }
    records.push({ tenant, path, offset: start, body: buf.subarray(pos, pos + len) });
    pos += len;
  }
  return { records };
}

/**
 * Every record written for `signal` under `dir` (the file exporter's endpoint), tenants in sorted
 * directory order and segments in sequence order; only `tenant` when given.
 */
export function readFileSegments(dir: string, signal: Signal, options: { tenant?: string } = {}): FileReadResult {
  const result: FileReadResult = { records: [], truncated: [] };
  const signalDir = join(dir, signal);
  let tenantDirs: string[];
  try {
    tenantDirs = readdirSync(signalDir).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return result;
    throw err;
  }
  if (options.tenant !== undefined) tenantDirs = tenantDirs.filter((d) => d === tenantDirName(options.tenant!));
  for (const tenantDir of tenantDirs) {
    const tdir = join(signalDir, tenantDir);
    if (!statSync(tdir).isDirectory()) continue;
    const tenant = tenantFromDirName(tenantDir);
    const segments = readdirSync(tdir)
      .map((name) => ({ name, m: SEGMENT_RE.exec(name) }))
      .filter((s) => s.m)
      .sort((a, b) => Number(a.m![1]) - Number(b.m![1]));
    for (const { name } of segments) {
      const path = join(tdir, name);
      const parsed = parseSegment(readFileSync(path), path, tenant);
      result.records.push(...parsed.records);
      if (parsed.truncated) result.truncated.push(parsed.truncated);
    }
  }
  return result;
}
