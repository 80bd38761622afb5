// Locates the traces of a validated ExportTraceServiceRequest for the tail sampler (ProcessTask.splitTraces
// in ../protocol.ts): locateTraces leaves the body as it is and returns, per trace id (in the order of the
// walk's summaries), where its spans lie and which resource and scope headers surround them, packed into
// the layout of trace-layout.ts. The worker locates (locateTraceColumns, from the walk's trace columns);
// the sampler locates on the main thread only for a body the worker did not (locateTraces, from summaries).
// A ResourceSpans or ScopeSpans without any span carries no trace and is left out (the sampler could not
// attribute it to a trace).
//
// No decoded objects: one pass over the bytes records where every span, scope and resource header lies
// (reused typed arrays), packed into the layout, with each trace's size (sizeTrace).
import { randomBytes } from 'node:crypto';
import { TRACE_EMPTY_ID, type TraceColumns, type TraceSummary } from '../protocol.js';
import { WireType, readLength, readTag, skipVarint, wire } from './wire-reader.js';
import {
  Column,
  L_HEADER,
  L_RESOURCES,
  L_RES_RANGES,
  L_SCOPES,
  L_SCOPE_RANGES,
  L_SPANS,
  L_TRACES,
  TAG_RESOURCE_SPANS,
  TAG_SCOPE_SPANS,
  TAG_SPANS,
  TAG_TRACE_ID,
  resourceGroupSize,
  scopeGroupSize,
  sections,
  sizeTrace,
} from './trace-layout.js';

const SEED = randomBytes(4).readUInt32LE(0) | 0;

// Spans: where the span field (tag included) lies, its trace (index into `traces`) and its scope.
const spanStart = new Column(1024);
const spanEnd = new Column(1024);
const spanTrace = new Column(1024);
const spanScope = new Column(1024);
// Scopes: their resource, header bytes (everything but spans) and header ranges.
const scopeResource = new Column(64);
const scopeHeaderBytes = new Column(64);
const scopeRangeFirst = new Column(64);
const scopeRangeEnd = new Column(64);
// Resources: header bytes (everything but scope_spans) and header ranges.
const resourceHeaderBytes = new Column(64);
const resourceRangeFirst = new Column(64);
const resourceRangeEnd = new Column(64);
// Header ranges [start, end) of scopes and of resources (each owner's ranges are contiguous here).
const scopeRangeStart = new Column(128);
const scopeRangeStop = new Column(128);
const resRangeStart = new Column(128);
const resRangeStop = new Column(128);
// Per trace: span count (then the write cursor of the counting sort).
const traceSpanCount = new Column(64);
// Trace id → index table: four 32-bit words per trace, open addressing.
const traceWords = new Column(256);
const table = new Column(256);

let nSpans = 0;
let nScopes = 0;
let nResources = 0;
let nScopeRanges = 0;
let nResRanges = 0;
let tableMask = 0;
let emptyTrace = -1;

function fail(what: string, pos: number): never {
  // Only reachable when the caller broke the contract (an unvalidated body, or summaries of another body).
  throw new Error(`splitByTrace: ${what} at offset ${pos}`);
}

/** Position after the field whose value starts at pos (the tag, with wire type wt, was read already). */
function skipField(buf: Uint8Array, wt: number, pos: number, end: number): number {
  switch (wt) {
    case WireType.VARINT:
      pos = skipVarint(buf, pos, end);
      break;
    case WireType.I64:
      pos = pos + 8 <= end ? pos + 8 : -1;
      break;
    case WireType.LEN:
      pos = readLength(buf, pos, end);
      if (pos >= 0) pos += wire.lo;
      break;
    case WireType.I32:
      pos = pos + 4 <= end ? pos + 4 : -1;
      break;
    default:
      pos = -1;
  }
  return pos;
}

