// The fast path's validating walk over an encoded Export{Trace,Metrics,Logs}ServiceRequest
// (DESIGN.md decision 2). One pass over the bytes, no decoded objects: it checks every field against
// the OTLP schema (wire-schema.ts), counts items (spans, data points, log records) and, for traces,
// feeds the per-trace summary. Anything malformed yields a message naming the field path and the
// byte offset of the offending field's tag, e.g.
//   resource_spans[0].scope_spans[1].spans[4].attributes[2]: field 2 (value) has wire type 0, expected 2 (offset 1234)
//
// What "valid" means here (stricter than a lenient parser, never looser than protobufjs, the
// reference path, so that whatever the walk accepts the reference decodes to the same thing):
// - known fields have their declared wire type; repeated fixed64/double/uint64 fields may be packed
//   or unpacked, as every protobuf parser must accept both (https://protobuf.dev/programming-guides/encoding/#packed);
// - lengths fit inside the enclosing message; varints are at most 10 bytes and fit 64 bits; tags and
//   length prefixes are 32-bit; field number 0 and the group wire types (3, 4; never used by OTLP)
//   and 6, 7 are refused; unknown fields with other wire types are skipped (and kept in the output);
// - strings are valid UTF-8 (proto3 requires it; Go receivers refuse a request that breaks it);
// - trace ids are 16 bytes and span ids 8, or empty (the OTLP spec's sizes; the Collector refuses
//   other lengths, which would fail a whole downstream batch);
// - messages nest at most 100 deep (protoc's and protobufjs' recursion limit) and AnyValues at most
//   32 deep (arrays in kvlists in arrays...).
// The walk is iterative (an explicit stack in typed arrays), so no input can overflow the call stack,
// and each step consumes input bytes, so its work is linear in the body size.
//
// The walk only validates, counts and groups; it never changes the bytes. Redaction and tenant
// stamping are a separate pass over an accepted request (rewrite.ts).
import type { TraceColumns, TraceSummary } from '../protocol.js';
import type { Signal } from '../../signals.js';
import { createTraceGroups } from './trace-groups.js';
import { isValidUtf8 } from './utf8.js';
import {
  WireError,
  WireType,
  checkPackedVarints,
  describeWireError,
  fixed32At,
  readLength,
  readTag,
  readVarint,
  skipVarint,
  wire,
} from '../wire/wire-reader.js';
import {
  Capture,
  FIELD_INFO,
  FIELD_NAMES,
  FIELD_REPEATED,
  FIELD_SLOTS,
  INFO_CAPTURE_MASK,
  INFO_CAPTURE_SHIFT,
  INFO_CHILD_SHIFT,
  INFO_ITEM,
  INFO_KIND_MASK,
  Kind,
  MESSAGE_NAMES,
  MsgId,
} from './wire-schema.js';

/** protoc's default recursion limit, and protobufjs' (util.recursionLimit): the root is depth 0. */
export const MAX_MESSAGE_DEPTH = 100;
/** AnyValues inside AnyValues (array_value / kvlist_value), counting the outermost as 1. */
export const MAX_ANY_VALUE_DEPTH = 32;

export interface WalkOk {
  ok: true;
  /** Spans, metric data points or log records. */
  items: number;
  /** The request has top-level fields other than field 1 (resource_*): the output must drop them. */
  foreignTopLevel: boolean;
  /** Traces only: spans grouped by trace id, in first-seen order. */
  traces?: TraceSummary[];
  /** Instead of `traces` with summarise 'columns'. */
  traceColumns?: TraceColumns;
}
export interface WalkFailure {
  ok: false;
  /** Names the field path and the byte offset; safe to return to the client. */
  message: string;
}
export type WalkResult = WalkOk | WalkFailure;

const ROOT_MSG: Record<Signal, number> = {
  traces: MsgId.TRACE_REQUEST,
  metrics: MsgId.METRICS_REQUEST,
  logs: MsgId.LOGS_REQUEST,
};

