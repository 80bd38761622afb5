// Writes the regrouped run of one trace on demand, from the body and its layout (trace-layout.ts): the
// resource_spans entries that carry its resource and the ScopeSpans (scope, schema_url) that held its
// spans, with only its spans, so that a batch of kept traces is still a plain concatenation (DESIGN.md,
// decision 1). Resource, scope and span bytes are copied verbatim; only the two length prefixes per
// ResourceSpans / ScopeSpans are new. The tail sampler writes, on the main thread, only the kept traces of
// partly kept requests (it forwards a request whose traces are all kept as the original body).
//
// Field order inside a rewritten ResourceSpans / ScopeSpans: the kept scope_spans / spans first, in
// their original order, then every other field (resource, schema_url, unknown fields, in their original
// order). Protobuf parsers do not depend on field order
// (https://protobuf.dev/programming-guides/encoding/#order), and fields of the same number keep
// their relative order, so the merge semantics are unchanged. A body with a single trace is that trace's
// run as is.
import type { TraceSummary } from '../protocol.js';
import { locateTraces } from './locate-traces.js';
import { TAG_RESOURCE_SPANS, TAG_SCOPE_SPANS, resourceGroupSize, scopeGroupSize, sections, sizeTrace, traceSize } from './trace-layout.js';
import { writeVarint } from './wire-writer.js';

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