function hash(w0: number, w1: number, w2: number, w3: number): number {
  let h = SEED;
  h = Math.imul(h ^ w0, 0x9e3779b1);
  h = Math.imul(h ^ w1, 0x9e3779b1);
  h = Math.imul(h ^ w2, 0x9e3779b1);
  h = Math.imul(h ^ w3, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h ^ (h >>> 16);
}

function hexDigit(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  throw new Error(`splitByTrace: trace id ${JSON.stringify(s)} is not hex`);
}

function hexByte(s: string, i: number): number {
  return (hexDigit(s, i) << 4) | hexDigit(s, i + 1);
}

/** Fills the id → index table from the summaries' hex ids (the walk's little-endian word layout). */
function buildTable(traces: readonly TraceSummary[]): void {
  const n = traces.length;
  const words = traceWords.ensure(n * 4);
  emptyTrace = -1;
  for (let i = 0; i < n; i++) {
    const id = traces[i]!.traceId;
    if (id === '') {
      emptyTrace = i;
      continue;
    }
    if (id.length !== 32) throw new Error(`splitByTrace: trace id ${JSON.stringify(id)} is not 16 bytes of hex`);
    for (let k = 0; k < 4; k++) {
      const b = k * 8;
      words[i * 4 + k] = hexByte(id, b) | (hexByte(id, b + 2) << 8) | (hexByte(id, b + 4) << 16) | (hexByte(id, b + 6) << 24);
    }
  }
  indexWords(n);
}

/** Fills the id → index table from trace columns (their words are the walk's already). */
function buildTableOfColumns(c: TraceColumns): void {
  const n = c.spans.length;
  traceWords.ensure(n * 4).set(c.words);
  emptyTrace = -1;
  for (let i = 0; i < n; i++) if ((c.flags[i]! & TRACE_EMPTY_ID) !== 0) emptyTrace = i;
  indexWords(n);
}

/** The table over traceWords' first n ids (the empty id, emptyTrace, is not in it). */
function indexWords(n: number): void {
  let size = 16;
  while (size < n * 2) size *= 2;
  const t = table.ensure(size);
  t.fill(0, 0, size);
  tableMask = size - 1;
  const words = traceWords.data;
  for (let i = 0; i < n; i++) {
    if (i === emptyTrace) continue;
    let slot = hash(words[i * 4]!, words[i * 4 + 1]!, words[i * 4 + 2]!, words[i * 4 + 3]!) & tableMask;
    while (t[slot] !== 0) slot = (slot + 1) & tableMask;
    t[slot] = i + 1;
  }
}

function wordAt(buf: Uint8Array, pos: number): number {
  return buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24);
}

/** Index in `traces` of the 16-byte id at idPos (-1: an empty id). */
function traceIndex(buf: Uint8Array, idPos: number): number {
  if (idPos < 0) {
    if (emptyTrace < 0) fail('a span with an empty trace id that no summary has', 0);
    return emptyTrace;
  }
  const w0 = wordAt(buf, idPos);
  const w1 = wordAt(buf, idPos + 4);
  const w2 = wordAt(buf, idPos + 8);
  const w3 = wordAt(buf, idPos + 12);
  const t = table.data;
  const words = traceWords.data;
  let slot = hash(w0, w1, w2, w3) & tableMask;
  for (;;) {
    const e = t[slot]!;
    if (e === 0) return fail('a span whose trace id no summary has', idPos);
    const c = (e - 1) * 4;
    if (words[c] === w0 && words[c + 1] === w1 && words[c + 2] === w2 && words[c + 3] === w3) return e - 1;
    slot = (slot + 1) & tableMask;
  }
}

/**
 * The span's trace id position (the last trace_id field wins, as in protobuf decoding), -1 if empty.
 * The hot loop of the split: one step per span field, one-byte tags and lengths inline (the body was
 * validated, so only the end is checked).
 */
function spanTraceIdPos(buf: Uint8Array, pos: number, end: number): number {
  let idPos = -1;
  while (pos < end) {
    const at = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) pos++;
    else {
      pos = readTag(buf, pos, end);
      if (pos < 0) fail('bad tag in a span', at);
      tag = wire.tag;
    }
    const wt = tag & 7;
    if (wt === WireType.LEN) {
      let len = buf[pos]!;
      if (len < 0x80) pos++;
      else {
        pos = readLength(buf, pos, end);
        if (pos < 0) fail('bad length in a span', at);
        len = wire.lo;
      }
      if (tag === TAG_TRACE_ID) idPos = len === 16 ? pos : -1;
      pos += len;
    } else if (wt === WireType.I64) {
      pos += 8;
    } else if (wt === WireType.VARINT) {
      while (buf[pos++]! >= 0x80 && pos < end);
    } else if (wt === WireType.I32) {
      pos += 4;
    } else fail(`wire type ${wt} in a span`, at);
  }
  if (pos !== end) fail('a span field runs past the span', end);
  return idPos;
}

