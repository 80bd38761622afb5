// Locates and regroups the traces of a validated ExportTraceServiceRequest for the tail sampler
// (ProcessTask.splitTraces in ../protocol.ts). locateTraces leaves the body as it is and returns, per trace
// id (in the order of the walk's summaries), where its spans lie and which resource and scope headers
// surround them: a compact Int32Array layout (offsets into the body). writeTrace then builds the regrouped
// run of one trace on demand: resource_spans entries that carry its resource and the ScopeSpans (scope,
// schema_url) that held its spans, with only its spans, so that a batch of kept traces is still a plain
// concatenation (DESIGN.md, decision 1). Resource, scope and span bytes are copied verbatim; only the two
// length prefixes per ResourceSpans / ScopeSpans are new. The sampler forwards a request whose traces are
// all kept as the original body, so only the kept traces of partly kept requests are ever written.
//
// Field order inside a rewritten ResourceSpans / ScopeSpans: the kept scope_spans / spans first, in
// their original order, then every other field (resource, schema_url, unknown fields, in their original
// order). Protobuf parsers do not depend on field order
// (https://protobuf.dev/programming-guides/encoding/#order), and fields of the same number keep
// their relative order, so the merge semantics are unchanged.
// A ResourceSpans or ScopeSpans without any span carries no trace and is left out of the runs (the
// sampler could not attribute it to a trace); a body with a single trace is that trace's run as is.
//
// No decoded objects: one pass over the bytes records where every span, scope and resource header lies
// (reused typed arrays), packed into the layout; writing sizes a trace's groups, then copies.
import { randomBytes } from 'node:crypto';
import { TRACE_EMPTY_ID, type TraceColumns, type TraceSummary } from '../protocol.js';
import { WireType, readLength, readTag, skipVarint, wire } from './wire-reader.js';

// Field numbers (opentelemetry/proto/trace/v1/trace.proto and the collector's trace_service.proto).
const TAG_RESOURCE_SPANS = (1 << 3) | WireType.LEN; // ExportTraceServiceRequest.resource_spans
const TAG_SCOPE_SPANS = (2 << 3) | WireType.LEN; // ResourceSpans.scope_spans
const TAG_SPANS = (2 << 3) | WireType.LEN; // ScopeSpans.spans
const TAG_TRACE_ID = (1 << 3) | WireType.LEN; // Span.trace_id

const SEED = randomBytes(4).readUInt32LE(0) | 0;

/** Growable Int32Array columns, reused across calls (a worker splits one request at a time). */
class Column {
  data: Int32Array;
  constructor(size: number) {
    this.data = new Int32Array(size);
  }
  ensure(n: number): Int32Array {
    if (n > this.data.length) {
      const next = new Int32Array(Math.max(n, this.data.length * 2));
      next.set(this.data);
      this.data = next;
    }
    return this.data;
  }
  /** Gives memory back after an unusually large request. */
  shrink(limit: number, size: number): void {
    if (this.data.length > limit) this.data = new Int32Array(size);
  }
}

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
// Per trace: span count (then the write cursor of the counting sort); group sizes of the trace being sized.
const traceSpanCount = new Column(64);
const resourceGroupSize = new Column(64);
const scopeGroupSize = new Column(64);
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

/** Copies src[start, end) to out at `at`: a loop for short runs, Buffer#copy (a memcpy, no view object) otherwise. */
function copy(out: Uint8Array, at: number, src: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n < 32) {
    for (let i = 0; i < n; i++) out[at + i] = src[start + i]!;
  } else {
    src.copy(out, at, start, end);
  }
  return at + n;
}

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

// The layout (locateTraces): one Int32Array, so that it crosses from the worker to the main thread as one
// memcpy (a structured clone of a typed array), not as objects. Offsets of its sections:
const L_TRACES = 0; // header: trace, span, scope, resource, scope-range and resource-range counts
const L_SPANS = 1;
const L_SCOPES = 2;
const L_RESOURCES = 3;
const L_SCOPE_RANGES = 4;
const L_RES_RANGES = 5;
const L_HEADER = 8;
// then: traceFirst[nTraces + 1] (index of each trace's first span in the ordered spans), traceSize[nTraces]
// (bytes of its run), ordered spans (start, end, scope)×nSpans, scopes (resource, firstRange, endRange,
// headerBytes)×nScopes, resources (firstRange, endRange, headerBytes)×nResources, scope header ranges
// (start, stop)×nScopeRanges, resource header ranges (start, stop)×nResRanges.

