// The request being rewritten, and what the rewrite was asked to do with it. A worker rewrites one
// request at a time, so these are module-level bindings set by beginInput() and cleared by endInput():
// every function of the pass reads them, and passing them down would add arguments to every call on
// the hot path (as before the split, when they were the module's own variables).
import type { Signal } from '../../../signals.js';
import type { RuleSet } from '../policy-rules.js';

const EMPTY = new Uint8Array(0);
const EMPTY_BUFFER = Buffer.alloc(0);
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));

/** The request's bytes. */
export let input: Uint8Array = EMPTY;
/** The same bytes as a Buffer (for decoding strings). */
export let inputBuffer: Buffer = EMPTY_BUFFER;
/** The same bytes as a DataView, for reading four bytes a step (key cache, string memo, copies). */
export let inputView: DataView<ArrayBufferLike> = EMPTY_VIEW;
/** The tenant's policy; null: no policy, only stamping. */
export let rules: RuleSet | null = null;
export let signal: Signal = 'traces';
/** The tenant attribute's key ('' when none). */
export let stampKey = '';
/** The tenant attribute as a KeyValue's content (null: no stamping). */
export let stampKeyValue: Uint8Array | null = null;

export function beginInput(sig: Signal, bytes: Uint8Array, ruleSet: RuleSet | null, key: string, keyValue: Uint8Array | null): void {
  input = bytes;
  inputBuffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  inputView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  rules = ruleSet;
  signal = sig;
  stampKey = key;
  stampKeyValue = keyValue;
}

/** Does not keep the request alive between tasks. */
export function endInput(): void {
  input = EMPTY;
  inputBuffer = EMPTY_BUFFER;
  inputView = EMPTY_VIEW;
}

// Buffer#toString('utf8', s, e) checks its arguments and looks the encoding up on every call (about
// 100 ns, as much as decoding a short value) before it calls the native utf8Slice, which
// Buffer.prototype carries (undocumented, but there since Node 0.x: Node's own toString calls it). The
// walk has checked every range already; without the method the documented call is used.
type Utf8Sliceable = Buffer & { utf8Slice?: (start: number, end: number) => string };
const HAS_UTF8_SLICE = typeof (Buffer.prototype as Utf8Sliceable).utf8Slice === 'function';

/** The request's bytes [s, e) as a string (the same as inputBuffer.toString('utf8', s, e)). */
export function decode(s: number, e: number): string {
  if (e <= s) return '';
  return HAS_UTF8_SLICE ? (inputBuffer as Utf8Sliceable).utf8Slice!(s, e) : inputBuffer.toString('utf8', s, e);
}

/** Whether the request's bytes [s, e) equal `b`. */
export function bytesEqual(s: number, e: number, b: Uint8Array): boolean {
  if (e - s !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (input[s + i] !== b[i]) return false;
  return true;
}
