// The reference processing path: the plain, obviously correct oracle the fast wire walker is tested
// against (DESIGN.md, decision 3). It decodes the whole request with protobufjs, works on objects, and
// encodes again. Slow (~30 µs per span) and allocation-heavy by design; it also serves debugging.
//
// Known leniency, acceptable for an oracle but worth knowing when comparing with the wire walker:
// protobufjs' generated decoders switch on the field number only and do not check that a known field
// arrives with the wire type its declaration implies (e.g. a string field sent as a varint is read as a
// length-delimited value, which then fails or misreads later). The walker may therefore reject some
// inputs with a different message, or reject inputs this path accepts; tests should compare outputs only
// for inputs both accept. Unknown fields are discarded by decode (protobufjs' Reader.discardUnknown
// default), so the re-encoded output never carries them.
import type protobuf from 'protobufjs';
import type { ProcessOk, ProcessResult, TraceSummary } from '../protocol.js';
import type { Signal } from '../../signals.js';
import { requestType } from '../wire/otlp-schema.js';
import { otlpMessageInfo, ownedBytes, renderMessage } from '../wire/otlp-json.js';
import { applyPolicy, type ReferencePolicyOptions } from './apply-policy.js';

type Obj = Record<string, unknown>;

const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

/** Optional hook applied to the decoded request before it is encoded again (e.g. a policy under test). */
export interface ReferenceOptions {
  transform?: (signal: Signal, request: Obj) => void;
  /** The policy and stamping of the fast path (apply-policy.ts), applied after `transform`. */
  policy?: ReferencePolicyOptions;
}

/** Spans, metric data points (all five metric types) or log records in a decoded request. */
export function countItems(signal: Signal, request: Obj): number {
  let n = 0;
  switch (signal) {
    case 'traces':
      for (const rs of list(request.resourceSpans)) for (const ss of list(rs.scopeSpans)) n += list(ss.spans).length;
      return n;
    case 'logs':
      for (const rl of list(request.resourceLogs)) for (const sl of list(rl.scopeLogs)) n += list(sl.logRecords).length;
      return n;
    case 'metrics':
      for (const rm of list(request.resourceMetrics)) {
        for (const sm of list(rm.scopeMetrics)) {
          for (const m of list(sm.metrics)) {
            for (const kind of ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary']) {
              const data = m[kind] as Obj | null | undefined;
              if (data) n += list(data.dataPoints).length;
            }
          }
        }
      }
      return n;
  }
}

function toBigInt(v: unknown): bigint {
  if (v == null) return 0n;
  if (typeof v === 'number') return BigInt(v);
  // protobufjs decodes fixed64 as an unsigned Long, whose toString() is the decimal value
  return BigInt(String(v));
}

const hex = (b: unknown): string => (b instanceof Uint8Array && b.length > 0 ? Buffer.from(b).toString('hex') : '');

/**
 * Spans grouped by trace id in first-seen order: per trace, the span count, whether some span has status
 * ERROR (code 2), whether some span has an empty parent_span_id, and the time range.
 */
export function summarizeTraces(request: Obj): TraceSummary[] {
  const byId = new Map<string, TraceSummary>();
  for (const rs of list(request.resourceSpans)) {
    for (const ss of list(rs.scopeSpans)) {
      for (const span of list(ss.spans)) {
        const traceId = hex(span.traceId);
        const start = toBigInt(span.startTimeUnixNano);
        const end = toBigInt(span.endTimeUnixNano);
        const status = span.status as Obj | null | undefined;
        const error = status != null && status.code === 2;
        const parent = span.parentSpanId;
        const root = !(parent instanceof Uint8Array) || parent.length === 0;
        const t = byId.get(traceId);
        if (t === undefined) {
          byId.set(traceId, { traceId, spans: 1, error, root, startNs: start, endNs: end });
        } else {
          t.spans++;
          t.error ||= error;
          t.root ||= root;
          if (start < t.startNs) t.startNs = start;
          if (end > t.endNs) t.endNs = end;
        }
      }
    }
  }
  return [...byId.values()];
}

/** Hostile nesting makes paths kilobytes long: keep the head and the tail (which has the offset). */
function abbreviate(s: string): string {
  return s.length > 400 ? `${s.slice(0, 200)}…${s.slice(-180)}` : s;
}

function decode(signal: Signal, bytes: Uint8Array): { ok: true; request: Obj } | { ok: false; message: string } {
  const type = requestType(signal);
  try {
    return { ok: true, request: type.decode(bytes) as unknown as Obj };
  } catch (e) {
    // protobufjs messages name the offset ("index out of range: 12 + 10 > 15", "invalid wire type 7 at
    // offset 3", "max depth exceeded"); a stack overflow on hostile nesting is a RangeError too.
    const reason = e instanceof Error ? e.message : String(e);
    const where = locateWireError(type, bytes);
    return { ok: false, message: `invalid ${type.name}: ${abbreviate(where ?? reason)}` };
  }
}

// ---- a precise message for a rejection: where in the request the wire format breaks ----

const WIRE_OF_SCALAR: Readonly<Record<string, number>> = {
  double: 1, fixed64: 1, sfixed64: 1,
  float: 5, fixed32: 5, sfixed32: 5,
  int32: 0, int64: 0, uint32: 0, uint64: 0, sint32: 0, sint64: 0, bool: 0,
  string: 2, bytes: 2,
};

