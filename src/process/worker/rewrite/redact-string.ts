// String redaction: whether a string (or bytes) value holds secrets, and writing its redacted form
// into the scratch buffer as an edit.
//
// A string with findings is not rebuilt as a JS string (slices and concatenations, flattened again
// when written): its replacements are kept, and writeRedacted copies the bytes between them straight
// from the request. UTF-16 offsets equal byte offsets when the string is ASCII (its UTF-8 length equals
// its length); any other string is rebuilt and written as text.
import { ALL_TRIGGERS, isVersionKey, secretTriggers } from '../../../policy/detect/index.js';
import { bytesAsText, textAsBytes, type KeyInfo } from '../policy-rules.js';
import { isValidUtf8 } from '../utf8.js';
import { copyInputToScratch, replaceWithScratch, reserve, scratch, scratchUsed } from './edits.js';
import { varintSize, writeVarint } from '../../wire/wire-writer.js';
import { decode, input, rules } from './input.js';
import { keepString, memoClean, memoFound, memoSlot, triggersOf } from './string-memo.js';
import { tally } from './tally.js';

// The string redactString prepared for writeRedacted (registers: one string at a time, no object per
// redaction on the hot path).
let redactedStart = 0;
let redactedEnd = 0;
/** Non-ASCII strings: the redacted string itself. */
let redactedValue = '';
let redactedFindings = 0;
let redactedAscii = true;
/** The redacted string's UTF-8 length. */
let redactedBytes = 0;
/** ASCII strings: the replacement of each finding. */
const replacements: string[] = [];

/**
 * Whether the string [s, e) under `key` holds secrets; when it does, prepares its redacted bytes
 * (redactedBytes long, see writeRedacted) and counts its findings (request and item).
 */
function redactString(s: number, e: number, key: string | undefined, sensitive: boolean, keySlot = -1): boolean {
  if (s === e) return false;
  const r = rules!;
  // A sensitive key makes the whole value one finding; otherwise only the detectors whose byte trigger
  // the value meets run (custom patterns have no trigger: with any, every string is searched). A value
  // whose triggers lead to no enabled detector (a port's four digits in a URL) is not even decoded.
  let triggers = ALL_TRIGGERS;
  if (!sensitive) {
    // No enabled detector and no custom pattern (only key rules): nothing to look for.
    if (r.activeTriggers === 0 && !r.hasCustom) return false;
    triggers = triggersOf(s, e, r.activeTriggers, keySlot);
    if ((triggers & r.activeTriggers) === 0 && !r.hasCustom) return false;
    // Searched before under these rules, with nothing found.
    if (memoFound && memoClean[memoSlot] === r.id) return false;
  }
  const slot = memoSlot;
  const value = decode(s, e);
  const n = r.scan(value, key, triggers, sensitive);
  if (n === 0) {
    if (!sensitive && slot >= 0 && (key === undefined || !isVersionKey(key))) keepString(slot, s, e, triggers, r.id);
    return false;
  }
  tally.itemRedactions += n;
  const found = r.found;
  const cats = tally.categories;
  const ascii = value.length === e - s;
  let bytes = e - s;
  let out = '';
  let pos = 0;
  for (let i = 0; i < n; i++) {
    cats[found.cat[i]!]!++;
    const rep = r.replacement(i, value);
    if (ascii) {
      replacements[i] = rep;
      bytes += utf8Length(rep) - (found.end[i]! - found.start[i]!);
    } else {
      out += value.slice(pos, found.start[i]!) + rep;
      pos = found.end[i]!;
    }
  }
  redactedStart = s;
  redactedEnd = e;
  redactedFindings = n;
  redactedAscii = ascii;
  if (ascii) {
    redactedBytes = bytes;
  } else {
    redactedValue = out + value.slice(pos);
    redactedBytes = Buffer.byteLength(redactedValue, 'utf8');
  }
  return true;
}

/** Writes the string redactString prepared into the scratch buffer at `at` (room reserved); returns the position after. */
function writeRedacted(at: number): number {
  if (!redactedAscii) {
    const value = redactedValue;
    redactedValue = '';
    return at + scratch.write(value, at, 'utf8');
  }
  const found = rules!.found;
  const base = redactedStart;
  let pos = 0;
  for (let i = 0; i < redactedFindings; i++) {
    at = copyInputToScratch(base + pos, base + found.start[i]!, at);
    const rep = replacements[i]!;
    at = writeText(at, rep, utf8Length(rep));
    replacements[i] = '';
    pos = found.end[i]!;
  }
  return copyInputToScratch(base + pos, redactedEnd, at);
}