/** Where the sections of a layout start. */
interface Sections {
  nTraces: number;
  first: number;
  size: number;
  spans: number;
  scopes: number;
  resources: number;
  scopeRanges: number;
  resRanges: number;
}

function sections(l: Int32Array): Sections {
  const nTraces = l[L_TRACES]!;
  const first = L_HEADER;
  const size = first + nTraces + 1;
  const spans = size + nTraces;
  const scopes = spans + 3 * l[L_SPANS]!;
  const resources = scopes + 4 * l[L_SCOPES]!;
  const scopeRanges = resources + 3 * l[L_RESOURCES]!;
  const resRanges = scopeRanges + 2 * l[L_SCOPE_RANGES]!;
  return { nTraces, first, size, spans, scopes, resources, scopeRanges, resRanges };
}

/** Number of traces a layout describes. */
export function layoutTraces(layout: Int32Array): number {
  return layout[L_TRACES]!;
}

/**
 * Sizes of trace t's (resource) groups into resourceGroupSize and (scope) groups into scopeGroupSize, in
 * output order; returns the bytes of its run.
 */
function sizeTrace(l: Int32Array, s: Sections, t: number): number {
  let nResGroups = 0;
  let nScopeGroups = 0;
  let total = 0;
  let curRes = -1;
  let curScope = -1;
  let resContent = 0;
  let scopeContent = 0;
  const end = l[s.first + t + 1]!;
  for (let k = l[s.first + t]!; k < end; k++) {
    const sp = s.spans + 3 * k;
    const sc = l[sp + 2]!;
    if (sc !== curScope) {
      if (curScope >= 0) {
        scopeGroupSize.ensure(nScopeGroups + 1)[nScopeGroups++] = scopeContent;
        resContent += 1 + varintSize(scopeContent) + scopeContent;
      }
      const r = l[s.scopes + 4 * sc]!;
      if (r !== curRes) {
        if (curRes >= 0) {
          resourceGroupSize.ensure(nResGroups + 1)[nResGroups++] = resContent;
          total += 1 + varintSize(resContent) + resContent;
        }
        curRes = r;
        resContent = l[s.resources + 3 * r + 2]!;
      }
      curScope = sc;
      scopeContent = l[s.scopes + 4 * sc + 3]!;
    }
    scopeContent += l[sp + 1]! - l[sp]!;
  }
  if (curScope >= 0) {
    scopeGroupSize.ensure(nScopeGroups + 1)[nScopeGroups++] = scopeContent;
    resContent += 1 + varintSize(scopeContent) + scopeContent;
    resourceGroupSize.ensure(nResGroups + 1)[nResGroups++] = resContent;
    total += 1 + varintSize(resContent) + resContent;
  }
  return total;
}

/**
 * Where each trace of `traces` (the walk's summaries of `body`) lies in `body`: its spans, and the
 * resource and scope headers around them; the body itself is left as it is. null when there is at
 * most one trace (the body is that trace's run). Build a trace's regrouped bytes with writeTraces, only
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

/** Bytes of trace t's regrouped run (locateTraces). */
export function traceSize(layout: Int32Array, t: number): number {
  return layout[L_HEADER + layout[L_TRACES]! + 1 + t]!;
}

/** Copies a scope's (or resource's) header ranges: ranges [first, end) of the range section at `base`. */
function copyHeader(out: Uint8Array, at: number, src: Buffer, l: Int32Array, base: number, first: number, end: number): number {
  for (let h = first; h < end; h++) at = copy(out, at, src, l[base + 2 * h]!, l[base + 2 * h + 1]!);
  return at;
}

