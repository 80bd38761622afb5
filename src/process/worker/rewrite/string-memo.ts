// String memo: most strings that need no redaction repeat (db.system, span names, user agents).
//
// secretTriggers costs a few nanoseconds per byte (a state machine over every byte), and a string it
// flags is decoded and searched by regular expressions; hashing and comparing four bytes a step costs
// much less. So two verdicts about short strings are kept, by their bytes, in fixed cells of one arena
// (no allocation per entry), across the requests of this worker (hence module-level):
// - the triggers of a string that triggers no detector of the rule set at hand (triggers are a pure
//   function of the bytes, valid under any rule set);
// - "no finding under rule set N" for a flagged string that the detectors and custom patterns then
//   left alone (a user agent's digit runs, a route with `{sessionId}`), when its key was neither
//   sensitive (such values bypass the memo) nor a version key: the key matters to no detector but
//   IPv4, and a version key only takes IPv4 findings away, so the verdict holds under any key.
// Strings with findings are not kept: they are mostly unique (phone numbers, addresses) and would
// only evict the repeating ones. A collision overwrites a cell; an entry is used only when its bytes
// equal the string's, so the memo can never change an output, only skip work.
// The byte prefilter is a pure function of policy/detect (see policy-rules.ts on why the worker may use it).
import { secretTriggers } from '../../../policy/detect/index.js';
import { input, inputView } from './input.js';
import { keyMemoHits, keyMemoMisses } from './key-cache.js';

const MEMO_SLOTS = 4096;
const MEMO_CELL = 128;
const memoArena = new Uint8Array(MEMO_SLOTS * MEMO_CELL);
const memoView = new DataView(memoArena.buffer);
/** Bytes in each cell; -1: empty. */
const memoLen = new Int32Array(MEMO_SLOTS).fill(-1);
const memoTrig = new Int32Array(MEMO_SLOTS);
/** RuleSet.id under which the cell's string has no finding (0: not known). */
export const memoClean = new Int32Array(MEMO_SLOTS);
// Registers of the last lookup (a result object per string would allocate on the hot path):
/** The cell of the string triggersOf looked up last: where it was found (memoFound) or would go (-1: none). */
export let memoSlot = -1;
/** Whether triggersOf found the string in memoSlot (or keepString put it there). */
export let memoFound = false;

/**
 * secretTriggers(input, s, e), from the memo when the same bytes were kept. `keySlot`: the string's
 * key's cell in the key cache (-1: none), whose hit rate decides whether the memo is worth a look.
 */
export function triggersOf(s: number, e: number, active: number, keySlot: number): number {
  const buf = input;
  const view = inputView;
  const len = e - s;
  memoFound = false;
  memoSlot = -1;
  if (len > MEMO_CELL) return secretTriggers(buf, s, e);
  if (keySlot >= 0) {
    // Under a key whose values have nearly always missed the memo, skip it (no hash, no lookup), but
    // look once every 64 values, so that a key whose values start repeating is noticed.
    const misses = keyMemoMisses[keySlot]!;
    if (misses >= 32 && keyMemoHits[keySlot]! * 16 < misses && (misses & 63) !== 0) {
      keyMemoMisses[keySlot] = misses + 1;
      return secretTriggers(buf, s, e);
    }
    if (misses >= 1 << 20) {
      keyMemoMisses[keySlot] = misses >>> 1;
      keyMemoHits[keySlot] = keyMemoHits[keySlot]! >>> 1;
    }
  }
  const words = e - 3;
  let h = 0x811c9dc5 ^ len;
  let i = s;
  for (; i < words; i += 4) h = Math.imul(h ^ view.getInt32(i, true), 0x01000193);
  for (; i < e; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  const slot = (h ^ (h >>> 13)) & (MEMO_SLOTS - 1);
  memoSlot = slot;
  const base = slot * MEMO_CELL;
  if (memoLen[slot] === len) {
    const cw = len - 3;
    let k = 0;
    while (k < cw && memoView.getInt32(base + k, true) === view.getInt32(s + k, true)) k += 4;
    if (k >= cw) {
      while (k < len && memoArena[base + k] === buf[s + k]) k++;
      if (k === len) {
        memoFound = true;
        if (keySlot >= 0) keyMemoHits[keySlot]!++;
        return memoTrig[slot]!;
      }
    }
  }
  const t = secretTriggers(buf, s, e);
  if (keySlot >= 0) keyMemoMisses[keySlot]!++;
  if ((t & active) === 0 && seenBefore(h)) keepString(slot, s, e, t, 0);
  return t;
}

// Most strings that miss the memo are unique (ids, timestamps, addresses): keeping each would copy it
// into a cell and evict a string that repeats. So a string is kept the second time its hash is seen
// here: one bit per hash in a 64 Kibit filter, cleared once it has taken 16 Ki new bits (so that it never
// fills up). A repeating string costs one more scan before it is kept; a unique one is never copied.
const seenBits = new Int32Array(2048);
let seenNew = 0;

function seenBefore(h: number): boolean {
  const bit = Math.imul(h, 0x9e3779b1) >>> 16;
  const word = bit >>> 5;
  const mask = 1 << (bit & 31);
  if ((seenBits[word]! & mask) !== 0) return true;
  if (++seenNew > 16384) {
    seenBits.fill(0);
    seenNew = 1;
  }
  seenBits[word]! |= mask;
  return false;
}

/** Puts the string input [s, e) into `slot`, the cell triggersOf chose for it. */
export function keepString(slot: number, s: number, e: number, triggers: number, cleanFor: number): void {
  const buf = input;
  const view = inputView;
  memoSlot = slot;
  const base = slot * MEMO_CELL;
  const len = e - s;
  // Four bytes a step, then the tail.
  const words = len - 3;
  let k = 0;
  for (; k < words; k += 4) memoView.setInt32(base + k, view.getInt32(s + k, true), true);
  for (; k < len; k++) memoArena[base + k] = buf[s + k]!;
  memoLen[slot] = len;
  memoTrig[slot] = triggers;
  memoClean[slot] = cleanFor;
  memoFound = true;
}