// The frame stack, reused across requests (a worker walks one request at a time). Frame 0 is the
// request itself; frame d is the message opened at depth d.
const STACK = MAX_MESSAGE_DEPTH + 1;
const frameMsg = new Int32Array(STACK);
const frameEnd = new Int32Array(STACK);
/** Where the tag of the field that opened the frame starts, in the parent (its field number, length
 * prefix and content start can be read again from there when a failure message needs them). */
const frameTag = new Int32Array(STACK);
/** AnyValues open at and above the frame. */
const frameAnyDepth = new Int32Array(STACK);

const groups = createTraceGroups();

/**
 * Walks one request. Never throws on any input; the work is linear in buf.length. `summarise: false`
 * skips grouping spans by trace (no `traces` in the result) when nothing downstream samples;
 * 'columns' gives the groups as `traceColumns` instead of objects (what the worker hands on).
 */
export function walkRequest(signal: Signal, buf: Uint8Array, summarise: boolean | 'columns' = true): WalkResult {
  const traces = summarise !== false && signal === 'traces';
  if (traces) groups.reset();
  const root = ROOT_MSG[signal];
  const fieldInfo = FIELD_INFO;

  let sp = 0;
  let msg = root;
  let msgBase = msg * FIELD_SLOTS;
  let end = buf.length;
  let anyDepth = 0;
  let pos = 0;
  let items = 0;
  let foreignTopLevel = false;
  frameMsg[0] = root;
  frameEnd[0] = end;
  frameTag[0] = -1;
  frameAnyDepth[0] = 0;

  // The span being walked (spans do not nest): what the trace summary needs; the last occurrence of a
  // field wins, and Status messages merge, as in protobuf decoding.
  let traceIdPos = -1;
  let hasParent = false;
  let startHi = 0;
  let startLo = 0;
  let endHi = 0;
  let endLo = 0;
  let statusCode = 0;

  for (;;) {
    if (pos >= end) {
      // Every step is bounds-checked against `end`, so pos === end: the frame is complete.
      if (sp === 0) break;
      if (traces && msg === MsgId.SPAN) groups.add(buf, traceIdPos, statusCode === 2, !hasParent, startHi, startLo, endHi, endLo);
      sp--;
      msg = frameMsg[sp]!;
      msgBase = msg * FIELD_SLOTS;
      end = frameEnd[sp]!;
      anyDepth = frameAnyDepth[sp]!;
      continue;
    }

    const tagPos = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) {
      pos++;
    } else {
      pos = readTag(buf, pos, end);
      if (pos < 0) return fail(buf, sp, msg, tagPos, -1, `tag: ${describeWireError(pos)}`);
      tag = wire.tag;
    }
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) return fail(buf, sp, msg, tagPos, -1, 'field number 0 is invalid');
    const info = field < FIELD_SLOTS ? fieldInfo[msgBase + field]! : 0;
    const kind = info & INFO_KIND_MASK;

    switch (kind) {
      case Kind.UNKNOWN: {
        if (sp === 0) foreignTopLevel = true;
        switch (wt) {
          case WireType.VARINT:
            pos = skipVarint(buf, pos, end);
            break;
          case WireType.I64:
            pos = pos + 8 <= end ? pos + 8 : WireError.TRUNCATED;
            break;
          case WireType.LEN:
            pos = readLength(buf, pos, end);
            if (pos >= 0) pos += wire.lo;
            break;
          case WireType.I32:
            pos = pos + 4 <= end ? pos + 4 : WireError.TRUNCATED;
            break;
          case WireType.SGROUP:
          case WireType.EGROUP:
            return fail(buf, sp, msg, tagPos, field, `has group wire type ${wt}, which OTLP does not use`);
          default:
            return fail(buf, sp, msg, tagPos, field, `has invalid wire type ${wt}`);
        }
        if (pos < 0) return fail(buf, sp, msg, tagPos, field, describeWireError(pos));
        continue;
      }

      case Kind.VARINT: {
        if (wt !== WireType.VARINT) return wrongWireType(buf, sp, msg, tagPos, field, wt, WireType.VARINT);
        if (pos < end && buf[pos]! < 0x80) {
          // One-byte varint: the common case (small counts, enums, booleans).
          if (((info >>> INFO_CAPTURE_SHIFT) & INFO_CAPTURE_MASK) === Capture.STATUS_CODE) statusCode = buf[pos]!;
          pos++;
          continue;
        }
        if (((info >>> INFO_CAPTURE_SHIFT) & INFO_CAPTURE_MASK) === Capture.STATUS_CODE) {
          pos = readVarint(buf, pos, end);
          // An enum is an int32: protobuf parsers keep the low 32 bits.
          statusCode = wire.lo | 0;
        } else {
          pos = skipVarint(buf, pos, end);
        }
        if (pos < 0) return fail(buf, sp, msg, tagPos, field, describeWireError(pos));
        continue;
      }

      case Kind.I64: {
        if (wt !== WireType.I64) return wrongWireType(buf, sp, msg, tagPos, field, wt, WireType.I64);
        if (pos + 8 > end) return fail(buf, sp, msg, tagPos, field, 'truncated');
        const capture = (info >>> INFO_CAPTURE_SHIFT) & INFO_CAPTURE_MASK;
        if (capture === Capture.SPAN_START) {
          startLo = fixed32At(buf, pos);
          startHi = fixed32At(buf, pos + 4);
        } else if (capture === Capture.SPAN_END) {
          endLo = fixed32At(buf, pos);
          endHi = fixed32At(buf, pos + 4);
        }
        pos += 8;
        continue;
      }

      case Kind.I32: {
        if (wt !== WireType.I32) return wrongWireType(buf, sp, msg, tagPos, field, wt, WireType.I32);
        if (pos + 4 > end) return fail(buf, sp, msg, tagPos, field, 'truncated');
        pos += 4;
        continue;
      }

      case Kind.PACKED_I64: {
        if (wt === WireType.I64) {
          if (pos + 8 > end) return fail(buf, sp, msg, tagPos, field, 'truncated');
          pos += 8;
          continue;
        }
        if (wt !== WireType.LEN) return wrongWireType(buf, sp, msg, tagPos, field, wt, WireType.LEN);
        pos = readLength(buf, pos, end);
        if (pos < 0) return fail(buf, sp, msg, tagPos, field, describeWireError(pos));
        if (wire.lo % 8 !== 0) return fail(buf, sp, msg, tagPos, field, `packed length ${wire.lo} is not a multiple of 8`);
        pos += wire.lo;
        continue;
      }

      case Kind.PACKED_VARINT: {
        if (wt === WireType.VARINT) {
          pos = skipVarint(buf, pos, end);
          if (pos < 0) return fail(buf, sp, msg, tagPos, field, describeWireError(pos));
          continue;
        }
        if (wt !== WireType.LEN) return wrongWireType(buf, sp, msg, tagPos, field, wt, WireType.LEN);
        pos = readLength(buf, pos, end);
        if (pos < 0) return fail(buf, sp, msg, tagPos, field, describeWireError(pos));
        pos = checkPackedVarints(buf, pos, pos + wire.lo);
        if (pos < 0) return fail(buf, sp, msg, tagPos, field, `packed varints: ${describeWireError(pos)}`);
        continue;
      }

      default: {
        // The length-delimited kinds: STRING, BYTES, MESSAGE, TRACE_ID, SPAN_ID.
        if (wt !== WireType.LEN) return wrongWireType(buf, sp, msg, tagPos, field, wt, WireType.LEN);
        let len: number;
        if (pos < end && buf[pos]! < 0x80) {
          len = buf[pos++]!;
          if (len > end - pos) return fail(buf, sp, msg, tagPos, field, describeWireError(WireError.LENGTH_OVERFLOW));
        } else {
          pos = readLength(buf, pos, end);
          if (pos < 0) return fail(buf, sp, msg, tagPos, field, describeWireError(pos));
          len = wire.lo;
        }

        if (kind === Kind.MESSAGE) {
          const child = info >>> INFO_CHILD_SHIFT;
          // Attributes are most of the fields of real telemetry: check the common shape in one step.
          if (child === MsgId.KEY_VALUE && sp + 1 < MAX_MESSAGE_DEPTH && anyDepth < MAX_ANY_VALUE_DEPTH && isSimpleKeyValue(buf, pos, pos + len)) {
            pos += len;
            continue;
          }
          if (sp === MAX_MESSAGE_DEPTH) {
            return fail(buf, sp, msg, tagPos, field, `nests messages deeper than ${MAX_MESSAGE_DEPTH} levels`);
          }
          if (child === MsgId.ANY_VALUE && anyDepth === MAX_ANY_VALUE_DEPTH) {
            return fail(buf, sp, msg, tagPos, field, `nests AnyValues deeper than ${MAX_ANY_VALUE_DEPTH} levels`);
          }
          sp++;
          msg = child;
          msgBase = child * FIELD_SLOTS;
          end = pos + len;
          if (child === MsgId.ANY_VALUE) anyDepth++;
          frameMsg[sp] = child;
          frameEnd[sp] = end;
          frameTag[sp] = tagPos;
          frameAnyDepth[sp] = anyDepth;
          if ((info & INFO_ITEM) !== 0) {
            items++;
            if (child === MsgId.SPAN) {
              traceIdPos = -1;
              hasParent = false;
              startHi = startLo = endHi = endLo = 0;
              statusCode = 0;
            }
          }
          continue;
        }

        if (kind === Kind.STRING) {
          if (!isValidUtf8(buf, pos, pos + len)) return fail(buf, sp, msg, tagPos, field, 'is not valid UTF-8');
        } else if (kind === Kind.TRACE_ID || kind === Kind.SPAN_ID) {
          const size = kind === Kind.TRACE_ID ? 16 : 8;
          if (len !== size && len !== 0) return fail(buf, sp, msg, tagPos, field, `must be ${size} bytes or empty, got ${len}`);
          const capture = (info >>> INFO_CAPTURE_SHIFT) & INFO_CAPTURE_MASK;
          if (capture === Capture.SPAN_TRACE_ID) traceIdPos = len === 0 ? -1 : pos;
          else if (capture === Capture.SPAN_PARENT_ID) hasParent = len !== 0;
        }
        pos += len;
        continue;
      }
    }
  }

  const result: WalkOk = { ok: true, items, foreignTopLevel };
  if (traces) {
    if (summarise === 'columns') result.traceColumns = groups.columns();
    else result.traces = groups.summaries();
  }
  return result;
}

