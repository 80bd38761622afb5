// Regroups a validated ExportTraceServiceRequest by trace id for the tail sampler (ProcessTask.splitTraces
// in ../protocol.ts): the output is one run of resource_spans entries per trace, in the order of the
// walk's summaries, so that the sampler can keep or drop a trace as one byte range
// body[offset, offset+length) and a batch of kept traces is still a plain concatenation (DESIGN.md,
// decision 1). Each entry carries its resource and the ScopeSpans (scope, schema_url) that held the
// trace's spans, with only that trace's spans. Resource, scope and span bytes are copied verbatim; only
// the two length prefixes per ResourceSpans / ScopeSpans are new.
//
// Field order inside a rewritten ResourceSpans / ScopeSpans: the kept scope_spans / spans first, in
// their original order, then every other field (resource, schema_url, unknown fields, in their original
// order): the headers of a ScopeSpans and of its ResourceSpans are then adjacent in the output and copied
// in one go from a per-request template. Protobuf parsers do not depend on field order
// (https://protobuf.dev/programming-guides/encoding/#order), and fields of the same number keep
// their relative order, so the merge semantics are unchanged.
// A ResourceSpans or ScopeSpans without any span carries no trace and is left out (the sampler could not
// attribute it to a trace), except on the single-trace fast path, where the body is returned as is.
//
// Two passes over the bytes, no decoded objects: pass 1 records where every span, scope and resource
// header lies (reused typed arrays); pass 2 sizes and writes the output, which is allocated once.
import { randomBytes } from 'node:crypto';
import type { TraceSummary } from '../protocol.js';
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
// Per trace: span count, then the spans in original order (a counting sort), then group sizes.
const traceSpanCount = new Column(64);
const traceFirst = new Column(64);
const orderedSpans = new Column(1024);
const resourceGroupSize = new Column(64);
const scopeGroupSize = new Column(64);
// Header templates (see splitByTrace): where each scope's and resource's header bytes start in
// `templates`, and each resource's last scope.
const scopeTemplate = new Column(64);
const resourceTemplate = new Column(64);
const resourceLastScope = new Column(64);
let templates: Buffer = Buffer.allocUnsafeSlow(16 * 1024);
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

/**
 * Ends a scope group: its header, and when the resource group ends too, the resource's header (one copy
 * when the scope is the resource's last: the template has them adjacent).
 */
