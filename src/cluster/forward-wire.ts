// The message one replica forwards to a trace's owner: a valid ExportTraceServiceRequest (any OTLP
// receiver accepts it) made of
//   - field 1000 (bytes), first: the index of the traces it carries, what the owner's sampler needs
//     (trace id, spans, error/root flags, time extent, byte length of the trace's run), so the owner
//     neither walks nor re-parses the spans: it offers the runs to its sampler as they are;
//   - then, per trace, its run of resource_spans entries (process/wire/write-traces.ts writeTrace: resource, scope
//     and span bytes copied verbatim, only the ResourceSpans/ScopeSpans length prefixes are new).
// Field 1000 is unknown to the OTLP schema, so a plain OTLP receiver skips it (protobuf keeps or skips
// unknown fields: https://protobuf.dev/programming-guides/proto3/#unknowns); the owner cuts it off
// before the bytes go anywhere. Field order does not matter to protobuf parsers.
//
// Index entry (41 bytes, little-endian): trace id (16 bytes as the spans carry it), spans (u32),
// flags (u8: 1 error, 2 root, 4 empty id), start and end (u64 ns), run length (u32).
import { TRACE_EMPTY_ID, TRACE_ERROR, TRACE_ROOT, type TraceSummary } from '../process/protocol.js';
import { readLength, readTag, wire } from '../process/wire/wire-reader.js';

export const INDEX_FIELD = 1000;
const INDEX_TAG = (INDEX_FIELD << 3) | 2;
const RESOURCE_SPANS_TAG = (1 << 3) | 2;
export const ENTRY_BYTES = 41;

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[at++] = n;
  return at;
}

/** Bytes of the index field (tag, length, entries) for n traces. */
export function indexSize(n: number): number {
  const body = n * ENTRY_BYTES;
  return varintSize(INDEX_TAG) + varintSize(body) + body;
}

/**
 * Writes the index field for `traces` (their runs, of `lengths` or else of each summary's length, follow
 * it in that order) into out at 0; returns the position after it (indexSize(traces.length)).
 */
export function writeIndex(out: Buffer, traces: readonly TraceSummary[], lengths?: ArrayLike<number>): number {
  const n = traces.length;
  let at = writeVarint(out, 0, INDEX_TAG);
  at = writeVarint(out, at, n * ENTRY_BYTES);
  for (let i = 0; i < n; i++) {
    const s = traces[i]!;
    let flags = (s.error ? TRACE_ERROR : 0) | (s.root ? TRACE_ROOT : 0);
    if (s.traceId.length === 32) out.write(s.traceId, at, 16, 'hex');
    else {
      out.fill(0, at, at + 16);
      flags |= TRACE_EMPTY_ID;
    }
    at += 16;
    out.writeUInt32LE(s.spans >>> 0, at);
    out[at + 4] = flags;
    out.writeBigUInt64LE(BigInt.asUintN(64, s.startNs), at + 5);
    out.writeBigUInt64LE(BigInt.asUintN(64, s.endNs), at + 13);
    out.writeUInt32LE((lengths ? lengths[i]! : s.length!) >>> 0, at + 21);
    at += 25;
  }
  return at;
}

export interface ForwardedTraces {
  /** The runs, one after the other: a concatenation of resource_spans entries (no index). */
  body: Uint8Array;
  /** One summary per run, offset/length into `body`. */
  traces: TraceSummary[];
  spans: number;
}

/**
 * Reads a forwarded message. Checked, although it comes from a verified peer (a bug there must not turn
 * into garbage at the backends): the index comes first and is whole, the runs cover the rest exactly,
 * and every run is a sequence of whole resource_spans fields.
 */
export function readForward(msg: Uint8Array): ForwardedTraces | { error: string } {
  let pos = readTag(msg, 0, msg.length);
  if (pos < 0 || wire.tag !== INDEX_TAG) return { error: `expected the trace index (field ${INDEX_FIELD}) first` };
  pos = readLength(msg, pos, msg.length);
  if (pos < 0) return { error: 'truncated trace index' };
  const indexLength = wire.lo;
  if (indexLength % ENTRY_BYTES !== 0 || indexLength === 0) return { error: `trace index of ${indexLength} bytes is not whole entries` };
  const src = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  const runsStart = pos + indexLength;
  const body = msg.subarray(runsStart);
  const n = indexLength / ENTRY_BYTES;
  const traces: TraceSummary[] = new Array(n);
  let offset = 0;
  let spans = 0;
  for (let i = 0; i < n; i++) {
    const at = pos + i * ENTRY_BYTES;
    const flags = src[at + 20]!;
    const count = src.readUInt32LE(at + 16);
    const length = src.readUInt32LE(at + 37);
    if (count === 0 || length === 0 || offset + length > body.length) return { error: `trace ${i} of the index does not fit the message` };
    // The run must be whole resource_spans fields.
    let p = offset;
    while (p < offset + length) {
      const next = readTag(body, p, offset + length);
      if (next < 0 || wire.tag !== RESOURCE_SPANS_TAG) return { error: `trace ${i}: its run is not resource_spans` };
      p = readLength(body, next, offset + length);
      if (p < 0) return { error: `trace ${i}: truncated resource_spans` };
      p += wire.lo;
    }
    traces[i] = {
      traceId: (flags & TRACE_EMPTY_ID) !== 0 ? '' : src.toString('hex', at, at + 16),
      spans: count,
      error: (flags & TRACE_ERROR) !== 0,
      root: (flags & TRACE_ROOT) !== 0,
      startNs: src.readBigUInt64LE(at + 21),
      endNs: src.readBigUInt64LE(at + 29),
      offset,
      length,
    };
    offset += length;
    spans += count;
  }
  if (offset !== body.length) return { error: `the index covers ${offset} of ${body.length} bytes of spans` };
  return { body, traces, spans };
}