function parseScope(buf: Uint8Array, resource: number, pos: number, end: number): void {
  const s = nScopes++;
  scopeResource.ensure(nScopes)[s] = resource;
  scopeRangeFirst.ensure(nScopes)[s] = nScopeRanges;
  let header = 0;
  while (pos < end) {
    const fieldStart = pos;
    pos = readTag(buf, pos, end);
    if (pos < 0) fail('bad tag in scope_spans', fieldStart);
    const tag = wire.tag;
    if (tag === TAG_SPANS) {
      pos = readLength(buf, pos, end);
      if (pos < 0) fail('bad span length', fieldStart);
      const contentEnd = pos + wire.lo;
      const i = nSpans++;
      spanStart.ensure(nSpans)[i] = fieldStart;
      spanEnd.ensure(nSpans)[i] = contentEnd;
      spanScope.ensure(nSpans)[i] = s;
      spanTrace.ensure(nSpans)[i] = traceIndex(buf, spanTraceIdPos(buf, pos, contentEnd));
      pos = contentEnd;
      continue;
    }
    pos = skipField(buf, tag & 7, pos, end);
    if (pos < 0) fail('bad field in scope_spans', fieldStart);
    const r = nScopeRanges++;
    scopeRangeStart.ensure(nScopeRanges)[r] = fieldStart;
    scopeRangeStop.ensure(nScopeRanges)[r] = pos;
    header += pos - fieldStart;
  }
  scopeRangeEnd.ensure(nScopes)[s] = nScopeRanges;
  scopeHeaderBytes.ensure(nScopes)[s] = header;
}

function parseResource(buf: Uint8Array, pos: number, end: number): void {
  const r = nResources++;
  resourceRangeFirst.ensure(nResources)[r] = nResRanges;
  let header = 0;
  while (pos < end) {
    const fieldStart = pos;
    pos = readTag(buf, pos, end);
    if (pos < 0) fail('bad tag in resource_spans', fieldStart);
    const tag = wire.tag;
    if (tag === TAG_SCOPE_SPANS) {
      pos = readLength(buf, pos, end);
      if (pos < 0) fail('bad scope_spans length', fieldStart);
      const contentEnd = pos + wire.lo;
      parseScope(buf, r, pos, contentEnd);
      pos = contentEnd;
      continue;
    }
    pos = skipField(buf, tag & 7, pos, end);
    if (pos < 0) fail('bad field in resource_spans', fieldStart);
    const k = nResRanges++;
    resRangeStart.ensure(nResRanges)[k] = fieldStart;
    resRangeStop.ensure(nResRanges)[k] = pos;
    header += pos - fieldStart;
  }
  resourceRangeEnd.ensure(nResources)[r] = nResRanges;
  resourceHeaderBytes.ensure(nResources)[r] = header;
}

/**
 * Where each trace of `traces` (the walk's summaries of `body`) lies in `body`: its spans, and the
 * resource and scope headers around them; the body itself is left as it is. null when there is at
 * most one trace (the body is that trace's run). Build a trace's regrouped bytes with writeTrace (write-traces.ts), only
 * for the traces that need them (the tail sampler: the kept traces of partly kept requests).
 * `body` must be a request the walk accepted and `traces` its summaries; anything else throws.
 */
export function locateTraces(body: Uint8Array, traces: readonly TraceSummary[]): Int32Array | null {
  if (traces.length <= 1) return null;
  buildTable(traces);
  return locate(body, traces.length);
}

/** locateTraces for the walk's trace columns (the worker's form: no hex ids to parse). */
export function locateTraceColumns(body: Uint8Array, columns: TraceColumns): Int32Array | null {
  if (columns.spans.length <= 1) return null;
  buildTableOfColumns(columns);
  return locate(body, columns.spans.length);
}