/** UTF-8 bytes of `value` (one pass over it; no native call for ASCII, nearly every redacted value). */
function utf8Length(value: string): number {
  const n = value.length;
  for (let k = 0; k < n; k++) if (value.charCodeAt(k) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return n;
}

/**
 * Writes `value` (`bytes` long in UTF-8) into the scratch buffer at `at` (room reserved); returns the
 * position after. ASCII is written by hand: for short strings the native write's call costs more than
 * the copy. Anything else goes through Buffer#write (the same bytes either way).
 */
function writeText(at: number, value: string, bytes: number): number {
  const n = value.length;
  if (bytes !== n) return at + scratch.write(value, at, 'utf8');
  const dst = scratch;
  for (let k = 0; k < n; k++) dst[at++] = value.charCodeAt(k);
  return at;
}

/** A string field's value [s, e) after its length prefix at lenPos: redacted in place if it holds secrets. */
export function stringField(lenPos: number, s: number, e: number, key: string | undefined, sensitive: boolean): number {
  if (!redactString(s, e, key, sensitive)) return 0;
  const bytes = redactedBytes;
  reserve(bytes + 10);
  const off = scratchUsed;
  return replaceWithScratch(lenPos, e, off, writeRedacted(writeVarint(scratch, off, bytes)));
}

/**
 * A bytes_value [s, e) after its length prefix at lenPos: read as text (policy-rules.ts bytesAsText:
 * UTF-8 when valid, else Latin-1) and redacted like a string value under the same key (a sensitive key
 * makes it one finding). The byte prefilter holds for both readings: its conditions are ASCII bytes,
 * which both readings turn into the same characters (Latin-1 maps every byte to one character; UTF-8
 * never puts an ASCII byte inside a multi-byte character), and it treats every other byte as neither
 * letter nor digit, which can only add triggers. So a large binary value costs one pass of the
 * automaton unless it meets a detector's condition.
 */
export function bytesField(lenPos: number, s: number, e: number, key: string | undefined, sensitive: boolean): number {
  if (s === e) return 0;
  const r = rules!;
  const buf = input;
  let triggers = ALL_TRIGGERS;
  if (!sensitive) {
    if (r.activeTriggers === 0 && !r.hasCustom) return 0;
    triggers = secretTriggers(buf, s, e);
    if ((triggers & r.activeTriggers) === 0 && !r.hasCustom) return 0;
  }
  const utf8 = isValidUtf8(buf, s, e);
  const value = bytesAsText(buf, s, e, utf8);
  const n = r.scan(value, key, triggers, sensitive);
  if (n === 0) return 0;
  tally.itemRedactions += n;
  const found = r.found;
  let out = '';
  let pos = 0;
  for (let i = 0; i < n; i++) {
    tally.categories[found.cat[i]!]!++;
    out += value.slice(pos, found.start[i]!) + r.replacement(i, value);
    pos = found.end[i]!;
  }
  const bytes = textAsBytes(out + value.slice(pos), utf8);
  reserve(bytes.length + 10);
  const off = scratchUsed;
  const at = writeVarint(scratch, off, bytes.length);
  scratch.set(bytes, at);
  return replaceWithScratch(lenPos, e, off, at + bytes.length);
}

/**
 * A KeyValue [s, e) (length prefix at lenPos) whose one value (length prefix at vLen) is an AnyValue
 * holding only a string_value [ss, ce): the common attribute. When the string changes, the KeyValue is
 * rebuilt as one edit (its prefix, what precedes the value, the value's prefix, the string's field),
 * instead of three nested edits collapsed one into the next (each copying the new string again).
 */
export function stringKeyValue(lenPos: number, s: number, e: number, vLen: number, ss: number, ce: number, info: KeyInfo, keySlot: number): number {
  if (!redactString(ss, ce, info.key, info.sensitive, keySlot)) return 0;
  const bytes = redactedBytes;
  const anyLen = 1 + varintSize(bytes) + bytes;
  const kvLen = vLen - s + varintSize(anyLen) + anyLen + (e - ce);
  reserve(kvLen + 10);
  const dst = scratch;
  const off = scratchUsed;
  let at = writeVarint(dst, off, kvLen);
  // The key and whatever else precedes the value (including the value's tag), then after it.
  at = copyInputToScratch(s, vLen, at);
  at = writeVarint(dst, at, anyLen);
  dst[at++] = (1 << 3) | 2;
  at = copyInputToScratch(ce, e, writeRedacted(writeVarint(dst, at, bytes)));
  return replaceWithScratch(lenPos, e, off, at);
}

/** Replaces a KeyValue's value field content (prefix at vLen, end ve) with AnyValue{string_value: masked}. */
export function maskedValue(vLen: number, ve: number, masked: string): number {
  // Written straight into the scratch buffer.
  const bytes = utf8Length(masked);
  const any = 1 + varintSize(bytes) + bytes;
  reserve(any + 10);
  const off = scratchUsed;
  let at = writeVarint(scratch, off, any);
  scratch[at++] = (1 << 3) | 2;
  at = writeVarint(scratch, at, bytes);
  at = writeText(at, masked, bytes);
  return replaceWithScratch(vLen, ve, off, at);
}