function closeScope(out: Uint8Array, at: number, tpl: Buffer, sc: number, r: number, resourceEnds: boolean): number {
  const s = scopeTemplate.data[sc]!;
  const sBytes = scopeHeaderBytes.data[sc]!;
  if (!resourceEnds) return copy(out, at, tpl, s, s + sBytes);
  const rBytes = resourceHeaderBytes.data[r]!;
  if (resourceLastScope.data[r] === sc) return copy(out, at, tpl, s, s + sBytes + rBytes);
  at = copy(out, at, tpl, s, s + sBytes);
  const rs = resourceTemplate.data[r]!;
  return copy(out, at, tpl, rs, rs + rBytes);
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
  let size = 16;
  while (size < n * 2) size *= 2;
  const t = table.ensure(size);
  t.fill(0, 0, size);
  tableMask = size - 1;
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
 * `body` regrouped as one run of resource_spans entries per trace of `traces` (in that order), and each
 * summary's offset/length set to its run. `body` must be a request the walk accepted and `traces` its
 * summaries (walk.ts); anything else throws (a bug, not bad input). A body with one trace is returned
 * as is.
 */
export function splitByTrace(body: Uint8Array, traces: TraceSummary[]): Uint8Array {
  const nTraces = traces.length;
  if (nTraces === 0) return body;
  if (nTraces === 1) {
    traces[0]!.offset = 0;
    traces[0]!.length = body.length;
    return body;
  }
  nSpans = nScopes = nResources = nScopeRanges = nResRanges = 0;
  buildTable(traces);

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

  // Spans per trace, in original order (counting sort: stable).
  const count = traceSpanCount.ensure(nTraces);
  count.fill(0, 0, nTraces);
  const sTrace = spanTrace.data;
  for (let i = 0; i < nSpans; i++) count[sTrace[i]!]!++;
  const first = traceFirst.ensure(nTraces + 1);
  let acc = 0;
  for (let t = 0; t < nTraces; t++) {
    first[t] = acc;
    acc += count[t]!;
  }
  first[nTraces] = acc;
  const ordered = orderedSpans.ensure(nSpans);
  const fill = count; // reused as the write cursor per trace
  for (let t = 0; t < nTraces; t++) fill[t] = first[t]!;
  for (let i = 0; i < nSpans; i++) ordered[fill[sTrace[i]!]!++] = i;

  // Pass 2a: sizes of every (trace, resource) and (trace, scope) group, in output order.
  const sStart = spanStart.data;
  const sEnd = spanEnd.data;
  const sScope = spanScope.data;
  const scRes = scopeResource.data;
  const scHeader = scopeHeaderBytes.data;
  const rsHeader = resourceHeaderBytes.data;
  let nResGroups = 0;
  let nScopeGroups = 0;
  let total = 0;
  for (let t = 0; t < nTraces; t++) {
    let curRes = -1;
    let curScope = -1;
    let resContent = 0;
    let scopeContent = 0;
    const end = first[t + 1]!;
    for (let k = first[t]!; k < end; k++) {
      const i = ordered[k]!;
      const sc = sScope[i]!;
      if (sc !== curScope) {
        if (curScope >= 0) {
          scopeGroupSize.ensure(nScopeGroups + 1)[nScopeGroups++] = scopeContent;
          resContent += 1 + varintSize(scopeContent) + scopeContent;
        }
        const r = scRes[sc]!;
        if (r !== curRes) {
          if (curRes >= 0) {
            resourceGroupSize.ensure(nResGroups + 1)[nResGroups++] = resContent;
            total += 1 + varintSize(resContent) + resContent;
          }
          curRes = r;
          resContent = rsHeader[r]!;
        }
        curScope = sc;
        scopeContent = scHeader[sc]!;
      }
      scopeContent += sEnd[i]! - sStart[i]!;
    }
    if (curScope >= 0) {
      scopeGroupSize.ensure(nScopeGroups + 1)[nScopeGroups++] = scopeContent;
      resContent += 1 + varintSize(scopeContent) + scopeContent;
      resourceGroupSize.ensure(nResGroups + 1)[nResGroups++] = resContent;
      total += 1 + varintSize(resContent) + resContent;
    }
  }

  // Header templates: every scope's and resource's header ranges copied together once per request, laid
  // out per resource as [scope 1 header] … [last scope header][resource header], so that closing a
  // group, in the common case (the resource's last scope), is one copy of the scope and resource headers
  // instead of one per header range (each Buffer#copy costs about as much as copying 200 bytes).
  const src = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let tplBytes = 0;
  for (let r = 0; r < nResources; r++) tplBytes += rsHeader[r]!;
  for (let sc = 0; sc < nScopes; sc++) tplBytes += scHeader[sc]!;
  if (tplBytes > templates.length) templates = Buffer.allocUnsafeSlow(Math.max(tplBytes, templates.length * 2));
  const tpl = templates;
  const scTpl = scopeTemplate.ensure(nScopes);
  const rsTpl = resourceTemplate.ensure(nResources);
  const rsLast = resourceLastScope.ensure(nResources);
  const rFirst = resourceRangeFirst.data;
  const rEnd = resourceRangeEnd.data;
  const sFirst = scopeRangeFirst.data;
  const sRangeEnd = scopeRangeEnd.data;
  const rrStart = resRangeStart.data;
  const rrStop = resRangeStop.data;
  const srStart = scopeRangeStart.data;
  const srStop = scopeRangeStop.data;
  rsLast.fill(-1, 0, nResources);
  let w = 0;
  // Scopes are numbered in body order, so each resource's scopes are consecutive.
  for (let sc = 0, r = 0; r < nResources; r++) {
    for (; sc < nScopes && scRes[sc] === r; sc++) {
      scTpl[sc] = w;
      for (let h = sFirst[sc]!; h < sRangeEnd[sc]!; h++) w = copy(tpl, w, src, srStart[h]!, srStop[h]!);
      rsLast[r] = sc;
    }
    rsTpl[r] = w;
    for (let h = rFirst[r]!; h < rEnd[r]!; h++) w = copy(tpl, w, src, rrStart[h]!, rrStop[h]!);
  }

  // Pass 2b: write. Every byte is written below, so the buffer need not be zeroed first (a measurable
  // share of the split); allocUnsafeSlow never hands out a slice of Node's shared pool, so the result
  // owns its ArrayBuffer and can be transferred back to the main thread.
  // Each group is written as TAG len [scope_spans: TAG len spans… scope header] … resource header: the
  // headers after the spans (field order is free, see the top), so that they are adjacent.
  const out: Uint8Array = Buffer.allocUnsafeSlow(total);
  const resSizes = resourceGroupSize.data;
  const scopeSizes = scopeGroupSize.data;
  let at = 0;
  let rg = 0;
  let sg = 0;
  // Spans of one trace that lie next to each other in the body are copied as one range.
  let runStart = 0;
  let runEnd = 0;
  for (let t = 0; t < nTraces; t++) {
    const offset = at;
    let curRes = -1;
    let curScope = -1;
    const end = first[t + 1]!;
    for (let k = first[t]!; k < end; k++) {
      const i = ordered[k]!;
      const sc = sScope[i]!;
      if (sc !== curScope) {
        at = copy(out, at, src, runStart, runEnd);
        runStart = runEnd = 0;
        const r = scRes[sc]!;
        if (curScope >= 0) at = closeScope(out, at, tpl, curScope, curRes, r !== curRes);
        if (r !== curRes) {
          curRes = r;
          out[at++] = TAG_RESOURCE_SPANS;
          at = writeVarint(out, at, resSizes[rg++]!);
        }
        curScope = sc;
        out[at++] = TAG_SCOPE_SPANS;
        at = writeVarint(out, at, scopeSizes[sg++]!);
      }
      if (sStart[i] === runEnd && runEnd !== 0) {
        runEnd = sEnd[i]!;
      } else {
        at = copy(out, at, src, runStart, runEnd);
        runStart = sStart[i]!;
        runEnd = sEnd[i]!;
      }
    }
    at = copy(out, at, src, runStart, runEnd);
    runStart = runEnd = 0;
    if (curScope >= 0) at = closeScope(out, at, tpl, curScope, curRes, true);
    const summary = traces[t]!;
    summary.offset = offset;
    summary.length = at - offset;
  }
  if (at !== total) throw new Error(`splitByTrace: wrote ${at} bytes, sized ${total}`);

  if (nSpans > 65_536) {
    for (const c of [spanStart, spanEnd, spanTrace, spanScope, orderedSpans]) c.shrink(65_536, 1024);
  }
  if (nTraces > 16_384) {
    for (const c of [traceSpanCount, traceFirst, traceWords, table, resourceGroupSize, scopeGroupSize]) c.shrink(65_536, 256);
  }
  if (nScopes > 16_384 || nResources > 16_384) {
    for (const c of [scopeTemplate, resourceTemplate, resourceLastScope]) c.shrink(65_536, 64);
  }
  if (templates.length > 1024 * 1024) templates = Buffer.allocUnsafeSlow(16 * 1024);
  return out;
}
