// The fast path's rewriting pass (DESIGN.md decision 2): applies a tenant's policy (policy-rules.ts)
// and tenant stamping to a request the validating walk (walk.ts) has accepted, on the wire bytes.
//
// It reads the request once, descending only into the messages that can hold something the policy
// acts on, and records edits: "replace bytes [s, e) of the input with these bytes" (a redacted string,
// a dropped attribute, metric or resource, an appended attribute) plus, for every message whose
// content changed size, a new length prefix. The output is then assembled by copying the untouched
// ranges between edits verbatim. A string reaches the detectors only when the byte prefilter
// (policy/detect/prefilter.ts) flags it, its key is sensitive, or custom patterns exist; only a
// string that changes is decoded, re-encoded and written. When nothing changes the output is the
// input buffer itself (zero copy).
//
// Semantics (the reference path, ../reference/apply-policy.ts, implements the same on objects):
// - attribute lists (resource, scope, span, event, link, log record, data point, exemplar): a key that
//   the signal's allowlist (or keys.mode: allowlist) does not allow is dropped (counted, reason
//   attribute_key); then a blocked key pattern drops the attribute or masks its value (one redaction,
//   category blocked_key); otherwise the value is redacted (strings at any depth of arrays and
//   kvlists, each under its innermost key; kvlist keys obey the blocked patterns too); bytes values
//   like string values (read as UTF-8 when valid, else Latin-1: policy-rules.ts bytesAsText);
// - every key (attribute, kvlist, metadata) is itself redacted like a string with no key when the key
//   rules' memo says it holds a finding (KeyInfo.keySecret); the allowlist, blocked patterns and
//   sensitivity are decided on the key as sent;
// - every other client string is redacted with no key: span names and trace states, link trace
//   states, event names, status messages, log bodies, severity texts and event names, metric names
//   (after the allowlist), descriptions and units, schema URLs (resource and scope entries), scope
//   names, entity refs' strings; a scope's version under a version key (no IPv4 finding); metric
//   `metadata` like a kvlist (docs/reference/redaction-coverage.md has the table of places);
// - a metric whose name the allowlist refuses, and a resource whose service.name (the last such
//   attribute's string value, '' when none) it refuses, are dropped with their items (counted);
// - with a summary attribute, an item (span, log record, data point) with redactions gets that
//   attribute appended, its value the number of redactions inside the item;
// - with a tenant attribute, every resource loses the client's attributes of that key (counted as
//   overwrites) and gets the attribute appended, its value the tenant (a resource is created if absent).
// Protobuf merge rules are respected: the last `key` of a KeyValue counts, every occurrence of a string
// is redacted (the last one wins on decoding anyway), the stamp goes into the last `resource` field.
import type { Signal } from '../../signals.js';
// The byte prefilter is a pure function of policy/detect (see policy-rules.ts on why the worker may use it).
import { ALL_TRIGGERS, isVersionKey, secretTriggers } from '../../policy/detect/index.js';
import {
  BLOCKED_KEY,
  bytesAsText,
  DROP_ATTRIBUTE_KEY,
  DROP_METRIC_NAME,
  DROP_SERVICE_NAME,
  SCOPE_VERSION_KEY,
  textAsBytes,
  type Counts,
  type KeyInfo,
  type RuleSet,
} from './policy-rules.js';
import { isValidUtf8 } from './utf8.js';
import { readLength, readTag, skipVarint, wire } from '../wire/wire-reader.js';
import { FIELD_INFO, FIELD_SLOTS, INFO_CHILD_SHIFT, INFO_ITEM, INFO_KIND_MASK, Kind, MSG } from './wire-schema.js';

export interface RewriteOptions {
  /** null: no policy, only stamping. */
  rules: RuleSet | null;
  tenant: string;
  tenantAttribute?: string | undefined;
}

export interface RewriteResult {
  /** The input itself when nothing changed. */
  body: Uint8Array;
  changed: boolean;
  redactions: Counts;
  dropped: Counts;
  /** Items (spans, data points, log records) removed with a dropped metric or resource. */
  droppedItems: number;
  tenantOverwrites: number;
}


const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const SERVICE_NAME = encoder.encode('service.name');

// ---- per-request state (a worker rewrites one request at a time) ----
let buf: Uint8Array = EMPTY;
const EMPTY_TEXT = Buffer.alloc(0);
let text: Buffer = EMPTY_TEXT;
// The request as 32-bit words, for the key cache (four bytes a step).
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
let view: DataView<ArrayBufferLike> = EMPTY_VIEW;
let rules: RuleSet | null = null;
let signal: Signal = 'traces';
// The edits, in input order, as parallel arrays of small integers: replace input [eS, eE) with
// scratch[eOff, eOff + eLen). Replacement bytes are written into one scratch buffer reused across
// requests, so that a redaction allocates no typed array of its own.
const eS: number[] = [];
const eE: number[] = [];
const eOff: number[] = [];
const eLen: number[] = [];
/** Edits in use (the arrays are reused across requests and only grow). */
let ne = 0;
let scratch: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
let sat = 0;
// Redactions by category index (RuleSet.categories) and of blocked keys, turned into the result's
// Counts once per request (a keyed increment of an object per finding cost more than the finding).
let catCounts = new Int32Array(64);
let blockedCount = 0;
let dropped: Counts = {};
let itemRedactions = 0;
let droppedItems = 0;
let overwrites = 0;
let stampBytes: Uint8Array | null = null;
let stampKey = '';

