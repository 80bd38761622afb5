// Forwarding kept traces to the export router: per tenant, the kept ranges and traces since the last
// flush are grouped into one emit (a concatenation of resource_spans, at most MAX_EMIT_BYTES); ranges big
// enough to be an export request of their own go on as views of the request body, the rest is copied
// together, kept traces of partly kept located bodies regrouped (process/wire/write-traces.ts writeTrace).
import type { Outcome } from '../errors.js';
import { layoutTraces, traceSize } from '../process/wire/trace-layout.js';
import { writeTrace } from '../process/wire/write-traces.js';

/** One emit is at most this large (the exporters' default batch is 4 MiB; they pass big items through whole). */
const MAX_EMIT_BYTES = 2 * 1024 * 1024;

/**
 * Pending output of one tenant, per entry either a byte range of a request body (adjacent ranges of one
 * body are merged) or, with a layout, the kept traces of a located body (consecutive ones merged).
 */
interface EmitGroup {
  bodies: Uint8Array[];
  starts: number[];
  ends: number[];
  layouts: Array<Int32Array | null>;
  /** With a layout: the kept trace indexes. */
  picks: Array<number[] | null>;
  /** Spans in each entry. */
  rangeItems: number[];
  /** Bytes as emitted (for picks: their regrouped runs; all of a body's traces become the body). */
  bytes: number;
  items: number;
}

export interface Emits {
  /** Queues body[start, end) for the tenant's next emit; a range right after the previous one of the same body extends it. */
  addRange(tenant: string, body: Uint8Array, start: number, end: number, items: number): void;
  /** Queues trace t of a located body for the tenant's next emit (with the body's other kept traces queued just before). */
  addTrace(tenant: string, body: Uint8Array, layout: Int32Array, t: number, items: number): void;
  /** Sends every tenant's pending emits. */
  flush(): void;
}

export function createEmits(options: {
  /** The export router's offer. */
  emit(tenant: string, body: Uint8Array, items: number): Outcome;
  /** Ranges at least this large go on as views (SamplerDeps.viewBytes). */
  viewBytes: number;
  /** Bodies emitted as views are added here (never detached: the exporters read them later). */
  viewed: WeakSet<ArrayBufferView>;
  /** Spans the export router refused. */
  onRefused(items: number): void;
}): Emits {
  const { viewBytes, viewed } = options;
  const emits = new Map<string, EmitGroup>();

  function group(tenant: string, n: number): EmitGroup {
    let g = emits.get(tenant);
    if (!g) {
      g = { bodies: [], starts: [], ends: [], layouts: [], picks: [], rangeItems: [], bytes: 0, items: 0 };
      emits.set(tenant, g);
    }
    if (g.bytes > 0 && g.bytes + n > MAX_EMIT_BYTES) {
      emitGroup(tenant, g);
      g.bodies.length = g.starts.length = g.ends.length = g.layouts.length = g.picks.length = g.rangeItems.length = 0;
      g.bytes = 0;
      g.items = 0;
    }
    return g;
  }

  function addRange(tenant: string, body: Uint8Array, start: number, end: number, items: number): void {
    const n = end - start;
    const g = group(tenant, n);
    const last = g.bodies.length - 1;
    if (last >= 0 && g.bodies[last] === body && g.layouts[last] === null && g.ends[last] === start) {
      g.ends[last] = end;
      g.rangeItems[last]! += items;
    } else {
      g.bodies.push(body);
      g.starts.push(start);
      g.ends.push(end);
      g.layouts.push(null);
      g.picks.push(null);
      g.rangeItems.push(items);
    }
    g.bytes += n;
    g.items += items;
  }

  function addTrace(tenant: string, body: Uint8Array, layout: Int32Array, t: number, items: number): void {
    const g = group(tenant, traceSize(layout, t));
    const last = g.bodies.length - 1;
    if (last >= 0 && g.bodies[last] === body && g.layouts[last] === layout) {
      const picks = g.picks[last]!;
      picks.push(t);
      g.rangeItems[last]! += items;
      g.bytes -= g.ends[last]! - g.starts[last]!;
      // Every trace of the body kept: the body itself, smaller than the runs (no repeated headers).
      if (picks.length === layoutTraces(layout)) g.ends[last] = body.length;
      else g.ends[last]! += traceSize(layout, t);
      g.bytes += g.ends[last]! - g.starts[last]!;
    } else {
      g.bodies.push(body);
      g.starts.push(0);
      g.ends.push(traceSize(layout, t));
      g.layouts.push(layout);
      g.picks.push([t]);
      g.rangeItems.push(items);
      g.bytes += traceSize(layout, t);
    }
    g.items += items;
  }

  /** Entry i is the whole of its body (a range of all of it, or every trace of a located body). */
  function whole(g: EmitGroup, i: number): boolean {
    const layout = g.layouts[i];
    if (layout) return g.picks[i]!.length === layoutTraces(layout);
    return g.starts[i] === 0 && g.ends[i] === g.bodies[i]!.length;
  }

  function emitGroup(tenant: string, g: EmitGroup): void {
    const n = g.bodies.length;
    let copied = g.bytes;
    let copiedItems = g.items;
    if (n > 1) {
      // Ranges big enough to be an export request of their own (e.g. every trace of a request kept, which
      // is the body itself) go on as views: the exporters' batcher passes them through, no copy.
      for (let i = 0; i < n; i++) {
        const size = g.ends[i]! - g.starts[i]!;
        if (size < viewBytes || (g.layouts[i] && !whole(g, i))) continue;
        send(tenant, view(g, i), g.rangeItems[i]!);
        copied -= size;
        copiedItems -= g.rangeItems[i]!;
        g.ends[i] = g.starts[i]!; // emptied: skipped below
        g.layouts[i] = null;
      }
    }
    if (copied === 0) return;
    let body: Uint8Array | undefined;
    if (n === 1 && (g.layouts[0] === null || whole(g, 0))) body = view(g, 0);
    else {
      // Every byte is written below: no zero-fill (allocUnsafeSlow: an ArrayBuffer of its own, never Node's pool).
      const out = Buffer.allocUnsafeSlow(copied);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const s = g.starts[i]!;
        const e = g.ends[i]!;
        if (e === s) continue;
        const b = g.bodies[i]!;
        const layout = g.layouts[i];
        if (layout && !whole(g, i)) {
          for (const t of g.picks[i]!) at = writeTrace(b, layout, t, out, at);
          continue;
        }
        out.set(s === 0 && e === b.length ? b : b.subarray(s, e), at);
        at += e - s;
      }
      if (at !== copied) throw new Error(`sampler: emitted ${at} bytes, sized ${copied}`);
      body = out;
    }
    send(tenant, body, copiedItems);
  }

  function view(g: EmitGroup, i: number): Uint8Array {
    const b = g.bodies[i]!;
    viewed.add(b);
    if (g.layouts[i]) return b; // every trace of it kept
    const s = g.starts[i]!;
    const e = g.ends[i]!;
    return s === 0 && e === b.length ? b : b.subarray(s, e);
  }

  function send(tenant: string, body: Uint8Array, items: number): void {
    const outcome = options.emit(tenant, body, items);
    if (outcome.status !== 'ok') options.onRefused(items);
  }

  function flush(): void {
    if (emits.size > 0) {
      for (const [tenant, g] of emits) if (g.bytes > 0) emitGroup(tenant, g);
      emits.clear();
    }
  }

  return { addRange, addTrace, flush };
}
