// Groups a request's spans by trace id without building an object per span: an open-addressing table
// keyed by the 16 id bytes (read as four 32-bit words) points at per-trace columns in typed arrays.
// Strings and bigints are made once per distinct trace, at the end (TraceSummary in ../protocol.ts).
// The hash is seeded per thread so a client cannot choose ids that all collide (which would turn the
// linear probe into quadratic work).
import { randomBytes } from 'node:crypto';
import { TRACE_EMPTY_ID, TRACE_ERROR as ERROR, TRACE_ROOT as ROOT, type TraceColumns, type TraceSummary } from '../protocol.js';
import { summariesOf } from '../wire/trace-columns.js';

const SEED = randomBytes(4).readUInt32LE(0) | 0;

function mix(h: number): number {
  // murmur3 fmix32: every input bit reaches the low bits the table index uses.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function wordAt(buf: Uint8Array, pos: number): number {
  return buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24);
}

/** Unsigned comparison of two 64-bit values given as (hi, lo) uint32 halves: a < b. */
function less(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi < bHi || (aHi === bHi && aLo < bLo);
}

/** Collects spans of one request; reset() between requests. One per worker thread is enough. */
export interface TraceGroups {
  reset(): void;
  /**
   * Adds a span. idPos is where its 16-byte trace id starts in buf, or -1 for an empty id; times are
   * (hi, lo) halves of the fixed64 nanosecond values.
   */
  add(
    buf: Uint8Array,
    idPos: number,
    error: boolean,
    root: boolean,
    startHi: number,
    startLo: number,
    endHi: number,
    endLo: number,
  ): void;
  /** The groups in first-seen order. */
  summaries(): TraceSummary[];
  /** The same as columns (copies: the groups are reused for the next request). */
  columns(): TraceColumns;
}

export function createTraceGroups(initialTraces = 64): TraceGroups {
  return new OpenAddressingGroups(initialTraces);
}

class OpenAddressingGroups implements TraceGroups {
  private count = 0;
  private capacity!: number;
  /** 4 words of each trace id (zeros for the empty-id group, which is not in the table). */
  private words!: Int32Array;
  private spans!: Int32Array;
  private flags!: Uint8Array;
  private startHi!: Uint32Array;
  private startLo!: Uint32Array;
  private endHi!: Uint32Array;
  private endLo!: Uint32Array;
  /** Slot → group index + 1 (0 = free); size is a power of two, at most half full. */
  private table!: Int32Array;
  private mask!: number;
  private emptyGroup = -1;

  constructor(initial: number) {
    this.allocate(initial);
  }

  private allocate(initial: number): void {
    this.capacity = Math.max(8, initial);
    this.words = new Int32Array(this.capacity * 4);
    this.spans = new Int32Array(this.capacity);
    this.flags = new Uint8Array(this.capacity);
    this.startHi = new Uint32Array(this.capacity);
    this.startLo = new Uint32Array(this.capacity);
    this.endHi = new Uint32Array(this.capacity);
    this.endLo = new Uint32Array(this.capacity);
    this.table = new Int32Array(this.capacity * 2);
    this.mask = this.table.length - 1;
  }

  reset(): void {
    // After an unusually large request, give the memory back rather than clearing a huge table.
    if (this.capacity > 4096) this.allocate(64);
    else if (this.count > 0) this.table.fill(0);
    this.count = 0;
    this.emptyGroup = -1;
  }