/** locateTraces once the id table holds the request's `nTraces` traces. */
function locate(body: Uint8Array, nTraces: number): Int32Array {
  nSpans = nScopes = nResources = nScopeRanges = nResRanges = 0;

  // Pass 1: where everything is. Top-level fields other than resource_spans are not copied.
  const n = body.length;
  let pos = 0;
  while (pos < n) {
    const fieldStart = pos;
    pos = readTag(body, pos, n);
    if (pos < 0) fail('bad top-level tag', fieldStart);
    const tag = wire.tag;
    if (tag === TAG_RESOURCE_SPANS) {
      pos = readLength(body, pos, n);
      if (pos < 0) fail('bad resource_spans length', fieldStart);
      const contentEnd = pos + wire.lo;
      parseResource(body, pos, contentEnd);
      pos = contentEnd;
      continue;
    }
    pos = skipField(body, tag & 7, pos, n);
    if (pos < 0) fail('bad top-level field', fieldStart);
  }

  const l = new Int32Array(L_HEADER + 2 * nTraces + 1 + 3 * nSpans + 4 * nScopes + 3 * nResources + 2 * nScopeRanges + 2 * nResRanges);
  l[L_TRACES] = nTraces;
  l[L_SPANS] = nSpans;
  l[L_SCOPES] = nScopes;
  l[L_RESOURCES] = nResources;
  l[L_SCOPE_RANGES] = nScopeRanges;
  l[L_RES_RANGES] = nResRanges;
  const s = sections(l);

  // Spans per trace, in original order (counting sort: stable).
  const count = traceSpanCount.ensure(nTraces);
  count.fill(0, 0, nTraces);
  const sTrace = spanTrace.data;
  for (let i = 0; i < nSpans; i++) count[sTrace[i]!]!++;
  let acc = 0;
  for (let t = 0; t < nTraces; t++) {
    l[s.first + t] = acc;
    const c = count[t]!;
    count[t] = acc; // reused as the write cursor per trace
    acc += c;
  }
  l[s.first + nTraces] = acc;
  const sStart = spanStart.data;
  const sEnd = spanEnd.data;
  const sScope = spanScope.data;
  for (let i = 0; i < nSpans; i++) {
    const at = s.spans + 3 * count[sTrace[i]!]!++;
    l[at] = sStart[i]!;
    l[at + 1] = sEnd[i]!;
    l[at + 2] = sScope[i]!;
  }
  const scRes = scopeResource.data;
  const scFirst = scopeRangeFirst.data;
  const scEnd = scopeRangeEnd.data;
  const scHeader = scopeHeaderBytes.data;
  for (let sc = 0; sc < nScopes; sc++) {
    const at = s.scopes + 4 * sc;
    l[at] = scRes[sc]!;
    l[at + 1] = scFirst[sc]!;
    l[at + 2] = scEnd[sc]!;
    l[at + 3] = scHeader[sc]!;
  }
  const rFirst = resourceRangeFirst.data;
  const rEnd = resourceRangeEnd.data;
  const rHeader = resourceHeaderBytes.data;
  for (let r = 0; r < nResources; r++) {
    const at = s.resources + 3 * r;
    l[at] = rFirst[r]!;
    l[at + 1] = rEnd[r]!;
    l[at + 2] = rHeader[r]!;
  }
  const srStart = scopeRangeStart.data;
  const srStop = scopeRangeStop.data;
  for (let h = 0; h < nScopeRanges; h++) {
    l[s.scopeRanges + 2 * h] = srStart[h]!;
    l[s.scopeRanges + 2 * h + 1] = srStop[h]!;
  }
  const rrStart = resRangeStart.data;
  const rrStop = resRangeStop.data;
  for (let h = 0; h < nResRanges; h++) {
    l[s.resRanges + 2 * h] = rrStart[h]!;
    l[s.resRanges + 2 * h + 1] = rrStop[h]!;
  }
  for (let t = 0; t < nTraces; t++) l[s.size + t] = sizeTrace(l, s, t);

  if (nSpans > 65_536) {
    for (const c of [spanStart, spanEnd, spanTrace, spanScope]) c.shrink(65_536, 1024);
  }
  if (nTraces > 16_384) {
    for (const c of [traceSpanCount, traceWords, table, resourceGroupSize, scopeGroupSize]) c.shrink(65_536, 256);
  }
  return l;
}