/** Applies the rules and the stamp to a validated request of `sig`. */
export function rewriteRequest(sig: Signal, input: Uint8Array, options: RewriteOptions): RewriteResult {
  buf = input;
  text = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  rules = options.rules;
  signal = sig;
  ne = 0;
  sat = 0;
  blockedCount = 0;
  if (options.rules) {
    const n = options.rules.categories.length;
    if (catCounts.length < n) catCounts = new Int32Array(n);
    else catCounts.fill(0, 0, n);
  }
  dropped = {};
  itemRedactions = 0;
  droppedItems = 0;
  overwrites = 0;
  stampKey = options.tenantAttribute ?? '';
  stampBytes = options.tenantAttribute !== undefined ? keyValueString(options.tenantAttribute, options.tenant) : null;
  keyTagNow = rules ? rules.id * 4 + SIGNAL_INDEX[sig] : 0;
  try {
    request(0, input.length);
    const changed = ne > 0;
    const body = changed ? assemble() : input;
    return { body, changed, redactions: countsByName(), dropped, droppedItems, tenantOverwrites: overwrites };
  } finally {
    // Do not keep the request alive between tasks.
    buf = EMPTY;
    text = EMPTY_TEXT;
    view = EMPTY_VIEW;
    ne = 0;
    // Give back what a huge request grew.
    if (scratch.length > 4 * 1024 * 1024) scratch = Buffer.allocUnsafeSlow(64 * 1024);
    if (eS.length > 1 << 16) eS.length = eE.length = eOff.length = eLen.length = 0;
  }
}

function countsByName(): Counts {
  const out: Counts = {};
  if (rules) {
    const names = rules.categories;
    for (let i = 0; i < names.length; i++) if (catCounts[i]! > 0) out[names[i]!] = catCounts[i]!;
  }
  if (blockedCount > 0) out[BLOCKED_KEY] = blockedCount;
  return out;
}

function assemble(): Uint8Array {
  let size = buf.length;
  const n = ne;
  for (let i = 0; i < n; i++) size += eLen[i]! - (eE[i]! - eS[i]!);
  // An ArrayBuffer of its own: the worker transfers it back without a copy. Not zero-filled (every
  // byte is written below): zeroing a 290 KB output was ~1 % of the gateway's CPU in `perf`.
  const out = Buffer.allocUnsafeSlow(size);
  const outView = new DataView(out.buffer);
  const sv = scratchView();
  let from = 0;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const s = eS[i]!;
    if (s > from) at = copyBytes(buf, view, from, s, out, outView, at);
    const len = eLen[i]!;
    if (len > 0) at = copyBytes(scratch, sv, eOff[i]!, eOff[i]! + len, out, outView, at);
    from = eE[i]!;
  }
  if (from < buf.length) copyBytes(buf, view, from, buf.length, out, outView, at);
  return out;
}

let scratchViewOf: Buffer = EMPTY_TEXT;
let scratchViewCached: DataView<ArrayBufferLike> = EMPTY_VIEW;
/** A DataView of the scratch buffer (made again when the buffer grew). */
function scratchView(): DataView<ArrayBufferLike> {
  if (scratchViewOf !== scratch) {
    scratchViewOf = scratch;
    scratchViewCached = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
  }
  return scratchViewCached;
}

/**
 * Copies src[from, to) to dst at `at`; returns the position after. Long runs natively; short ones (most
 * runs lie between two nearby edits: a tag byte, a key) four bytes a step through DataViews, which is
 * cheaper than the native call and its view object, and than a byte loop.
 */
function copyBytes(src: Uint8Array, sv: DataView<ArrayBufferLike>, from: number, to: number, dst: Uint8Array, dv: DataView, at: number): number {
  if (to - from > 64) {
    dst.set(src.subarray(from, to), at);
    return at + (to - from);
  }
  const words = to - 3;
  for (; from < words; from += 4, at += 4) dv.setInt32(at, sv.getInt32(from, true), true);
  while (from < to) dst[at++] = src[from++]!;
  return at;
}

// Buffer#toString('utf8', s, e) checks its arguments and looks the encoding up on every call (about
// 100 ns, as much as decoding a short value) before it calls the native utf8Slice, which
// Buffer.prototype carries (undocumented, but there since Node 0.x: Node's own toString calls it). The
// walk has checked every range already; without the method the documented call is used.
type Utf8Sliceable = Buffer & { utf8Slice?: (start: number, end: number) => string };
const HAS_UTF8_SLICE = typeof (Buffer.prototype as Utf8Sliceable).utf8Slice === 'function';

/** The request's bytes [s, e) as a string (the same as text.toString('utf8', s, e)). */
function decode(s: number, e: number): string {
  if (e <= s) return '';
  return HAS_UTF8_SLICE ? (text as Utf8Sliceable).utf8Slice!(s, e) : text.toString('utf8', s, e);
}

/** Room for n more bytes in the scratch buffer. */
function reserve(n: number): void {
  if (sat + n <= scratch.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(scratch.length * 2, sat + n + 1024));
  scratch.copy(bigger, 0, 0, sat);
  scratch = bigger;
}

