// The sampler's buffered traces: columns indexed by a slot (typed arrays, like trace-groups.ts) rather
// than one object each: a buffered trace outlives several young-generation GCs, so every object per
// trace would be copied and promoted, and per-trace objects were most of the sampler's CPU and memory.
// Also the traces' arrival order (a doubly linked list of slots, oldest first) and the queue of traces
// whose root arrived (due at root + rootGrace).

export const NONE = -1;
/** flagsOf bits: some span had an error status; the root span arrived; the slot holds a buffered trace. */
export const F_ERROR = 1;
export const F_ROOT = 2;
export const F_LIVE = 4;

/**
 * A fragment beyond a trace's first (rare: a trace split across requests): a chunk's range and its spans.
 * length < 0: `offset` is the index of the trace in the chunk's layout.
 */
export interface Fragment {
  chunk: number;
  offset: number;
  length: number;
  spans: number;
}

export class TraceSlots {
  cap = 0;
  readonly tenantOf: string[] = [];
  readonly idOf: string[] = [];
  /** The first fragment, inline (most traces have one per decision): chunk, offset, length, spans. */
  chunkOf = new Int32Array(0);
  offsetOf = new Int32Array(0);
  lengthOf = new Int32Array(0);
  firstSpansOf = new Int32Array(0);
  spansOf = new Int32Array(0);
  flagsOf = new Uint8Array(0);
  /** Generation of each slot, bumped when it is freed: root-queue entries of a freed slot are stale. */
  genOf = new Int32Array(0);
  /** Earliest start and latest end over the spans seen, ns (0 = some span had no time). */
  startNsOf = new Float64Array(0);
  endNsOf = new Float64Array(0);
  /** When the first span arrived, and when the trace is due (first + wait, or root + grace). */
  firstAtOf = new Float64Array(0);
  dueAtOf = new Float64Array(0);
  /** Arrival order, oldest first: a doubly linked list of slots. */
  prevOf = new Int32Array(0);
  nextOf = new Int32Array(0);
  /** Fragments from later requests (sparse). */
  readonly moreOf: Array<Fragment[] | null> = [];
  readonly freeSlots: number[] = [];
  oldest = NONE;
  newest = NONE;
  /** Buffered traces. */
  count = 0;
  /** Traces whose root arrived, in the order they became due (rootGrace is constant): slot and generation. */
  rootSlots: number[] = [];
  rootGens: number[] = [];
  rootHead = 0;

  /** A free slot (the columns grow when there is none). */
  take(): number {
    if (this.freeSlots.length === 0) this.grow(this.cap + 1);
    return this.freeSlots.pop()!;
  }

  private grow(need: number): void {
    if (need <= this.cap) return;
    const n = Math.max(need, this.cap * 2, 1024);
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.chunkOf = i32(this.chunkOf);
    this.offsetOf = i32(this.offsetOf);
    this.lengthOf = i32(this.lengthOf);
    this.firstSpansOf = i32(this.firstSpansOf);
    this.spansOf = i32(this.spansOf);
    this.genOf = i32(this.genOf);
    this.prevOf = i32(this.prevOf);
    this.nextOf = i32(this.nextOf);
    const flags = new Uint8Array(n);
    flags.set(this.flagsOf);
    this.flagsOf = flags;
    this.startNsOf = f64(this.startNsOf);
    this.endNsOf = f64(this.endNsOf);
    this.firstAtOf = f64(this.firstAtOf);
    this.dueAtOf = f64(this.dueAtOf);
    for (let i = n - 1; i >= this.cap; i--) this.freeSlots.push(i);
    for (let i = this.cap; i < n; i++) {
      this.tenantOf.push('');
      this.idOf.push('');
      this.moreOf.push(null);
    }
    this.cap = n;
  }

  /** Appends the slot to the arrival order (newest). */
  append(slot: number): void {
    this.prevOf[slot] = this.newest;
    this.nextOf[slot] = NONE;
    if (this.newest !== NONE) this.nextOf[this.newest] = slot;
    else this.oldest = slot;
    this.newest = slot;
    this.count++;
  }

  /** Takes the slot out of the arrival order. */
  unlink(slot: number): void {
    const p = this.prevOf[slot]!;
    const n = this.nextOf[slot]!;
    if (p !== NONE) this.nextOf[p] = n;
    else this.oldest = n;
    if (n !== NONE) this.prevOf[n] = p;
    else this.newest = p;
    this.count--;
  }

  /** Frees an unlinked slot (its root-queue entries become stale). */
  free(slot: number): void {
    this.flagsOf[slot] = 0;
    this.genOf[slot]!++;
    this.tenantOf[slot] = '';
    this.idOf[slot] = '';
    this.freeSlots.push(slot);
  }

  /** The trace's root arrived at `now`: due at now + grace if that is sooner. */
  onRoot(slot: number, now: number, graceMs: number): void {
    this.flagsOf[slot]! |= F_ROOT;
    const due = now + graceMs;
    if (due < this.dueAtOf[slot]!) {
      this.dueAtOf[slot] = due;
      this.rootSlots.push(slot);
      this.rootGens.push(this.genOf[slot]!);
    }
  }

  /** Whether root-queue entry i still refers to a buffered trace. */
  rootLive(i: number): boolean {
    const slot = this.rootSlots[i]!;
    return this.genOf[slot] === this.rootGens[i] && (this.flagsOf[slot]! & F_LIVE) !== 0;
  }

  /** Drops the root queue's consumed head once it is large. */
  compactRoots(): void {
    if (this.rootHead > 1024 && this.rootHead * 2 > this.rootSlots.length) {
      this.rootSlots = this.rootSlots.slice(this.rootHead);
      this.rootGens = this.rootGens.slice(this.rootHead);
      this.rootHead = 0;
    }
  }

  clearRoots(): void {
    this.rootSlots = [];
    this.rootGens = [];
    this.rootHead = 0;
  }

  /** When the next trace is due (Infinity: none buffered). */
  nextDue(decisionWaitMs: number): number {
    let due = this.oldest !== NONE ? this.firstAtOf[this.oldest]! + decisionWaitMs : Infinity;
    while (this.rootHead < this.rootSlots.length) {
      if (this.rootLive(this.rootHead)) {
        due = Math.min(due, this.dueAtOf[this.rootSlots[this.rootHead]!]!);
        break;
      }
      this.rootHead++;
    }
    this.compactRoots();
    return due;
  }
}