  add(
    buf: Uint8Array,
    idPos: number,
    error: boolean,
    root: boolean,
    startHi: number,
    startLo: number,
    endHi: number,
    endLo: number,
  ): void {
    let g: number;
    if (idPos < 0) {
      g = this.emptyGroup;
      if (g < 0) g = this.emptyGroup = this.newGroup(0, 0, 0, 0);
    } else {
      const w0 = wordAt(buf, idPos);
      const w1 = wordAt(buf, idPos + 4);
      const w2 = wordAt(buf, idPos + 8);
      const w3 = wordAt(buf, idPos + 12);
      let h = SEED;
      h = Math.imul(h ^ w0, 0x9e3779b1);
      h = Math.imul(h ^ w1, 0x9e3779b1);
      h = Math.imul(h ^ w2, 0x9e3779b1);
      h = Math.imul(h ^ w3, 0x9e3779b1);
      let slot = mix(h) & this.mask;
      const words = this.words;
      for (;;) {
        const e = this.table[slot]!;
        if (e === 0) {
          g = this.newGroup(w0, w1, w2, w3);
          // newGroup may have grown and rehashed the table: find a free slot in the new one.
          this.insert(g, h);
          break;
        }
        const c = (e - 1) * 4;
        if (words[c] === w0 && words[c + 1] === w1 && words[c + 2] === w2 && words[c + 3] === w3) {
          g = e - 1;
          break;
        }
        slot = (slot + 1) & this.mask;
      }
    }
    this.spans[g]!++;
    if (error) this.flags[g]! |= ERROR;
    if (root) this.flags[g]! |= ROOT;
    if (this.spans[g] === 1) {
      this.startHi[g] = startHi;
      this.startLo[g] = startLo;
      this.endHi[g] = endHi;
      this.endLo[g] = endLo;
    } else {
      if (less(startHi, startLo, this.startHi[g]!, this.startLo[g]!)) {
        this.startHi[g] = startHi;
        this.startLo[g] = startLo;
      }
      if (less(this.endHi[g]!, this.endLo[g]!, endHi, endLo)) {
        this.endHi[g] = endHi;
        this.endLo[g] = endLo;
      }
    }
  }

  summaries(): TraceSummary[] {
    return summariesOf(this.columns());
  }

  columns(): TraceColumns {
    const c: TraceColumns = { words: [], spans: [], flags: [], times: [] };
    for (let g = 0; g < this.count; g++) {
      c.words.push(this.words[g * 4]!, this.words[g * 4 + 1]!, this.words[g * 4 + 2]!, this.words[g * 4 + 3]!);
      c.spans.push(this.spans[g]!);
      c.flags.push(g === this.emptyGroup ? this.flags[g]! | TRACE_EMPTY_ID : this.flags[g]!);
      c.times.push(this.startHi[g]!, this.startLo[g]!, this.endHi[g]!, this.endLo[g]!);
    }
    return c;
  }

  private newGroup(w0: number, w1: number, w2: number, w3: number): number {
    if (this.count === this.capacity) this.grow();
    const g = this.count++;
    const c = g * 4;
    this.words[c] = w0;
    this.words[c + 1] = w1;
    this.words[c + 2] = w2;
    this.words[c + 3] = w3;
    this.spans[g] = 0;
    this.flags[g] = 0;
    return g;
  }

  private hashOf(g: number): number {
    const c = g * 4;
    let h = SEED;
    h = Math.imul(h ^ this.words[c]!, 0x9e3779b1);
    h = Math.imul(h ^ this.words[c + 1]!, 0x9e3779b1);
    h = Math.imul(h ^ this.words[c + 2]!, 0x9e3779b1);
    h = Math.imul(h ^ this.words[c + 3]!, 0x9e3779b1);
    return h;
  }

  private insert(g: number, h: number): void {
    let slot = mix(h) & this.mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
    this.table[slot] = g + 1;
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const words = new Int32Array(cap * 4);
    words.set(this.words);
    this.words = words;
    this.spans = copyInto(new Int32Array(cap), this.spans);
    this.flags = copyInto(new Uint8Array(cap), this.flags);
    this.startHi = copyInto(new Uint32Array(cap), this.startHi);
    this.startLo = copyInto(new Uint32Array(cap), this.startLo);
    this.endHi = copyInto(new Uint32Array(cap), this.endHi);
    this.endLo = copyInto(new Uint32Array(cap), this.endLo);
    this.capacity = cap;
    this.table = new Int32Array(cap * 2);
    this.mask = this.table.length - 1;
    for (let g = 0; g < this.count; g++) if (g !== this.emptyGroup) this.insert(g, this.hashOf(g));
  }
}

function copyInto<T extends Int32Array | Uint32Array | Uint8Array>(to: T, from: T): T {
  to.set(from);
  return to;
}