// ---- wire helpers ----

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** A length-delimited field: tag, length, content. */
function lenField(field: number, content: Uint8Array): Uint8Array {
  const tag = (field << 3) | 2;
  const out = new Uint8Array(varintSize(tag) + varintSize(content.length) + content.length);
  let at = writeVarint(out, 0, tag);
  at = writeVarint(out, at, content.length);
  out.set(content, at);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** KeyValue{key, value: AnyValue{string_value}} content. */
function keyValueString(key: string, value: string): Uint8Array {
  return concat(lenField(1, encoder.encode(key)), lenField(2, lenField(1, encoder.encode(value))));
}

/** KeyValue{key, value: AnyValue{int_value}} content. */
function keyValueInt(key: string, value: number): Uint8Array {
  const any = new Uint8Array(1 + varintSize(value));
  any[0] = (3 << 3) | 0;
  writeVarint(any, 1, value);
  return concat(lenField(1, encoder.encode(key)), lenField(2, any));
}

/** The position after a non-LEN field's value starting at pos. */
function skipValue(pos: number, wt: number, end: number): number {
  switch (wt) {
    case 0:
      return skipVarint(buf, pos, end);
    case 1:
      return pos + 8;
    case 5:
      return pos + 4;
    default:
      // The walk refused every other wire type.
      throw new Error(`rewrite: wire type ${wt} at ${pos}`);
  }
}

// Field iteration registers: the last field read by next().
let fTag = 0; // tag position
let fLen = 0; // length prefix position (LEN fields)
let fStart = 0; // content start (LEN fields)
let fNum = 0;
let fWt = 0;

/** Reads the field at pos and returns where the next one starts. */
function next(pos: number, end: number): number {
  fTag = pos;
  const b = buf[pos]!;
  if (b < 0x80) {
    wire.tag = b;
    pos++;
  } else pos = readTag(buf, pos, end);
  fNum = wire.tag >>> 3;
  fWt = wire.tag & 7;
  if (fWt !== 2) return skipValue(pos, fWt, end);
  fLen = pos;
  const l = buf[pos]!;
  if (l < 0x80) {
    fStart = pos + 1;
    return fStart + l;
  }
  pos = readLength(buf, pos, end);
  fStart = pos;
  return pos + wire.lo;
}

// ---- edits ----

function pushEdit(s: number, e: number, off: number, len: number): void {
  eS[ne] = s;
  eE[ne] = e;
  eOff[ne] = off;
  eLen[ne] = len;
  ne++;
}

function remove(s: number, e: number): number {
  pushEdit(s, e, 0, 0);
  return -(e - s);
}

/** Replaces input [s, e) with `bytes`; returns the size change. */
function replace(s: number, e: number, bytes: Uint8Array): number {
  reserve(bytes.length);
  scratch.set(bytes, sat);
  pushEdit(s, e, sat, bytes.length);
  sat += bytes.length;
  return bytes.length - (e - s);
}

function insert(at: number, bytes: Uint8Array): number {
  return replace(at, at, bytes);
}

/** Messages up to this size are rebuilt whole in the scratch buffer when they change. */
const COLLAPSE_BYTES = 160;

/**
 * After a child message's content [cs, ce) changed by d (its edits are those from `mark` on): its new
 * length prefix, inserted before the child's edits; or, for a small child (a KeyValue, an AnyValue),
 * prefix and content rebuilt in the scratch buffer as one edit, so that the ancestors see one change.
 */
function relength(lenPos: number, cs: number, ce: number, d: number, mark: number): number {
  if (d === 0) return 0;
  const n = ce - cs + d;
  if (ce - cs <= COLLAPSE_BYTES) {
    reserve(n + 5);
    // Locals: the module's buffers are mutable bindings, reloaded on every access in a loop otherwise.
    const src = buf;
    const dst = scratch;
    const off = sat;
    let at = writeVarint(dst, sat, n);
    let from = cs;
    const count = ne;
    for (let i = mark; i < count; i++) {
      const s = eS[i]!;
      while (from < s) dst[at++] = src[from++]!;
      const o = eOff[i]!;
      const end = o + eLen[i]!;
      // The child's replacement bytes sit in the scratch buffer below `off`: copying them up is safe
      // (copyWithin moves overlapping ranges correctly; short runs go by hand, no call).
      if (end - o > 16) {
        dst.copyWithin(at, o, end);
        at += end - o;
      } else for (let k = o; k < end; k++) dst[at++] = dst[k]!;
      from = eE[i]!;
    }
    while (from < ce) dst[at++] = src[from++]!;
    ne = mark;
    pushEdit(lenPos, ce, off, at - off);
    sat = at;
    return at - off - (ce - lenPos);
  }
  reserve(10);
  const off = sat;
  sat = writeVarint(scratch, sat, n);
  // Shift the child's edits up one slot and put the prefix before them.
  for (let i = ne; i > mark; i--) {
    eS[i] = eS[i - 1]!;
    eE[i] = eE[i - 1]!;
    eOff[i] = eOff[i - 1]!;
    eLen[i] = eLen[i - 1]!;
  }
  eS[mark] = lenPos;
  eE[mark] = cs;
  eOff[mark] = off;
  eLen[mark] = sat - off;
  ne++;
  return d + (sat - off) - (cs - lenPos);
}

// ---- key cache: attribute keys repeat across a request; look them up by their bytes, not decoded ----

// One arena for every rule set and signal (as the string memo below): a key's bytes in a fixed cell,
// tagged with the rule set and signal its KeyInfo belongs to. A per-slot copy of each key (its own
// buffer and DataView) cost a load of that view's buffer per compared word, and memory per tenant.
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
// addresses, ids), and hashing them for the memo only to miss is wasted; see triggersOf.
const keyMemoHits = new Int32Array(KEY_SLOTS);
const keyMemoMisses = new Int32Array(KEY_SLOTS);
/** The cell keyInfoAt found or filled last (-1: the key was not cached). */
let lastKeySlot = -1;
const SIGNAL_INDEX: Record<Signal, number> = { traces: 1, metrics: 2, logs: 3 };
/** The tag of the request being rewritten. */
let keyTagNow = 0;

function keyInfoAt(ks: number, ke: number): KeyInfo {
  const len = ke - ks;
  lastKeySlot = -1;
  if (len > KEY_CELL) return rules!.keyInfo(signal, decode(ks, ke));
  // The slot from the key's length and its first and last four bytes (attribute keys of one request
  // differ there: `server.address` / `client.address`, `http.request.method` / `http.route`) and the
  // tag; a collision only costs a decode, never a wrong answer (the bytes are compared below).
  const tag = keyTagNow;
  const v = view;
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

function bytesEqual(s: number, e: number, b: Uint8Array): boolean {
  if (e - s !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (buf[s + i] !== b[i]) return false;
  return true;
}

// ---- string memo: most strings that need no redaction repeat (db.system, span names, user agents) ----

// secretTriggers costs a few nanoseconds per byte (a state machine over every byte), and a string it
// flags is decoded and searched by regular expressions; hashing and comparing four bytes a step costs
// much less. So two verdicts about short strings are kept, by their bytes, in fixed cells of one arena
// (no allocation per entry), across the requests of this worker:
// - the triggers of a string that triggers no detector of the rule set at hand (triggers are a pure
//   function of the bytes, valid under any rule set);
// - "no finding under rule set N" for a flagged string that the detectors and custom patterns then
//   left alone (a user agent's digit runs, a route with `{sessionId}`), when its key was neither
//   sensitive (such values bypass the memo) nor a version key: the key matters to no detector but
//   IPv4, and a version key only takes IPv4 findings away, so the verdict holds under any key.
// Strings with findings are not kept: they are mostly unique (phone numbers, addresses) and would
// only evict the repeating ones. A collision overwrites a cell; an entry is used only when its bytes
// equal the string's, so the memo can never change an output, only skip work.
const MEMO_SLOTS = 4096;
const MEMO_CELL = 128;
const memoArena = new Uint8Array(MEMO_SLOTS * MEMO_CELL);
const memoView = new DataView(memoArena.buffer);
/** Bytes in each cell; -1: empty. */
const memoLen = new Int32Array(MEMO_SLOTS).fill(-1);
const memoTrig = new Int32Array(MEMO_SLOTS);
/** RuleSet.id under which the cell's string has no finding (0: not known). */
const memoClean = new Int32Array(MEMO_SLOTS);
/** The cell of the string triggersOf looked up last: where it was found (memoFound) or would go. */
let memoSlot = -1;
let memoFound = false;

/** secretTriggers(buf, s, e), from the memo when the same bytes were kept. */
function triggersOf(s: number, e: number, active: number, keySlot: number): number {
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
  if ((t & active) === 0 && seenBefore(h)) keep(s, e, t, 0);
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

/** Puts the string [s, e) into the cell triggersOf chose for it. */
function keep(s: number, e: number, triggers: number, cleanFor: number): void {
  const slot = memoSlot;
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

// ---- items removed with a metric or a resource ----

const ITEM_PATH = new Set(
  ['ResourceSpans', 'ResourceMetrics', 'ResourceLogs', 'ScopeSpans', 'ScopeMetrics', 'ScopeLogs', 'Metric', 'Gauge', 'Sum', 'Histogram', 'ExponentialHistogram', 'Summary'].map(
    (n) => MSG[n]!,
  ),
);

function countItems(msg: number, s: number, e: number): number {
  let n = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2 || fNum >= FIELD_SLOTS) continue;
    const info = FIELD_INFO[msg * FIELD_SLOTS + fNum]!;
    if ((info & INFO_KIND_MASK) !== Kind.MESSAGE) continue;
    if ((info & INFO_ITEM) !== 0) n++;
    else {
      const child = info >>> INFO_CHILD_SHIFT;
      if (ITEM_PATH.has(child)) {
        const cs = fStart;
        n += countItems(child, cs, pos);
      }
    }
  }
  return n;
}

// ---- the request ----

const RESOURCE_ENTRY: Record<Signal, number> = { traces: MSG['ResourceSpans']!, metrics: MSG['ResourceMetrics']!, logs: MSG['ResourceLogs']! };

function request(s: number, e: number): void {
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    const tagPos = fTag;
    if (fNum !== 1 || fWt !== 2) {
      // Foreign top-level fields are stripped so that outputs concatenate (process-request.ts).
      remove(tagPos, pos);
      continue;
    }
    const lenPos = fLen;
    const cs = fStart;
    const ce = pos;
    if (rules?.serviceAllowed && !rules.serviceAllowed(serviceName(cs, ce))) {
      const n = countItems(RESOURCE_ENTRY[signal], cs, ce);
      droppedItems += n;
      dropped[DROP_SERVICE_NAME] = (dropped[DROP_SERVICE_NAME] ?? 0) + n;
      remove(tagPos, ce);
      continue;
    }
    const mark = ne;
    relength(lenPos, cs, ce, resourceEntry(cs, ce), mark);
  }
}

/** The last service.name attribute's string value in the entry's resource(s), '' when none. */
function serviceName(s: number, e: number): string {
  let name = '';
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fNum !== 1 || fWt !== 2) continue;
    const re = pos;
    for (let p = fStart; p < re; ) {
      p = next(p, re);
      if (fNum !== 1 || fWt !== 2) continue;
      const kvEnd = p;
      let isService = false;
      let value: string | null = null;
      for (let q = fStart; q < kvEnd; ) {
        q = next(q, kvEnd);
        if (fWt !== 2) continue;
        if (fNum === 1) isService = bytesEqual(fStart, q, SERVICE_NAME);
        else if (fNum === 2) {
          const ve = q;
          for (let v = fStart; v < ve; ) {
            v = next(v, ve);
            if ((fNum as number) === 1 && fWt === 2) value = decode(fStart, v);
          }
        }
      }
      if (isService) name = value ?? '';
    }
  }
  return name;
}