/**
 * Writes the regrouped run of trace t (one resource_spans entry per resource that holds its spans, each
 * with its resource and scopes: the bytes splitByTrace lays out for it) into out at `at`; returns the
 * position after it (at + traceSize(layout, t)). `body` and `layout` must belong together.
 */
export function writeTrace(body: Uint8Array, layout: Int32Array, t: number, out: Uint8Array, at: number): number {
  const l = layout;
  const s = sections(l);
  const start = at;
  const size = sizeTrace(l, s, t);
  const src = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const resSizes = resourceGroupSize.data;
  const scopeSizes = scopeGroupSize.data;
  let rg = 0;
  let sg = 0;
  let curRes = -1;
  let curScope = -1;
  // Spans of the trace that lie next to each other in the body are copied as one range.
  let runStart = 0;
  let runEnd = 0;
  const end = l[s.first + t + 1]!;
  for (let k = l[s.first + t]!; k < end; k++) {
    const sp = s.spans + 3 * k;
    const sc = l[sp + 2]!;
    if (sc !== curScope) {
      at = copy(out, at, src, runStart, runEnd);
      runStart = runEnd = 0;
      const r = l[s.scopes + 4 * sc]!;
      if (curScope >= 0) {
        // Close the scope group (its header after its spans), and the resource group when it ends.
        const so = s.scopes + 4 * curScope;
        at = copyHeader(out, at, src, l, s.scopeRanges, l[so + 1]!, l[so + 2]!);
        if (r !== curRes) at = copyHeader(out, at, src, l, s.resRanges, l[s.resources + 3 * curRes]!, l[s.resources + 3 * curRes + 1]!);
      }
      if (r !== curRes) {
        curRes = r;
        out[at++] = TAG_RESOURCE_SPANS;
        at = writeVarint(out, at, resSizes[rg++]!);
      }
      curScope = sc;
      out[at++] = TAG_SCOPE_SPANS;
      at = writeVarint(out, at, scopeSizes[sg++]!);
    }
    const a = l[sp]!;
    if (a === runEnd && runEnd !== 0) runEnd = l[sp + 1]!;
    else {
      at = copy(out, at, src, runStart, runEnd);
      runStart = a;
      runEnd = l[sp + 1]!;
    }
  }
  at = copy(out, at, src, runStart, runEnd);
  if (curScope >= 0) {
    const so = s.scopes + 4 * curScope;
    at = copyHeader(out, at, src, l, s.scopeRanges, l[so + 1]!, l[so + 2]!);
    at = copyHeader(out, at, src, l, s.resRanges, l[s.resources + 3 * curRes]!, l[s.resources + 3 * curRes + 1]!);
  }
  if (at - start !== size) throw new Error(`writeTrace: wrote ${at - start} bytes, sized ${size}`);
  return at;
}

/**
 * `body` regrouped as one run of resource_spans entries per trace of `traces` (in that order), and each
 * summary's offset/length set to its run. `body` must be a request the walk accepted and `traces` its
 * summaries (walk.ts); anything else throws (a bug, not bad input). A body with one trace is returned
 * as is. (The gateway no longer splits whole requests: the worker returns locateTraces' layout and the
 * sampler writes only the kept traces of partly kept requests; this remains for callers that want the
 * whole regrouped body.)
 */
export function splitByTrace(body: Uint8Array, traces: TraceSummary[]): Uint8Array {
  const nTraces = traces.length;
  if (nTraces === 0) return body;
  const layout = locateTraces(body, traces);
  if (layout === null) {
    traces[0]!.offset = 0;
    traces[0]!.length = body.length;
    return body;
  }
  let total = 0;
  for (let t = 0; t < nTraces; t++) total += traceSize(layout, t);
  // Every byte is written below: no zero-fill; allocUnsafeSlow owns its ArrayBuffer (transferable).
  const out: Uint8Array = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (let t = 0; t < nTraces; t++) {
    const offset = at;
    at = writeTrace(body, layout, t, out, at);
    traces[t]!.offset = offset;
    traces[t]!.length = at - offset;
  }
  return out;
}
