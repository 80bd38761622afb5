// Attribute conditions of sampling rules, checked against the buffered bytes of a trace at decision time.
// The worker's per-trace summary carries no attributes (it would cost every request, sampled or not), so
// a rule with `when.attributes` scans the trace's encoded fragments (runs of ResourceSpans) when, and only
// when, evaluation reaches it: resource attributes (Resource.attributes) and span attributes
// (Span.attributes); not scope, event or link attributes. Keys and string values are compared as UTF-8
// bytes, without decoding. Field numbers: opentelemetry/proto/trace/v1/trace.proto, common/v1/common.proto.
import { readVarint, wire } from '../process/wire/wire-reader.js';
import type { AttributeMatch } from './policy-schema.js';

const enc = new TextEncoder();

export interface AttributeMatcher {
  key: string;
  keyBytes: Uint8Array;
  strings: Uint8Array[];
  numbers: number[];
  bools: boolean[];
  min: number;
  max: number;
  range: boolean;
}

export function compileAttributeMatchers(attrs: Record<string, AttributeMatch>): AttributeMatcher[] {
  return Object.entries(attrs).map(([key, m]) => {
    const out: AttributeMatcher = { key, keyBytes: enc.encode(key), strings: [], numbers: [], bools: [], min: -Infinity, max: Infinity, range: false };
    if (m.kind === 'range') {
      out.range = true;
      if (m.min !== undefined) out.min = m.min;
      if (m.max !== undefined) out.max = m.max;
    } else {
      for (const v of m.values) {
        if (typeof v === 'string') out.strings.push(enc.encode(v));
        else if (typeof v === 'number') out.numbers.push(v);
        else out.bools.push(v);
      }
    }
    return out;
  });
}

// Scan state: a private cursor (the fragments were validated by the worker; a malformed one ends the scan).
let pos = 0;
let lo = 0;
let hi = 0;

/** Reads a varint at pos into (lo, hi) with the shared wire reader; false on malformed input. */
function varint(buf: Uint8Array, end: number): boolean {
  const next = readVarint(buf, pos, end);
  if (next < 0) return false;
  pos = next;
  lo = wire.lo;
  hi = wire.hi;
  return true;
}

/** Skips the value of a field of wire type wt; false on malformed input. */
function skip(buf: Uint8Array, wt: number, end: number): boolean {
  switch (wt) {
    case 0:
      return varint(buf, end);
    case 1:
      pos += 8;
      return pos <= end;
    case 2:
      if (!varint(buf, end)) return false;
      pos += lo;
      return pos <= end;
    case 5:
      pos += 4;
      return pos <= end;
    default:
      return false;
  }
}

function bytesEqual(buf: Uint8Array, start: number, len: number, want: Uint8Array): boolean {
  if (len !== want.length) return false;
  for (let i = 0; i < len; i++) if (buf[start + i] !== want[i]) return false;
  return true;
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

function numberMatches(m: AttributeMatcher, n: number): boolean {
  if (m.range) return n >= m.min && n <= m.max;
  for (const x of m.numbers) if (x === n) return true;
  return false;
}

/**
 * Does the AnyValue in buf[start, end) satisfy m? string_value (1), bool_value (2), int_value (3, int64),
 * double_value (4); arrays, kvlists and bytes never match.
 */
function valueMatches(buf: Uint8Array, start: number, end: number, m: AttributeMatcher): boolean {
  pos = start;
  let result = false;
  while (pos < end) {
    if (!varint(buf, end)) return false;
    const tag = lo;
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === 2) {
      if (!varint(buf, end)) return false;
      const len = lo;
      result = false;
      if (!m.range) for (const s of m.strings) if (bytesEqual(buf, pos, len, s)) result = true;
      pos += len;
    } else if (field === 2 && wt === 0) {
      if (!varint(buf, end)) return false;
      const b = lo !== 0 || hi !== 0;
      result = !m.range && m.bools.includes(b);
    } else if (field === 3 && wt === 0) {
      if (!varint(buf, end)) return false;
      // int64 in two's complement; beyond 2^53 the comparison is approximate.
      result = numberMatches(m, (hi | 0) * 4294967296 + lo);
    } else if (field === 4 && wt === 1) {
      if (pos + 8 > end) return false;
      for (let i = 0; i < 8; i++) f64Bytes[i] = buf[pos + i]!;
      pos += 8;
      result = numberMatches(m, f64[0]!);
    } else {
      // A oneof: the last field present wins, so another kind resets the result.
      result = false;
      if (!skip(buf, wt, end)) return false;
    }
  }
  return result;
}

/** Checks one KeyValue in buf[start, end) against every matcher not yet satisfied; returns the new found mask. */
function keyValue(buf: Uint8Array, start: number, end: number, matchers: readonly AttributeMatcher[], found: number): number {
  pos = start;
  let keyStart = -1;
  let keyLen = 0;
  let valueStart = -1;
  let valueEnd = -1;
  while (pos < end) {
    if (!varint(buf, end)) return found;
    const tag = lo;
    if (tag === 0x0a || tag === 0x12) {
      if (!varint(buf, end)) return found;
      if (tag === 0x0a) {
        keyStart = pos;
        keyLen = lo;
      } else {
        valueStart = pos;
        valueEnd = pos + lo;
      }
      pos += lo;
    } else if (!skip(buf, tag & 7, end)) return found;
  }
  if (keyStart < 0 || valueStart < 0) return found;
  for (let i = 0; i < matchers.length; i++) {
    if ((found & (1 << i)) !== 0) continue;
    const m = matchers[i]!;
    if (bytesEqual(buf, keyStart, keyLen, m.keyBytes) && valueMatches(buf, valueStart, valueEnd, m)) found |= 1 << i;
  }
  return found;
}

/** Iterates the fields of the message in buf[start, end); for each field `want` (length-delimited), calls fn(contentStart, contentEnd). */
function eachField(buf: Uint8Array, start: number, end: number, want: number, fn: (s: number, e: number) => boolean): boolean {
  let p = start;
  while (p < end) {
    pos = p;
    if (!varint(buf, end)) return false;
    const tag = lo;
    if ((tag & 7) === 2) {
      if (!varint(buf, end)) return false;
      const s = pos;
      const e = pos + lo;
      if (e > end) return false;
      p = e;
      if (tag >>> 3 === want && fn(s, e)) return true;
    } else {
      if (!skip(buf, tag & 7, end)) return false;
      p = pos;
    }
  }
  return false;
}

/**
 * True when every matcher is satisfied by some resource or span attribute in the fragments (runs of
 * ResourceSpans). Stops as soon as all are found.
 */
export function attributesMatch(parts: readonly Uint8Array[], matchers: readonly AttributeMatcher[]): boolean {
  const all = (1 << matchers.length) - 1;
  let found = 0;
  const onKeyValue = (buf: Uint8Array) => (s: number, e: number): boolean => {
    found = keyValue(buf, s, e, matchers, found);
    return found === all;
  };
  for (const buf of parts) {
    const kv = onKeyValue(buf);
    const done = eachField(buf, 0, buf.length, 1, (rs, re) =>
      eachField(buf, rs, re, 1, (r0, r1) => eachField(buf, r0, r1, 1, kv)) || // resource.attributes
      eachField(buf, rs, re, 2, (ss, se) => eachField(buf, ss, se, 2, (sp0, sp1) => eachField(buf, sp0, sp1, 9, kv))), // scope_spans.spans.attributes
    );
    if (done || found === all) return true;
  }
  return found === all;
}