function resourceEntry(s: number, e: number): number {
  let d = 0;
  let lastResource = -1;
  if (stampBytes) {
    for (let pos = s; pos < e; ) {
      pos = next(pos, e);
      if (fNum === 1 && fWt === 2) lastResource = fTag;
    }
  }
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    const tagPos = fTag;
    const lenPos = fLen;
    const cs = fStart;
    const mark = ne;
    if (fNum === 1) d += relength(lenPos, cs, pos, resource(cs, pos, tagPos === lastResource), mark);
    else if (fNum === 2) d += relength(lenPos, cs, pos, scope(cs, pos), mark);
    else if (fNum === 3 && rules) d += stringField(lenPos, cs, pos, undefined, false); // schema_url
  }
  // No resource at all: the stamp needs one.
  if (stampBytes && lastResource < 0) d += insert(e, lenField(1, lenField(1, stampBytes)));
  return d;
}

function resource(s: number, e: number, stamp: boolean): number {
  let d = 0;
  if (rules || stampBytes) {
    for (let pos = s; pos < e; ) {
      pos = next(pos, e);
      if (fWt !== 2) continue;
      if (fNum === 1) d += attribute(fTag, fLen, fStart, pos, true);
      else if (fNum === 3 && rules) {
        const lenPos = fLen;
        const cs = fStart;
        const mark = ne;
        d += relength(lenPos, cs, pos, entityRef(cs, pos), mark);
      }
    }
  }
  if (stamp && stampBytes) d += insert(e, lenField(1, stampBytes));
  return d;
}

