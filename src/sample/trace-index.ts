// The tail sampler's index of trace ids, per tenant: a trace id maps to its buffer slot while the trace
// waits for its decision, then to the decision itself (keep or drop), remembered for the last
// `capacity` decisions so that spans arriving after the decision follow it.
//
// One entry per (tenant, trace id) for both roles: a new trace costs one lookup (buffered? decided?
// neither?) and its decision one store in place. Decisions are forgotten in the order they were taken
// (a ring): that order, not recency of use, is what matters for late spans, which arrive soon after
// their decision.
//
// Memory: the index lives in typed arrays, not in a Map of trace id strings. Under churn (the buffer
// full, every new trace deciding an old one early) the Map version held 300,000 entries (100,000
// buffered + 200,000 decisions) as a 14 MiB hash table rehashed into a new 14 MiB table every few
// seconds (garbage until the next full GC), plus a 48-byte string per remembered id: together +28 MiB
// of the main thread's heap during the memory bench's churn (README "Tail sampling", measured with
// /proc/<pid>/smaps and the heap-space metrics). Here a 128-bit id is four int32 words (parsed from the
// worker's lower-case hex), every entry is 24 bytes in columns allocated once and grown by doubling,
// and the table is open addressing with linear probing and backward-shift deletion (no tombstones, so
// churn never forces a rehash). An id that is not 32 lower-case hex digits (tests, or a malformed
// span's id) is hashed as a string and keeps its string for comparison: same semantics, slower path.
//
// Values returned by get(): v >= 0 is a buffer slot; v < 0 encodes a decision: -(2 × ringSlot + keep) − 1.
export interface TraceIndex {
  /** The entry of (tenant, traceId): a slot (>= 0), a decision (< 0, see keepOf), or undefined. */
  get(tenant: string, traceId: string): number | undefined;
  /** Records a newly buffered trace (not in the index). */
  setSlot(tenant: string, traceId: string, slot: number): void;
  /** Replaces whatever (tenant, traceId) maps to by a decision, forgetting the oldest decision when full. */
  decide(tenant: string, traceId: string, keep: boolean): void;
  /** decide() for the trace that setSlot recorded in `slot` (no id to parse or hash again). */
  decideSlot(slot: number, keep: boolean): void;
  /** Buffer slots of `tenant`, or of every tenant (undefined). */
  slots(tenant: string | undefined): number[];
  /** Decisions remembered. */
  readonly decisions: number;
  /** Bytes held by the index's arrays (what it costs, for tests and the bench). */
  readonly bytes: number;
}

/** The decision an entry < 0 holds. */
export const keepOf = (v: number): boolean => ((-v - 1) & 1) === 1;

/** Hex digit values of lower-case hex ('0'-'9', 'a'-'f'); -1 for any other code unit below 256. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = 10 + i;

/** Set by hexWord when a code unit was not a lower-case hex digit. */
let hexBad = 0;

/** The 8 hex digits of id at `at` as an int32 (big-endian digit order). */
function hexWord(id: string, at: number): number {
  let v = 0;
  for (let k = at; k < at + 8; k++) {
    const c = id.charCodeAt(k);
    const d = c < 256 ? HEX[c]! : -1;
    hexBad |= d;
    v = (v << 4) | (d & 15);
  }
  return v;
}

const EMPTY = -1;
/** The table grows (doubles) beyond this share of used cells: linear probing stays short below it. */
const MAX_LOAD = 0.7;
const MIN_CELLS = 1024;

/** A column of length n holding `a`'s values first; the new entries hold `fill`. */
function grown<T extends Int32Array | Uint8Array>(a: T, n: number, fill = 0): T {
  const b = new (a.constructor as new (length: number) => T)(n);
  if (fill !== 0) b.fill(fill);
  b.set(a);
  return b;
}