/**
 * Whether KeyValue content buf[s, e) has the shape nearly every attribute has, checked in one step
 * without the frame stack: `key` (field 1, valid UTF-8), then `value` (field 2) ending at e and holding
 * nothing or one scalar that ends it: a string (valid UTF-8), bool or int (a varint), double (8 bytes)
 * or bytes; lengths of one or two bytes. Only what the generic walk accepts matches (the caller has
 * checked that the two nested messages fit the depth limits); anything else, valid or not, returns
 * false, and the generic walk checks it field by field and names what is wrong. So the shortcut
 * changes how fast a request is accepted, never whether it is, nor any failure message.
 */
function isSimpleKeyValue(buf: Uint8Array, s: number, e: number): boolean {
  if (s + 2 > e || buf[s] !== 0x0a) return false;
  let p = shortLength(buf, s + 1, e);
  if (p < 0) return false;
  const keyEnd = p + shortLen;
  if (keyEnd + 2 > e || buf[keyEnd] !== 0x12) return false;
  const a = shortLength(buf, keyEnd + 1, e);
  if (a < 0 || a + shortLen !== e || !isValidUtf8(buf, p, keyEnd)) return false;
  if (a === e) return true; // an empty AnyValue
  const tag = buf[a]!;
  switch (tag) {
    case 0x0a: // string_value
    case 0x3a: // bytes_value
      p = shortLength(buf, a + 1, e);
      return p >= 0 && p + shortLen === e && (tag === 0x3a || isValidUtf8(buf, p, e));
    case 0x10: // bool_value
    case 0x18: // int_value
      return skipVarint(buf, a + 1, e) === e;
    case 0x21: // double_value
      return a + 9 === e;
    default:
      return false;
  }
}

