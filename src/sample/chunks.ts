// The request bodies buffered fragments point into ("chunks"), with their reference counts: a body's
// bytes count (against sampling.maxBytes) while a buffered trace points into it, and a body the caller
// gave up is freed once released (detach), not at the next full GC.
import { traceSize } from '../process/wire/trace-layout.js';
import { ownsWholeBuffer } from '../process/wire/transfer.js';
import { writeTrace } from '../process/wire/write-traces.js';

const EMPTY = new Uint8Array(0);

/**
 * Frees a released body's memory now rather than at the main thread's next full GC. A buffered body
 * outlives young-generation GCs, so once released it waits for a full GC, which V8 starts only after 64 MiB
 * more external memory: under churn that was up to 64 MiB of dead bodies in the resident set (README
 * "Tail sampling", Cost). Transferring the ArrayBuffer moves its memory to a new, unreferenced
 * ArrayBuffer in the young generation, which the next scavenge frees (milliseconds under load). Only for
 * bodies the caller gave up (offer's `owned`), after the flush that copied what was kept of them, and
 * never for one emitted as a view: any other view of it would be emptied.
 */
function detach(body: Uint8Array | Int32Array): void {
  // Only a view of a whole buffer: a slice's buffer (Node's pool, a larger body) holds other bytes too.
  if (!ownsWholeBuffer(body)) return;
  try {
    structuredClone(body.buffer, { transfer: [body.buffer as ArrayBuffer] });
  } catch {
    // Not transferable (e.g. marked untransferable by Node): left to the GC as before.
  }
}

export class Chunks {
  readonly body: Uint8Array[] = [];
  /** The chunk's trace layout (null: a single trace, or a body laid out by trace). */
  readonly layout: Array<Int32Array | null> = [];
  refs = new Int32Array(64);
  /** 1: the caller gave the chunk's body up (offer's `owned`): freed after its release unless emitted as a view. */
  owned = new Uint8Array(64);
  /** Owned bodies (and their layouts) released since the last flush: detached once the flush has copied what it keeps of them. */
  private readonly released: Array<Uint8Array | Int32Array> = [];
  /** Bodies handed to the exporters as views (they read them later): never detached. */
  readonly viewed = new WeakSet<ArrayBufferView>();
  private readonly free: number[] = [];
  /** Bytes of the bodies (and layouts) held. */
  bytes = 0;

  /** A new chunk for `body` (no references yet). */
  add(body: Uint8Array, layout: Int32Array | null): number {
    let c = this.free.pop();
    if (c === undefined) {
      c = this.body.length;
      this.body.push(body);
      this.layout.push(layout);
      if (c >= this.refs.length) {
        const r = new Int32Array(this.refs.length * 2);
        r.set(this.refs);
        this.refs = r;
        const o = new Uint8Array(r.length);
        o.set(this.owned);
        this.owned = o;
      }
    } else {
      this.body[c] = body;
      this.layout[c] = layout;
    }
    this.refs[c] = 0;
    this.owned[c] = 0;
    // The layout is held as long as the body (a few % of it): counted with it.
    this.bytes += body.length + (layout ? layout.byteLength : 0);
    return c;
  }

  /** Drops one reference; the last one frees the chunk. */
  release(c: number): void {
    if (--this.refs[c]! === 0) {
      this.bytes -= this.body[c]!.length + (this.layout[c]?.byteLength ?? 0);
      if (this.owned[c] === 1) {
        this.released.push(this.body[c]!);
        // The layout came with the body (ProcessOk.traceLayout) and only the sampler ever reads it.
        if (this.layout[c]) this.released.push(this.layout[c]!);
      }
      this.body[c] = EMPTY;
      this.layout[c] = null;
      this.free.push(c);
    }
  }

  /** Frees the owned bodies released since the last call, unless emitted as views (after a flush copied what it kept). */
  detachReleased(): void {
    if (this.released.length > 0) {
      for (const b of this.released) if (!this.viewed.has(b)) detach(b);
      this.released.length = 0;
    }
  }

  /** The bytes of a buffered fragment: a range of its body, or its trace's run written out (a copy). */
  fragment(chunk: number, offset: number, length: number): Uint8Array {
    const b = this.body[chunk]!;
    if (length >= 0) return b.subarray(offset, offset + length);
    const layout = this.layout[chunk]!;
    const out = Buffer.allocUnsafe(traceSize(layout, offset));
    writeTrace(b, layout, offset, out, 0);
    return out;
  }
}