export function createTraceIndex(capacity: number): TraceIndex {
  // The id being looked up, parsed: four words, and whether it is an "odd" id (not 32 lower-case hex
  // digits: then w0/w1 hold a string hash and the string itself is compared). Memoised for the last id
  // (the sampler looks an id up and then records it).
  let w0 = 0;
  let w1 = 0;
  let w2 = 0;
  let w3 = 0;
  let odd = 0;
  let parsed: string | undefined;

  // Tenants are numbered (tag = tenant number × 2 + odd); a number is freed when its last entry goes.
  const tenantNo = new Map<string, number>();
  const tenantNames: string[] = [];
  const tenantRefs: number[] = [];
  const freeTenants: number[] = [];
  let lastTenant: string | undefined;
  let lastNo = -1;

  // Decisions: a ring of `capacity` entries, filled in order, then overwritten oldest first.
  let ringCap = 0;
  let rWords = new Int32Array(0);
  let rHash = new Int32Array(0);
  let rTag = new Int32Array(0);
  let rKeep = new Uint8Array(0);
  const rOdd = new Map<number, string>();
  let head = 0;
  let count = 0;

  // Buffered traces, by the sampler's slot number (tag -1: free).
  let slotCap = 0;
  let sWords = new Int32Array(0);
  let sHash = new Int32Array(0);
  let sTag = new Int32Array(0);
  const sOdd = new Map<number, string>();

  // The table: a cell holds an entry's code (2 × ring entry, or 2 × slot + 1) and its hash.
  let cells = new Int32Array(MIN_CELLS).fill(EMPTY);
  let cellHash = new Int32Array(MIN_CELLS);
  let mask = MIN_CELLS - 1;
  let used = 0;

  function parse(id: string): void {
    if (id === parsed) return;
    parsed = id;
    if (id.length === 32) {
      hexBad = 0;
      w0 = hexWord(id, 0);
      w1 = hexWord(id, 8);
      w2 = hexWord(id, 16);
      w3 = hexWord(id, 24);
      if (hexBad >= 0) {
        odd = 0;
        return;
      }
    }
    // Not a canonical id: an FNV-1a-style hash of the string (two lanes), compared by string on a match.
    let a = 0x811c9dc5 | 0;
    let b = 0x01000193 ^ id.length;
    for (let k = 0; k < id.length; k++) {
      const c = id.charCodeAt(k);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
    }
    w0 = a;
    w1 = b;
    w2 = id.length;
    w3 = 0;
    odd = 1;
  }

  /** The hash of the parsed id under tenant number `no` (murmur3-style mixing of every word). */
  function hashOf(no: number): number {
    let h = Math.imul(w0 ^ no, 0xcc9e2d51);
    h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ w1;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
    h ^= Math.imul(w2, 0x85ebca6b);
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
    h ^= Math.imul(w3 ^ odd, 0xc2b2ae35);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  function numberOf(tenant: string): number | undefined {
    if (tenant === lastTenant) return lastNo;
    const no = tenantNo.get(tenant);
    if (no !== undefined) {
      lastTenant = tenant;
      lastNo = no;
    }
    return no;
  }

  /** The tenant's number, created if need be; counts one more entry of it. */
  function refTenant(tenant: string): number {
    let no = numberOf(tenant);
    if (no === undefined) {
      no = freeTenants.pop() ?? tenantRefs.length;
      tenantRefs[no] = 0;
      tenantNames[no] = tenant;
      tenantNo.set(tenant, no);
      lastTenant = tenant;
      lastNo = no;
    }
    tenantRefs[no]!++;
    return no;
  }

  function unrefTenant(no: number): void {
    if (--tenantRefs[no]! > 0) return;
    tenantNo.delete(tenantNames[no]!);
    tenantNames[no] = '';
    freeTenants.push(no);
    lastTenant = undefined;
    lastNo = -1;
  }

  /** Whether the entry of `code` holds the parsed id under tag `tag`. */
  function matches(code: number, tag: number, id: string): boolean {
    const e = code >> 1;
    const slot = (code & 1) === 1;
    if ((slot ? sTag : rTag)[e] !== tag) return false;
    const w = slot ? sWords : rWords;
    const at = 4 * e;
    if (w[at] !== w0 || w[at + 1] !== w1 || w[at + 2] !== w2 || w[at + 3] !== w3) return false;
    return odd === 0 || (slot ? sOdd : rOdd).get(e) === id;
  }

  /** Stores the parsed id of tenant number `no` (hash `h`) at entry e of the slot (or ring) columns. */
  function writeId(slot: boolean, e: number, no: number, h: number, id: string): void {
    const w = slot ? sWords : rWords;
    const at = 4 * e;
    w[at] = w0;
    w[at + 1] = w1;
    w[at + 2] = w2;
    w[at + 3] = w3;
    (slot ? sHash : rHash)[e] = h;
    (slot ? sTag : rTag)[e] = no * 2 + odd;
    if (odd) (slot ? sOdd : rOdd).set(e, id);
  }

  /** The cell of the parsed id under tenant number `no` (hash `h`), or -1. */
  function find(no: number, h: number, id: string): number {
    const tag = no * 2 + odd;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const c = cells[i]!;
      if (c === EMPTY) return -1;
      if (cellHash[i] === h && matches(c, tag, id)) return i;
    }
  }

  /** The cell holding `code` (present by construction). */
  function cellOf(code: number, h: number): number {
    for (let i = h & mask; ; i = (i + 1) & mask) if (cells[i] === code) return i;
  }

  function insert(code: number, h: number): void {
    if (used + 1 > (mask + 1) * MAX_LOAD) growTable();
    let i = h & mask;
    while (cells[i] !== EMPTY) i = (i + 1) & mask;
    cells[i] = code;
    cellHash[i] = h;
    used++;
  }

  function growTable(): void {
    const oldCells = cells;
    const oldHash = cellHash;
    const n = oldCells.length * 2;
    cells = new Int32Array(n).fill(EMPTY);
    cellHash = new Int32Array(n);
    mask = n - 1;
    for (let j = 0; j < oldCells.length; j++) {
      const c = oldCells[j]!;
      if (c === EMPTY) continue;
      let i = oldHash[j]! & mask;
      while (cells[i] !== EMPTY) i = (i + 1) & mask;
      cells[i] = c;
      cellHash[i] = oldHash[j]!;
    }
  }

  /** Empties cell i, moving later cells of its probe run back so that every entry stays reachable. */
  function removeAt(i: number): void {
    for (let j = (i + 1) & mask; cells[j] !== EMPTY; j = (j + 1) & mask) {
      const home = cellHash[j]! & mask;
      // The entry at j may fill the hole at i unless its home lies cyclically in (i, j].
      const stays = i < j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      cells[i] = cells[j]!;
      cellHash[i] = cellHash[j]!;
      i = j;
    }
    cells[i] = EMPTY;
    used--;
  }

  function growSlots(slot: number): void {
    const n = Math.max(slot + 1, slotCap * 2, 1024);
    sWords = grown(sWords, 4 * n);
    sHash = grown(sHash, n);
    sTag = grown(sTag, n, EMPTY);
    slotCap = n;
  }

  function growRing(): void {
    const n = Math.min(capacity, Math.max(ringCap * 2, 1024));
    rWords = grown(rWords, 4 * n);
    rHash = grown(rHash, n);
    rTag = grown(rTag, n);
    rKeep = grown(rKeep, n);
    ringCap = n;
  }

  /** The ring entry for the next decision: the oldest decision is forgotten when the ring is full. */
  function nextRingEntry(): number {
    const r = head;
    if (count === capacity) {
      removeAt(cellOf(2 * r, rHash[r]!));
      unrefTenant(rTag[r]! >> 1);
      if (rTag[r]! & 1) rOdd.delete(r);
    } else {
      count++;
      if (r >= ringCap) growRing();
    }
    head = head + 1 === capacity ? 0 : head + 1;
    return r;
  }

  function freeSlot(slot: number): void {
    unrefTenant(sTag[slot]! >> 1);
    if (sTag[slot]! & 1) sOdd.delete(slot);
    sTag[slot] = EMPTY;
  }

  const index: TraceIndex = {
    get(tenant, traceId) {
      const no = numberOf(tenant);
      if (no === undefined) return undefined;
      parse(traceId);
      const i = find(no, hashOf(no), traceId);
      if (i < 0) return undefined;
      const c = cells[i]!;
      if (c & 1) return c >> 1;
      const r = c >> 1;
      return -(2 * r + rKeep[r]!) - 1;
    },

    setSlot(tenant, traceId, slot) {
      if (slot >= slotCap) growSlots(slot);
      const no = refTenant(tenant);
      parse(traceId);
      const h = hashOf(no);
      writeId(true, slot, no, h, traceId);
      insert(2 * slot + 1, h);
    },

    decide(tenant, traceId, keep) {
      let no = numberOf(tenant);
      if (no !== undefined) {
        parse(traceId);
        const i = find(no, hashOf(no), traceId);
        if (i >= 0) {
          const c = cells[i]!;
          if (c & 1) index.decideSlot(c >> 1, keep);
          else rKeep[c >> 1] = keep ? 1 : 0; // decided again (an incident keeps it): in place, same age
          return;
        }
      }
      if (capacity <= 0) return;
      const r = nextRingEntry(); // may free the tenant's number: taken (again) below
      no = refTenant(tenant);
      parse(traceId);
      const h = hashOf(no);
      writeId(false, r, no, h, traceId);
      rKeep[r] = keep ? 1 : 0;
      insert(2 * r, h);
    },

    decideSlot(slot, keep) {
      const h = sHash[slot]!;
      if (capacity <= 0) {
        removeAt(cellOf(2 * slot + 1, h));
        freeSlot(slot);
        return;
      }
      // The entry moves from the slot to a ring entry: its cell is rewritten in place (found after
      // forgetting the oldest decision, whose removal may have moved it back in its probe run).
      const r = nextRingEntry();
      const at = 4 * slot;
      const to = 4 * r;
      rWords[to] = sWords[at]!;
      rWords[to + 1] = sWords[at + 1]!;
      rWords[to + 2] = sWords[at + 2]!;
      rWords[to + 3] = sWords[at + 3]!;
      rHash[r] = h;
      rTag[r] = sTag[slot]!;
      rKeep[r] = keep ? 1 : 0;
      if (sTag[slot]! & 1) {
        rOdd.set(r, sOdd.get(slot)!);
        sOdd.delete(slot);
      }
      cells[cellOf(2 * slot + 1, h)] = 2 * r;
      sTag[slot] = EMPTY; // the tenant's count moves with the entry
    },

    slots(tenant) {
      const out: number[] = [];
      const no = tenant === undefined ? -1 : numberOf(tenant);
      if (no === undefined) return out;
      for (let s = 0; s < slotCap; s++) {
        const tag = sTag[s]!;
        if (tag >= 0 && (no < 0 || tag >> 1 === no)) out.push(s);
      }
      return out;
    },

    get decisions() {
      return count;
    },

    get bytes() {
      return rWords.byteLength + rHash.byteLength + rTag.byteLength + rKeep.byteLength + sWords.byteLength + sHash.byteLength + sTag.byteLength + cells.byteLength + cellHash.byteLength;
    },
  };
  return index;
}