/** Resource.entity_refs: schema_url, type, id_keys and description_keys are all client strings. */
function entityRef(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt === 2 && fNum >= 1 && fNum <= 4) d += stringField(fLen, fStart, pos, undefined, false);
  }
  return d;
}

/** ScopeSpans / ScopeMetrics / ScopeLogs. */
function scope(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    const tagPos = fTag;
    const lenPos = fLen;
    const cs = fStart;
    const mark = ne;
    if (fNum === 1) {
      if (rules) d += relength(lenPos, cs, pos, instrumentationScope(cs, pos), mark);
    } else if (fNum === 3) {
      if (rules) d += stringField(lenPos, cs, pos, undefined, false); // schema_url
    } else if (fNum === 2 && rules) {
      switch (signal) {
        case 'traces':
          d += relength(lenPos, cs, pos, span(cs, pos), mark);
          break;
        case 'logs':
          d += relength(lenPos, cs, pos, logRecord(cs, pos), mark);
          break;
        case 'metrics':
          d += metricField(tagPos, lenPos, cs, pos);
          break;
      }
    }
  }
  return d;
}

function instrumentationScope(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    if (fNum === 3) d += attribute(fTag, fLen, fStart, pos, false);
    // name; version, under a version key (a four-part version is no IPv4 address)
    else if (fNum === 1) d += stringField(fLen, fStart, pos, undefined, false);
    else if (fNum === 2) d += stringField(fLen, fStart, pos, SCOPE_VERSION_KEY, false);
  }
  return d;
}

/** Appends the summary attribute (field `field`) to an item with redactions. */
function summarize(e: number, field: number): number {
  const key = rules!.summaryAttribute;
  if (key === null || itemRedactions === 0) return 0;
  return insert(e, lenField(field, keyValueInt(key, itemRedactions)));
}

// ---- traces ----

function span(s: number, e: number): number {
  itemRedactions = 0;
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    const lenPos = fLen;
    const cs = fStart;
    const mark = ne;
    switch (fNum) {
      case 3: // trace_state
      case 5: // name
        d += stringField(lenPos, cs, pos, undefined, false);
        break;
      case 9:
        d += attribute(fTag, lenPos, cs, pos, false);
        break;
      case 11:
        d += relength(lenPos, cs, pos, spanEvent(cs, pos), mark);
        break;
      case 13:
        d += relength(lenPos, cs, pos, spanLink(cs, pos), mark);
        break;
      case 15:
        d += relength(lenPos, cs, pos, status(cs, pos), mark);
        break;
    }
  }
  return d + summarize(e, 9);
}

function spanEvent(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    if (fNum === 2) d += stringField(fLen, fStart, pos, undefined, false);
    else if (fNum === 3) d += attribute(fTag, fLen, fStart, pos, false);
  }
  return d;
}

function spanLink(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    if (fNum === 4) d += attribute(fTag, fLen, fStart, pos, false);
    else if (fNum === 3) d += stringField(fLen, fStart, pos, undefined, false); // trace_state
  }
  return d;
}

function status(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fNum === 2 && fWt === 2) d += stringField(fLen, fStart, pos, undefined, false);
  }
  return d;
}

// ---- logs ----

function logRecord(s: number, e: number): number {
  itemRedactions = 0;
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    const lenPos = fLen;
    const cs = fStart;
    const mark = ne;
    if (fNum === 5) d += relength(lenPos, cs, pos, anyValue(cs, pos, undefined, false), mark);
    else if (fNum === 6) d += attribute(fTag, lenPos, cs, pos, false);
    else if (fNum === 3 || fNum === 12) d += stringField(lenPos, cs, pos, undefined, false); // severity_text, event_name
  }
  return d + summarize(e, 6);
}

