// The layout of a request's traces: where each trace's spans lie in the body and which resource and scope
// headers surround them, as one Int32Array of offsets into the body. The worker fills it
// (locate-traces.ts) and hands it to the main thread with the body; the tail sampler reads sizes from it
// and writes the kept traces' runs (write-traces.ts). Both threads use this module (src/process/wire/).
import { varintSize } from './wire-writer.js';
import { WireType } from './wire-reader.js';

// Field numbers (opentelemetry/proto/trace/v1/trace.proto and the collector's trace_service.proto).
export const TAG_RESOURCE_SPANS = (1 << 3) | WireType.LEN; // ExportTraceServiceRequest.resource_spans
export const TAG_SCOPE_SPANS = (2 << 3) | WireType.LEN; // ResourceSpans.scope_spans
export const TAG_SPANS = (2 << 3) | WireType.LEN; // ScopeSpans.spans
export const TAG_TRACE_ID = (1 << 3) | WireType.LEN; // Span.trace_id

/** Growable Int32Array columns, reused across calls (a thread locates or writes one request at a time). */
export class Column {
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

// Per trace being sized (sizeTrace): the content bytes of its resource groups and of its scope groups, in
// output order; writeTrace reads them right after sizing.
export const resourceGroupSize = new Column(64);
export const scopeGroupSize = new Column(64);

// The layout (locateTraces): one Int32Array, so that it crosses from the worker to the main thread as one
// memcpy (a structured clone of a typed array), not as objects. Offsets of its sections:
export const L_TRACES = 0; // header: trace, span, scope, resource, scope-range and resource-range counts
export const L_SPANS = 1;
export const L_SCOPES = 2;
export const L_RESOURCES = 3;
export const L_SCOPE_RANGES = 4;
export const L_RES_RANGES = 5;
export const L_HEADER = 8;
// then: traceFirst[nTraces + 1] (index of each trace's first span in the ordered spans), traceSize[nTraces]
// (bytes of its run), ordered spans (start, end, scope)×nSpans, scopes (resource, firstRange, endRange,
// headerBytes)×nScopes, resources (firstRange, endRange, headerBytes)×nResources, scope header ranges
// (start, stop)×nScopeRanges, resource header ranges (start, stop)×nResRanges.

/** Where the sections of a layout start. */
export interface Sections {
  nTraces: number;
  first: number;
  size: number;
  spans: number;
  scopes: number;
  resources: number;
  scopeRanges: number;
  resRanges: number;
}

export function sections(l: Int32Array): Sections {
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

/** Bytes of trace t's regrouped run (locateTraces). */
export function traceSize(layout: Int32Array, t: number): number {
  return layout[L_HEADER + layout[L_TRACES]! + 1 + t]!;
}


/**
 * Sizes of trace t's (resource) groups into resourceGroupSize and (scope) groups into scopeGroupSize, in
 * output order; returns the bytes of its run.
 */
export function sizeTrace(l: Int32Array, s: Sections, t: number): number {
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