/** Reads a varint at pos; undefined when it runs past end or over 10 bytes. */
function readVarint(buf: Uint8Array, pos: number, end: number): [number, number] | undefined {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return undefined;
    const b = buf[pos++]!;
    value += (b & 0x7f) * mul;
    mul *= 128;
    if (b < 0x80) return [value, pos];
  }
  return undefined;
}

const MAX_WIRE_DEPTH = 100; // protobufjs' Reader.recursionLimit

/**
 * Walks the bytes against the schema and describes the first structural error (truncation, a wire type
 * that does not match the field's declaration, nesting too deep) with its field path and byte offset.
 * Best effort, only used to word a rejection: undefined when it finds nothing wrong.
 */
export function locateWireError(type: protobuf.Type, bytes: Uint8Array): string | undefined {
  return scanMessage(type, bytes, 0, bytes.length, '', 0);
}

function scanMessage(type: protobuf.Type, buf: Uint8Array, start: number, end: number, path: string, depth: number): string | undefined {
  const where = path || '(root)';
  if (depth > MAX_WIRE_DEPTH) return `${where}: nesting deeper than ${MAX_WIRE_DEPTH} messages at offset ${start}`;
  const seen = new Map<number, number>();
  let pos = start;
  while (pos < end) {
    const tagAt = pos;
    const tag = readVarint(buf, pos, end);
    if (!tag) return `${where}: truncated field tag at offset ${tagAt}`;
    pos = tag[1];
    const id = Math.floor(tag[0] / 8);
    const wire = tag[0] % 8;
    if (id === 0) return `${where}: invalid field number 0 at offset ${tagAt}`;
    const field = type.fieldsById[id];
    const index = seen.get(id) ?? 0;
    seen.set(id, index + 1);
    const fpath = field ? `${path ? `${path}.` : ''}${field.name}${field.repeated ? `[${index}]` : ''}` : `${where}.#${id}`;
    if (field) {
      const nested = field.resolvedType && 'fieldsById' in field.resolvedType ? (field.resolvedType as protobuf.Type) : undefined;
      const expected = nested ? 2 : field.resolvedType ? 0 : WIRE_OF_SCALAR[field.type];
      const packed = field.repeated && !nested && expected !== 2 && wire === 2;
      if (expected !== undefined && wire !== expected && !packed) {
        return `${fpath}: wire type ${wire} at offset ${tagAt} does not match the field's type ${field.type} (wire type ${expected})`;
      }
    }
    switch (wire) {
      case 0: {
        const v = readVarint(buf, pos, end);
        if (!v) return `${fpath}: truncated varint at offset ${pos}`;
        pos = v[1];
        break;
      }
      case 1:
      case 5: {
        const n = wire === 1 ? 8 : 4;
        if (pos + n > end) return `${fpath}: truncated ${n * 8}-bit value at offset ${pos}`;
        pos += n;
        break;
      }
      case 2: {
        const len = readVarint(buf, pos, end);
        if (!len) return `${fpath}: truncated length at offset ${pos}`;
        const bodyAt = len[1];
        if (bodyAt + len[0] > end) return `${fpath}: length ${len[0]} at offset ${pos} runs past the end of its message (offset ${end})`;
        const nested = field?.resolvedType && 'fieldsById' in field.resolvedType ? (field.resolvedType as protobuf.Type) : undefined;
        if (nested) {
          const inner = scanMessage(nested, buf, bodyAt, bodyAt + len[0], fpath, depth + 1);
          if (inner) return inner;
        }
        pos = bodyAt + len[0];
        break;
      }
      default:
        return `${fpath}: unsupported wire type ${wire} at offset ${tagAt}`;
    }
  }
  return undefined;
}

/**
 * Process one encoded Export*ServiceRequest the plain way: decode, count, summarise, (transform), encode.
 * Never throws: undecodable bytes yield a MALFORMED_PAYLOAD rejection.
 */
export function referenceProcess(signal: Signal, bytes: Uint8Array, options: ReferenceOptions = {}): ProcessResult {
  const decoded = decode(signal, bytes);
  if (!decoded.ok) return { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: decoded.message };
  const request = decoded.request;
  try {
    options.transform?.(signal, request);
    const applied = options.policy ? applyPolicy(signal, request, options.policy) : undefined;
    const type = requestType(signal);
    const items = countItems(signal, request);
    const body = ownedBytes(type.encode(request).finish());
    const result: ProcessOk = { status: 'ok', body, items, rejectedItems: 0 };
    if (signal === 'traces') result.traces = summarizeTraces(request);
    if (applied) {
      if (options.policy!.tenantAttribute !== undefined) result.tenantOverwrites = applied.tenantOverwrites;
      if (Object.keys(applied.redactions).length > 0) result.redactions = applied.redactions;
      if (Object.keys(applied.dropped).length > 0) result.dropped = applied.dropped;
    }
    return result;
  } catch (e) {
    // Only reachable through a throwing transform or a protobufjs bug; still answered, never thrown.
    return { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: `cannot process the request: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * A canonical plain object of an encoded request, for deep-comparing the outputs of two paths: the
 * equivalent of protobufjs' toObject({ longs: String, enums: Number, defaults: false, arrays: false }) with
 * every bytes field as lower-case hex, except that proto3 implicit-presence fields holding their default
 * value are omitted too (an explicit zero on the wire and an absent field mean the same thing).
 * Field names are lowerCamelCase. Throws if the bytes are not a valid request (tests only).
 */
export function decodeForComparison(signal: Signal, bytes: Uint8Array): unknown {
  const type = requestType(signal);
  const msg = type.decode(bytes) as unknown as Obj;
  return renderMessage(otlpMessageInfo(type), msg, { allBytesHex: true });
}