/** Length read by shortLength. */
let shortLen = 0;

/** A length prefix of one or two bytes at p (into shortLen; -1 when longer or past e); the position after it. */
function shortLength(buf: Uint8Array, p: number, e: number): number {
  if (p >= e) return -1;
  const b0 = buf[p]!;
  if (b0 < 0x80) {
    shortLen = b0;
    return p + 1;
  }
  if (p + 1 >= e) return -1;
  const b1 = buf[p + 1]!;
  if (b1 >= 0x80) return -1;
  shortLen = (b0 & 0x7f) | (b1 << 7);
  return p + 2;
}

function wrongWireType(buf: Uint8Array, sp: number, msg: number, tagPos: number, field: number, wt: number, expected: number): WalkFailure {
  return fail(buf, sp, msg, tagPos, field, `has wire type ${wt}, expected ${expected}`);
}

/**
 * Builds the failure message: the path of open frames, then the field and what is wrong with it.
 * Only runs on failure, so it may allocate; repeated-field indexes are found by counting the
 * earlier occurrences of the same field in each parent (all of them already validated).
 */
function fail(buf: Uint8Array, sp: number, msg: number, tagPos: number, field: number, detail: string): WalkFailure {
  const segments: string[] = [];
  for (let d = 1; d <= sp; d++) {
    const parent = frameMsg[d - 1]!;
    // The frame's tag and length prefix were read once already: read them again for the field number
    // and for where the parent's content starts.
    readTag(buf, frameTag[d]!, buf.length);
    const f = wire.tag >>> 3;
    const slot = parent * FIELD_SLOTS + f;
    let segment = FIELD_NAMES[slot]!;
    if (FIELD_REPEATED[slot] === 1) segment += `[${countEarlier(buf, contentStart(buf, d - 1), frameTag[d]!, f)}]`;
    segments.push(segment);
  }
  const where = segments.length > 0 ? segments.join('.') : MESSAGE_NAMES[msg]!;
  let what = detail;
  if (field > 0) {
    const name = field < FIELD_SLOTS ? FIELD_NAMES[msg * FIELD_SLOTS + field] : '';
    what = `field ${field}${name ? ` (${name})` : ''} ${detail}`;
  }
  return { ok: false, message: `${where}: ${what} (offset ${tagPos})` };
}

/** Where frame d's content starts (after its tag and length prefix; 0 for the request). */
function contentStart(buf: Uint8Array, d: number): number {
  if (d === 0) return 0;
  return readLength(buf, readTag(buf, frameTag[d]!, buf.length), buf.length);
}

/** How many fields numbered `field` lie in [from, to): the index of the one that starts at `to`. */
function countEarlier(buf: Uint8Array, from: number, to: number, field: number): number {
  let n = 0;
  let pos = from;
  while (pos < to) {
    pos = readTag(buf, pos, to);
    if (pos < 0) break;
    const tag = wire.tag;
    if (tag >>> 3 === field) n++;
    switch (tag & 7) {
      case WireType.VARINT:
        pos = skipVarint(buf, pos, to);
        break;
      case WireType.I64:
        pos += 8;
        break;
      case WireType.LEN:
        pos = readLength(buf, pos, to);
        if (pos >= 0) pos += wire.lo;
        break;
      case WireType.I32:
        pos += 4;
        break;
      default:
        pos = -1;
    }
    if (pos < 0) break;
  }
  return n;
}