// ---- metrics ----

const DATA_KINDS: Record<number, { attrs: number; exemplars: number }> = {
  5: { attrs: 7, exemplars: 5 }, // gauge: NumberDataPoint
  7: { attrs: 7, exemplars: 5 }, // sum: NumberDataPoint
  9: { attrs: 9, exemplars: 8 }, // histogram: HistogramDataPoint
  10: { attrs: 1, exemplars: 11 }, // exponential_histogram: ExponentialHistogramDataPoint
  11: { attrs: 7, exemplars: 0 }, // summary: SummaryDataPoint (no exemplars)
};

function metricField(tagPos: number, lenPos: number, s: number, e: number): number {
  const allowed = rules!.metricAllowed;
  if (allowed) {
    let name = '';
    for (let pos = s; pos < e; ) {
      pos = next(pos, e);
      if (fNum === 1 && fWt === 2) name = decode(fStart, pos);
    }
    if (!allowed(name)) {
      const n = countItems(MSG['Metric']!, s, e);
      droppedItems += n;
      dropped[DROP_METRIC_NAME] = (dropped[DROP_METRIC_NAME] ?? 0) + n;
      return remove(tagPos, e);
    }
  }
  const mark = ne;
  return relength(lenPos, s, e, metric(s, e), mark);
}

function metric(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    const lenPos = fLen;
    const cs = fStart;
    const mark = ne;
    const kind = DATA_KINDS[fNum];
    if (kind) d += relength(lenPos, cs, pos, dataContainer(cs, pos, kind.attrs, kind.exemplars), mark);
    else if (fNum === 12) d += nestedKeyValue(fTag, lenPos, cs, pos);
    // name (after the allowlist saw the client's name), description, unit
    else if (fNum >= 1 && fNum <= 3) d += stringField(lenPos, cs, pos, undefined, false);
  }
  return d;
}

function dataContainer(s: number, e: number, attrs: number, exemplars: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fNum !== 1 || fWt !== 2) continue;
    const lenPos = fLen;
    const cs = fStart;
    const mark = ne;
    d += relength(lenPos, cs, pos, dataPoint(cs, pos, attrs, exemplars), mark);
  }
  return d;
}

function dataPoint(s: number, e: number, attrs: number, exemplars: number): number {
  itemRedactions = 0;
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    if (fNum === attrs) d += attribute(fTag, fLen, fStart, pos, false);
    else if (fNum === exemplars) {
      const lenPos = fLen;
      const cs = fStart;
      const mark = ne;
      d += relength(lenPos, cs, pos, exemplar(cs, pos), mark);
    }
  }
  return d + summarize(e, attrs);
}

function exemplar(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fNum === 7 && fWt === 2) d += attribute(fTag, fLen, fStart, pos, false);
  }
  return d;
}

// ---- attributes and values ----

/** Where the last key of a KeyValue is: sets kStart/kEnd (-1 when it has none). */
let kStart = -1;
let kEnd = -1;
/** How many key fields the KeyValue has (protobuf keeps the last; the others are bytes on the wire all the same). */
let kCount = 0;
/** The KeyValue's value fields: how many, and where the last one's prefix and content are. */
let vCount = 0;
let vLenPos = 0;
let vStart = 0;
let vEnd = 0;
function findKey(s: number, e: number): void {
  // The common shape, as encoders write it: key (field 1) then one value (field 2), both shorter than
  // 128 bytes (one-byte lengths). The walk validated the KeyValue, so the shape is all there is to check.
  const src = buf;
  if (src[s] === 0x0a) {
    const ke = s + 2 + src[s + 1]!;
    if (src[s + 1]! < 0x80 && ke + 2 <= e && src[ke] === 0x12 && src[ke + 1]! < 0x80 && ke + 2 + src[ke + 1]! === e) {
      kStart = s + 2;
      kEnd = ke;
      kCount = 1;
      vCount = 1;
      vLenPos = ke + 1;
      vStart = ke + 2;
      vEnd = e;
      return;
    }
  }
  kStart = kEnd = -1;
  kCount = vCount = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    if (fNum === 1) {
      kCount++;
      kStart = fStart;
      kEnd = pos;
    } else if (fNum === 2) {
      vCount++;
      vLenPos = fLen;
      vStart = fStart;
      vEnd = pos;
    }
  }
}

/** One entry of a top-level attribute list: the whole field's delta. */
function attribute(tagPos: number, lenPos: number, s: number, e: number, inResource: boolean): number {
  if (!rules) {
    // Stamping only: remove the client's tenant attributes.
    findKey(s, e);
    if (kStart >= 0 && decode(kStart, kEnd) === stampKey) {
      overwrites++;
      return remove(tagPos, e);
    }
    return 0;
  }
  findKey(s, e);
  const info = kStart < 0 ? keyInfoAt(0, 0) : keyInfoAt(kStart, kEnd);
  if (inResource && stampBytes && info.key === stampKey) {
    overwrites++;
    return remove(tagPos, e);
  }
  if (!info.allowed) {
    dropped[DROP_ATTRIBUTE_KEY] = (dropped[DROP_ATTRIBUTE_KEY] ?? 0) + 1;
    return remove(tagPos, e);
  }
  return keyValue(tagPos, lenPos, s, e, info);
}

/** An entry of a kvlist or of Metric.metadata: blocked patterns and redaction, no allowlist. */
function nestedKeyValue(tagPos: number, lenPos: number, s: number, e: number): number {
  findKey(s, e);
  return keyValue(tagPos, lenPos, s, e, kStart < 0 ? keyInfoAt(0, 0) : keyInfoAt(kStart, kEnd));
}

