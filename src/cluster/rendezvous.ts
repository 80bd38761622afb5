// Rendezvous (highest random weight) hashing of trace ids over the live members (DESIGN.md decision 11).
// Each (member, trace) pair gets a pseudo-random score; the member with the highest score owns the trace.
// When a member leaves, only the traces whose top score was that member move (each to its runner-up);
// when one joins, only the traces where the newcomer scores highest move (to it). Every other trace keeps
// its owner, whatever the order of the list: no ring, no virtual nodes, and every replica that sees the
// same live set computes the same owner without talking to the others.
// (Thaler & Ravishankar, "Using name-based mappings to increase hit rates", 1998; the OpenTelemetry
// Collector's loadbalancing exporter uses a consistent-hash ring for the same job.)
//
// Cost: per trace, one hash of its id (four 32-bit words, no allocation) and one mix per member; with the
// handful of replicas a gateway fleet has, that is a few tens of nanoseconds, per trace, not per span.

/** murmur3's fmix32: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a of a member id, mixed: the member's seed (ids are short strings: hashed once per membership). */
function memberSeed(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** A 32-bit hash of a 16-byte trace id given as four little-endian words. */
export function traceHashWords(w0: number, w1: number, w2: number, w3: number): number {
  let h = 0x2545f491;
  h = Math.imul(h ^ w0, 0x9e3779b1);
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h = Math.imul(h ^ w1, 0x9e3779b1);
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h = Math.imul(h ^ w2, 0x9e3779b1);
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h = Math.imul(h ^ w3, 0x9e3779b1);
  return fmix32(h);
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return 0;
}

/** Word k (little-endian bytes 4k..4k+3) of a 32-digit hex trace id, as trace-groups.ts lays them out. */
function hexWord(hex: string, k: number): number {
  const b = k * 8;
  let w = 0;
  for (let j = 3; j >= 0; j--) w = (w << 8) | (hexDigit(hex.charCodeAt(b + 2 * j)) << 4) | hexDigit(hex.charCodeAt(b + 2 * j + 1));
  return w | 0;
}

/** The hash of a lower- or upper-case 32-digit hex trace id (the same value as traceHashWords of its words). */
export function traceHashHex(hex: string): number {
  return traceHashWords(hexWord(hex, 0), hexWord(hex, 1), hexWord(hex, 2), hexWord(hex, 3));
}

export interface Rendezvous {
  /** The members, sorted (the same order on every replica). */
  readonly members: readonly string[];
  /** Index in `members` of the owner of the trace whose traceHash* is `hash`. */
  ownerIndex(hash: number): number;
  /** The owner's id. */
  owner(hash: number): string;
}

/** Rendezvous hashing over `members` (at least one; duplicates are ignored). */
export function createRendezvous(members: readonly string[]): Rendezvous {
  const sorted = [...new Set(members)].sort();
  if (sorted.length === 0) throw new Error('rendezvous: no members');
  const seeds = new Int32Array(sorted.length);
  for (let i = 0; i < sorted.length; i++) seeds[i] = memberSeed(sorted[i]!);
  const n = sorted.length;

  function ownerIndex(hash: number): number {
    if (n === 1) return 0;
    let best = 0;
    let bestScore = -1;
    for (let i = 0; i < n; i++) {
      // Score of (member, trace): the trace hash and the member seed mixed together. Ties (2^-32) go to the
      // member that sorts first, identically everywhere.
      const score = fmix32(Math.imul(hash ^ seeds[i]!, 0x9e3779b1) ^ seeds[i]!);
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  }

  return { members: sorted, ownerIndex, owner: (hash) => sorted[ownerIndex(hash)]! };
}
