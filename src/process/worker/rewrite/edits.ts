// The edits the pass records: "replace input [start, end) with scratch [offset, offset + length)", in
// input order, plus the scratch buffer that holds every replacement's bytes. Parallel arrays of small
// integers and one scratch buffer, reused across requests (a worker rewrites one request at a time):
// a redaction allocates no typed array or object of its own. output.ts assembles the result from them.
import { writeVarint } from '../../wire/wire-writer.js';
import { input, inputView } from './input.js';

export const editStart: number[] = [];
export const editEnd: number[] = [];
export const editScratchOffset: number[] = [];
export const editScratchLength: number[] = [];
/** Edits in use (the arrays only grow, until endEdits() trims them after a huge request). */
export let editCount = 0;

const EMPTY_BUFFER = Buffer.alloc(0);
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
/** Replacement bytes of every edit, [0, scratchUsed) in use. */
export let scratch: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
export let scratchUsed = 0;

export function beginEdits(): void {
  editCount = 0;
  scratchUsed = 0;
}

export function endEdits(): void {
  editCount = 0;
  // Give back what a huge request grew.
  if (scratch.length > 4 * 1024 * 1024) scratch = Buffer.allocUnsafeSlow(64 * 1024);
  if (editStart.length > 1 << 16) editStart.length = editEnd.length = editScratchOffset.length = editScratchLength.length = 0;
}

let scratchViewOf: Buffer = EMPTY_BUFFER;
let scratchViewCached: DataView<ArrayBufferLike> = EMPTY_VIEW;
/** A DataView of the scratch buffer (made again when the buffer grew). */
export function scratchView(): DataView<ArrayBufferLike> {
  if (scratchViewOf !== scratch) {
    scratchViewOf = scratch;
    scratchViewCached = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
  }
  return scratchViewCached;
}

/** Room for n more bytes in the scratch buffer. */
export function reserve(n: number): void {
  if (scratchUsed + n <= scratch.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(scratch.length * 2, scratchUsed + n + 1024));
  scratch.copy(bigger, 0, 0, scratchUsed);
  scratch = bigger;
}

function pushEdit(s: number, e: number, off: number, len: number): void {
  editStart[editCount] = s;
  editEnd[editCount] = e;
  editScratchOffset[editCount] = off;
  editScratchLength[editCount] = len;
  editCount++;
}

/** Removes input [s, e); returns the size change. */
export function remove(s: number, e: number): number {
  pushEdit(s, e, 0, 0);
  return -(e - s);
}

/** Replaces input [s, e) with `bytes`; returns the size change. */
export function replace(s: number, e: number, bytes: Uint8Array): number {
  reserve(bytes.length);
  scratch.set(bytes, scratchUsed);
  pushEdit(s, e, scratchUsed, bytes.length);
  scratchUsed += bytes.length;
  return bytes.length - (e - s);
}

export function insert(at: number, bytes: Uint8Array): number {
  return replace(at, at, bytes);
}

/**
 * Replaces input [s, e) with the bytes the caller wrote into the scratch buffer at [off, at) (after
 * reserve(), from scratchUsed on); returns the size change.
 */
export function replaceWithScratch(s: number, e: number, off: number, at: number): number {
  pushEdit(s, e, off, at - off);
  scratchUsed = at;
  return at - off - (e - s);
}

/** Copies input [from, to) into the scratch buffer at `at` (room reserved), four bytes a step; returns the position after. */
export function copyInputToScratch(from: number, to: number, at: number): number {
  const sv = scratchView();
  const v = inputView;
  const words = to - 3;
  for (; from < words; from += 4, at += 4) sv.setInt32(at, v.getInt32(from, true), true);
  const src = input;
  const dst = scratch;
  while (from < to) dst[at++] = src[from++]!;
  return at;
}

/** Messages up to this size are rebuilt whole in the scratch buffer when they change. */
const COLLAPSE_BYTES = 160;

/**
 * After a child message's content [cs, ce) changed by d (its edits are those from `mark` on): its new
 * length prefix, inserted before the child's edits; or, for a small child (a KeyValue, an AnyValue),
 * prefix and content rebuilt in the scratch buffer as one edit, so that the ancestors see one change.
 */
export function relength(lenPos: number, cs: number, ce: number, d: number, mark: number): number {
  if (d === 0) return 0;
  const n = ce - cs + d;
  if (ce - cs <= COLLAPSE_BYTES) {
    reserve(n + 5);
    // Locals: the module's buffers are mutable bindings, reloaded on every access in a loop otherwise.
    const src = input;
    const dst = scratch;
    const off = scratchUsed;
    let at = writeVarint(dst, scratchUsed, n);
    let from = cs;
    const count = editCount;
    for (let i = mark; i < count; i++) {
      const s = editStart[i]!;
      while (from < s) dst[at++] = src[from++]!;
      const o = editScratchOffset[i]!;
      const end = o + editScratchLength[i]!;
      // The child's replacement bytes sit in the scratch buffer below `off`: copying them up is safe
      // (copyWithin moves overlapping ranges correctly; short runs go by hand, no call).
      if (end - o > 16) {
        dst.copyWithin(at, o, end);
        at += end - o;
      } else for (let k = o; k < end; k++) dst[at++] = dst[k]!;
      from = editEnd[i]!;
    }
    while (from < ce) dst[at++] = src[from++]!;
    editCount = mark;
    pushEdit(lenPos, ce, off, at - off);
    scratchUsed = at;
    return at - off - (ce - lenPos);
  }
  reserve(10);
  const off = scratchUsed;
  scratchUsed = writeVarint(scratch, scratchUsed, n);
  // Shift the child's edits up one slot and put the prefix before them.
  for (let i = editCount; i > mark; i--) {
    editStart[i] = editStart[i - 1]!;
    editEnd[i] = editEnd[i - 1]!;
    editScratchOffset[i] = editScratchOffset[i - 1]!;
    editScratchLength[i] = editScratchLength[i - 1]!;
  }
  editStart[mark] = lenPos;
  editEnd[mark] = cs;
  editScratchOffset[mark] = off;
  editScratchLength[mark] = scratchUsed - off;
  editCount++;
  return d + (scratchUsed - off) - (cs - lenPos);
}