function keyValue(tagPos: number, lenPos: number, s: number, e: number, info: KeyInfo): number {
  const r = rules!;
  const mark = ne;
  let d = 0;
  // A key holding a secret (rare: the key rules' memo says so without a scan), or several key fields.
  if (info.keySecret || kCount > 1) return keyValueRewritingKeys(tagPos, lenPos, s, e, info);
  if (info.blocked !== null) {
    blockedCount++;
    itemRedactions++;
    const action = info.blocked.action;
    if (action.type === 'drop') return remove(tagPos, e);
    // maskBlocked reads the value only for a mask that keeps a prefix or suffix: otherwise the value
    // (a bearer token, a cookie header) is not even decoded.
    const needsValue = action.type === 'mask' && action.keepPrefix + action.keepSuffix > 0;
    for (let pos = s; pos < e; ) {
      pos = next(pos, e);
      if (fNum !== 2 || fWt !== 2) continue;
      const vLen = fLen;
      const ve = pos;
      let value: string | null = null;
      for (let v = fStart; v < ve; ) {
        v = next(v, ve);
        if ((fNum as number) === 1 && fWt === 2 && needsValue) value = decode(fStart, v);
      }
      d += maskedValue(vLen, ve, r.maskBlocked(info.blocked, value));
    }
    return relength(lenPos, s, e, d, mark);
  }
  if (vCount === 1) {
    // The common shape (findKey just saw the one value): no second pass over the KeyValue.
    const vLen = vLenPos;
    const cs = vStart;
    const ce = vEnd;
    if (ce - cs >= 2 && buf[cs] === ((1 << 3) | 2)) {
      // An AnyValue whose first field is a string_value: when it is the only field, one edit will do.
      let ss = cs + 2;
      let n = buf[cs + 1]!;
      if (n >= 0x80) {
        ss = readLength(buf, cs + 1, ce);
        n = wire.lo;
      }
      // lastKeySlot: the callers looked this KeyValue's key up just before.
      if (ss + n === ce) return stringKeyValue(lenPos, s, e, vLen, ss, ce, info, lastKeySlot);
    }
    return relength(lenPos, s, e, relength(vLen, cs, ce, anyValue(cs, ce, info.key, info.sensitive), mark), mark);
  }
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fNum !== 2 || fWt !== 2) continue;
    const vLen = fLen;
    const cs = fStart;
    const m = ne;
    d += relength(vLen, cs, pos, anyValue(cs, pos, info.key, info.sensitive), m);
  }
  return relength(lenPos, s, e, d, mark);
}

/** Replaces a KeyValue's value field content (prefix at vLen, end ve) with AnyValue{string_value: masked}. */
function maskedValue(vLen: number, ve: number, masked: string): number {
  // Written straight into the scratch buffer.
  const bytes = utf8Length(masked);
  const any = 1 + varintSize(bytes) + bytes;
  reserve(any + 10);
  const off = sat;
  let at = writeVarint(scratch, sat, any);
  scratch[at++] = (1 << 3) | 2;
  at = writeVarint(scratch, at, bytes);
  at = writeText(at, masked, bytes);
  pushEdit(vLen, ve, off, at - off);
  sat = at;
  return at - off - (ve - vLen);
}

/**
 * keyValue when a key field must change: every key field is redacted as a string with no key (the
 * rule set's keySecret scan), and the values as keyValue would, field by field in wire order.
 */
function keyValueRewritingKeys(tagPos: number, lenPos: number, s: number, e: number, info: KeyInfo): number {
  const r = rules!;
  const mark = ne;
  const blocked = info.blocked;
  if (blocked !== null) {
    blockedCount++;
    itemRedactions++;
    if (blocked.action.type === 'drop') return remove(tagPos, e);
  }
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    const vLen = fLen;
    const cs = fStart;
    if (fNum === 1) d += stringField(vLen, cs, pos, undefined, false);
    else if (fNum === 2) {
      if (blocked !== null) {
        let value: string | null = null;
        for (let v = cs; v < pos; ) {
          v = next(v, pos);
          if ((fNum as number) === 1 && fWt === 2) value = decode(fStart, v);
        }
        d += maskedValue(vLen, pos, r.maskBlocked(blocked, value));
      } else {
        const m = ne;
        d += relength(vLen, cs, pos, anyValue(cs, pos, info.key, info.sensitive), m);
      }
    }
  }
  return relength(lenPos, s, e, d, mark);
}

function anyValue(s: number, e: number, key: string | undefined, sensitive: boolean): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fWt !== 2) continue;
    const lenPos = fLen;
    const cs = fStart;
    const mark = ne;
    if (fNum === 1) d += stringField(lenPos, cs, pos, key, sensitive);
    else if (fNum === 5) d += relength(lenPos, cs, pos, arrayValue(cs, pos, key, sensitive), mark);
    else if (fNum === 6) d += relength(lenPos, cs, pos, kvList(cs, pos), mark);
    else if (fNum === 7) d += bytesField(lenPos, cs, pos, key, sensitive);
  }
  return d;
}

function arrayValue(s: number, e: number, key: string | undefined, sensitive: boolean): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fNum !== 1 || fWt !== 2) continue;
    const lenPos = fLen;
    const cs = fStart;
    const mark = ne;
    d += relength(lenPos, cs, pos, anyValue(cs, pos, key, sensitive), mark);
  }
  return d;
}

function kvList(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = next(pos, e);
    if (fNum === 1 && fWt === 2) d += nestedKeyValue(fTag, fLen, fStart, pos);
  }
  return d;
}

