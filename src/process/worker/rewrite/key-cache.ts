// Key cache: attribute keys repeat across a request; their rules (KeyInfo) are looked up by the key's
// bytes, not decoded.
//
// One arena for every rule set and signal (as the string memo, string-memo.ts): a key's bytes in a
// fixed cell, tagged with the rule set and signal its KeyInfo belongs to. A per-slot copy of each key
// (its own buffer and DataView) cost a load of that view's buffer per compared word, and memory per
// tenant. The arena and the registers below are module-level so that they live across requests and a
// lookup allocates nothing.
import type { Signal } from '../../../signals.js';
import type { KeyInfo, RuleSet } from '../policy-rules.js';
import { decode, input, inputView, rules, signal } from './input.js';

const KEY_SLOTS = 2048;
const KEY_CELL = 64;
const keyArena = new Uint8Array(KEY_SLOTS * KEY_CELL);
const keyView = new DataView(keyArena.buffer);
/** Bytes in each cell (-1: empty). */
const keyLen = new Int32Array(KEY_SLOTS).fill(-1);
/** RuleSet.id × 4 + signal of the cell's KeyInfo. */
const keyTag = new Int32Array(KEY_SLOTS);
const keyInfos: (KeyInfo | undefined)[] = new Array<KeyInfo | undefined>(KEY_SLOTS).fill(undefined);
// How the string memo fares on each cached key's values: some keys' values never repeat (phone numbers,
// addresses, ids), and hashing them for the memo only to miss is wasted; see string-memo.ts triggersOf.
export const keyMemoHits = new Int32Array(KEY_SLOTS);
export const keyMemoMisses = new Int32Array(KEY_SLOTS);
/** The cell keyInfoAt found or filled last (-1: the key was not cached). */
export let lastKeySlot = -1;
const SIGNAL_INDEX: Record<Signal, number> = { traces: 1, metrics: 2, logs: 3 };
/** The tag of the request being rewritten. */
let keyTagNow = 0;

/** Sets the tag the lookups of this request use. */
export function beginKeyCache(ruleSet: RuleSet | null, sig: Signal): void {
  keyTagNow = ruleSet ? ruleSet.id * 4 + SIGNAL_INDEX[sig] : 0;
}

/** The rules of the key at input [ks, ke) under the request's rule set and signal. */
export function keyInfoAt(ks: number, ke: number): KeyInfo {
  const len = ke - ks;
  lastKeySlot = -1;
  if (len > KEY_CELL) return rules!.keyInfo(signal, decode(ks, ke));
  // The slot from the key's length and its first and last four bytes (attribute keys of one request
  // differ there: `server.address` / `client.address`, `http.request.method` / `http.route`) and the
  // tag; a collision only costs a decode, never a wrong answer (the bytes are compared below).
  const tag = keyTagNow;
  const v = inputView;
  const buf = input;
  let h: number;
  if (len >= 4) {
    h = Math.imul(v.getInt32(ks, true) ^ len ^ tag, 0x01000193);
    h = Math.imul(h ^ v.getInt32(ke - 4, true), 0x01000193);
  } else {
    h = 0x811c9dc5 ^ len ^ tag;
    for (let i = ks; i < ke; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  }
  const slot = (h ^ (h >>> 15) ^ (h >>> 23)) & (KEY_SLOTS - 1);
  const base = slot * KEY_CELL;
  if (keyLen[slot] === len && keyTag[slot] === tag) {
    const cw = len - 3;
    let k = 0;
    while (k < cw && keyView.getInt32(base + k, true) === v.getInt32(ks + k, true)) k += 4;
    if (k >= cw) {
      while (k < len && keyArena[base + k] === buf[ks + k]) k++;
      if (k === len) {
        lastKeySlot = slot;
        return keyInfos[slot]!;
      }
    }
  }
  const info = rules!.keyInfo(signal, ks === ke ? '' : decode(ks, ke));
  // A copy: the request's buffer is transferred away (or reused) after this task.
  for (let k = 0; k < len; k++) keyArena[base + k] = buf[ks + k]!;
  keyLen[slot] = len;
  keyTag[slot] = tag;
  keyInfos[slot] = info;
  keyMemoHits[slot] = keyMemoMisses[slot] = 0;
  lastKeySlot = slot;
  return info;
}