// ---- the string being redacted ----
// A string with findings is not rebuilt as a JS string (slices and concatenations, flattened again
// when written): its replacements are kept, and writeRedacted copies the bytes between them straight
// from the request. UTF-16 offsets equal byte offsets when the string is ASCII (its UTF-8 length equals
// its length); any other string is rebuilt and written as text.
let rStart = 0;
let rEnd = 0;
let rValue = '';
let rCount = 0;
let rAscii = true;
/** The redacted string's UTF-8 length. */
let rBytes = 0;
const rRepl: string[] = [];

/**
 * Whether the string [s, e) under `key` holds secrets; when it does, prepares its redacted bytes (rBytes
 * long, see writeRedacted) and counts its findings (request and item).
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
    if (!sensitive && slot >= 0 && (key === undefined || !isVersionKey(key))) {
      memoSlot = slot;
      keep(s, e, triggers, r.id);
    }
    return false;
  }
  itemRedactions += n;
  const found = r.found;
  const cats = catCounts;
  const ascii = value.length === e - s;
  let bytes = e - s;
  let out = '';
  let pos = 0;
  for (let i = 0; i < n; i++) {
    cats[found.cat[i]!]!++;
    const rep = r.replacement(i, value);
    if (ascii) {
      rRepl[i] = rep;
      bytes += utf8Length(rep) - (found.end[i]! - found.start[i]!);
    } else {
      out += value.slice(pos, found.start[i]!) + rep;
      pos = found.end[i]!;
    }
  }
  rStart = s;
  rEnd = e;
  rCount = n;
  rAscii = ascii;
  if (ascii) {
    rBytes = bytes;
  } else {
    rValue = out + value.slice(pos);
    rBytes = Buffer.byteLength(rValue, 'utf8');
  }
  return true;
}

/** Writes the string redactString prepared into the scratch buffer at `at` (room reserved); returns the position after. */
function writeRedacted(at: number): number {
  if (!rAscii) {
    const value = rValue;
    rValue = '';
    return at + scratch.write(value, at, 'utf8');
  }
  const found = rules!.found;
  const base = rStart;
  let pos = 0;
  for (let i = 0; i < rCount; i++) {
    at = copyIn(base + pos, base + found.start[i]!, at);
    const rep = rRepl[i]!;
    at = writeText(at, rep, utf8Length(rep));
    rRepl[i] = '';
    pos = found.end[i]!;
  }
  return copyIn(base + pos, rEnd, at);
}

/** Copies input [from, to) into the scratch buffer at `at` (room reserved), four bytes a step; returns the position after. */
function copyIn(from: number, to: number, at: number): number {
  const sv = scratchView();
  const v = view;
  const words = to - 3;
  for (; from < words; from += 4, at += 4) sv.setInt32(at, v.getInt32(from, true), true);
  const src = buf;
  const dst = scratch;
  while (from < to) dst[at++] = src[from++]!;
  return at;
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
function stringField(lenPos: number, s: number, e: number, key: string | undefined, sensitive: boolean): number {
  if (!redactString(s, e, key, sensitive)) return 0;
  const bytes = rBytes;
  reserve(bytes + 10);
  const off = sat;
  sat = writeRedacted(writeVarint(scratch, off, bytes));
  pushEdit(lenPos, e, off, sat - off);
  return sat - off - (e - lenPos);
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
function bytesField(lenPos: number, s: number, e: number, key: string | undefined, sensitive: boolean): number {
  if (s === e) return 0;
  const r = rules!;
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
  itemRedactions += n;
  const found = r.found;
  let out = '';
  let pos = 0;
  for (let i = 0; i < n; i++) {
    catCounts[found.cat[i]!]!++;
    out += value.slice(pos, found.start[i]!) + r.replacement(i, value);
    pos = found.end[i]!;
  }
  const bytes = textAsBytes(out + value.slice(pos), utf8);
  reserve(bytes.length + 10);
  const off = sat;
  const at = writeVarint(scratch, off, bytes.length);
  scratch.set(bytes, at);
  sat = at + bytes.length;
  pushEdit(lenPos, e, off, sat - off);
  return sat - off - (e - lenPos);
}

/**
 * A KeyValue [s, e) (length prefix at lenPos) whose one value (length prefix at vLen) is an AnyValue
 * holding only a string_value [ss, ce): the common attribute. When the string changes, the KeyValue is
 * rebuilt as one edit (its prefix, what precedes the value, the value's prefix, the string's field),
 * instead of three nested edits collapsed one into the next (each copying the new string again).
 */
function stringKeyValue(lenPos: number, s: number, e: number, vLen: number, ss: number, ce: number, info: KeyInfo, keySlot: number): number {
  if (!redactString(ss, ce, info.key, info.sensitive, keySlot)) return 0;
  const bytes = rBytes;
  const anyLen = 1 + varintSize(bytes) + bytes;
  const kvLen = vLen - s + varintSize(anyLen) + anyLen + (e - ce);
  reserve(kvLen + 10);
  const dst = scratch;
  const off = sat;
  let at = writeVarint(dst, off, kvLen);
  // The key and whatever else precedes the value (including the value's tag), then after it.
  at = copyIn(s, vLen, at);
  at = writeVarint(dst, at, anyLen);
  dst[at++] = (1 << 3) | 2;
  at = copyIn(ce, e, writeRedacted(writeVarint(dst, at, bytes)));
  sat = at;
  pushEdit(lenPos, e, off, at - off);
  return at - off - (e - lenPos);
}
