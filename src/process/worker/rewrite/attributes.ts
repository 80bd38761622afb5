// Attributes and values: attribute lists' entries (allowlist, tenant attribute, blocked keys,
// redaction), KeyValues of kvlists and of Metric.metadata, AnyValues at any depth.
import { DROP_ATTRIBUTE_KEY, type KeyInfo } from '../policy-rules.js';
import { readLength, wire } from '../../wire/wire-reader.js';
import { editCount, relength, remove } from './edits.js';
import { fieldLenPos, fieldNumber, fieldStart, fieldTagPos, fieldWireType, nextField } from './fields.js';
import { decode, input, rules, stampKey, stampKeyValue } from './input.js';
import { keyInfoAt, lastKeySlot } from './key-cache.js';
import { bytesField, maskedValue, stringField, stringKeyValue } from './redact-string.js';
import { tally } from './tally.js';

// The KeyValue findKey() read last (registers: it runs for every attribute; an object per attribute
// would allocate on the hot path).
/** Where the last key of the KeyValue is (-1 when it has none). */
let keyStart = -1;
let keyEnd = -1;
/** How many key fields the KeyValue has (protobuf keeps the last; the others are bytes on the wire all the same). */
let keyCount = 0;
/** The KeyValue's value fields: how many, and where the last one's prefix and content are. */
let valueCount = 0;
let valueLenPos = 0;
let valueStart = 0;
let valueEnd = 0;

function findKey(s: number, e: number): void {
  // The common shape, as encoders write it: key (field 1) then one value (field 2), both shorter than
  // 128 bytes (one-byte lengths). The walk validated the KeyValue, so the shape is all there is to check.
  const src = input;
  if (src[s] === 0x0a) {
    const ke = s + 2 + src[s + 1]!;
    if (src[s + 1]! < 0x80 && ke + 2 <= e && src[ke] === 0x12 && src[ke + 1]! < 0x80 && ke + 2 + src[ke + 1]! === e) {
      keyStart = s + 2;
      keyEnd = ke;
      keyCount = 1;
      valueCount = 1;
      valueLenPos = ke + 1;
      valueStart = ke + 2;
      valueEnd = e;
      return;
    }
  }
  keyStart = keyEnd = -1;
  keyCount = valueCount = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    if (fieldNumber === 1) {
      keyCount++;
      keyStart = fieldStart;
      keyEnd = pos;
    } else if (fieldNumber === 2) {
      valueCount++;
      valueLenPos = fieldLenPos;
      valueStart = fieldStart;
      valueEnd = pos;
    }
  }
}

/** One entry of a top-level attribute list: the whole field's delta. */
export function attribute(tagPos: number, lenPos: number, s: number, e: number, inResource: boolean): number {
  if (!rules) {
    // Stamping only: remove the client's tenant attributes.
    findKey(s, e);
    if (keyStart >= 0 && decode(keyStart, keyEnd) === stampKey) {
      tally.tenantOverwrites++;
      return remove(tagPos, e);
    }
    return 0;
  }
  findKey(s, e);
  const info = keyStart < 0 ? keyInfoAt(0, 0) : keyInfoAt(keyStart, keyEnd);
  if (inResource && stampKeyValue && info.key === stampKey) {
    tally.tenantOverwrites++;
    return remove(tagPos, e);
  }
  if (!info.allowed) {
    tally.dropped[DROP_ATTRIBUTE_KEY] = (tally.dropped[DROP_ATTRIBUTE_KEY] ?? 0) + 1;
    return remove(tagPos, e);
  }
  return keyValue(tagPos, lenPos, s, e, info);
}

/** An entry of a kvlist or of Metric.metadata: blocked patterns and redaction, no allowlist. */
export function nestedKeyValue(tagPos: number, lenPos: number, s: number, e: number): number {
  findKey(s, e);
  return keyValue(tagPos, lenPos, s, e, keyStart < 0 ? keyInfoAt(0, 0) : keyInfoAt(keyStart, keyEnd));
}

function keyValue(tagPos: number, lenPos: number, s: number, e: number, info: KeyInfo): number {
  const r = rules!;
  const mark = editCount;
  let d = 0;
  // A key holding a secret (rare: the key rules' memo says so without a scan), or several key fields.
  if (info.keySecret || keyCount > 1) return keyValueRewritingKeys(tagPos, lenPos, s, e, info);
  if (info.blocked !== null) {
    tally.blockedKeys++;
    tally.itemRedactions++;
    const action = info.blocked.action;
    if (action.type === 'drop') return remove(tagPos, e);
    // maskBlocked reads the value only for a mask that keeps a prefix or suffix: otherwise the value
    // (a bearer token, a cookie header) is not even decoded.
    const needsValue = action.type === 'mask' && action.keepPrefix + action.keepSuffix > 0;
    for (let pos = s; pos < e; ) {
      pos = nextField(pos, e);
      if (fieldNumber !== 2 || fieldWireType !== 2) continue;
      const vLen = fieldLenPos;
      const ve = pos;
      let value: string | null = null;
      for (let v = fieldStart; v < ve; ) {
        v = nextField(v, ve);
        if ((fieldNumber as number) === 1 && fieldWireType === 2 && needsValue) value = decode(fieldStart, v);
      }
      d += maskedValue(vLen, ve, r.maskBlocked(info.blocked, value));
    }
    return relength(lenPos, s, e, d, mark);
  }
  if (valueCount === 1) {
    // The common shape (findKey just saw the one value): no second pass over the KeyValue.
    const vLen = valueLenPos;
    const cs = valueStart;
    const ce = valueEnd;
    const buf = input;
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
    pos = nextField(pos, e);
    if (fieldNumber !== 2 || fieldWireType !== 2) continue;
    const vLen = fieldLenPos;
    const cs = fieldStart;
    const m = editCount;
    d += relength(vLen, cs, pos, anyValue(cs, pos, info.key, info.sensitive), m);
  }
  return relength(lenPos, s, e, d, mark);
}

/**
 * keyValue when a key field must change: every key field is redacted as a string with no key (the
 * rule set's keySecret scan), and the values as keyValue would, field by field in wire order.
 */
function keyValueRewritingKeys(tagPos: number, lenPos: number, s: number, e: number, info: KeyInfo): number {
  const r = rules!;
  const mark = editCount;
  const blocked = info.blocked;
  if (blocked !== null) {
    tally.blockedKeys++;
    tally.itemRedactions++;
    if (blocked.action.type === 'drop') return remove(tagPos, e);
  }
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    const vLen = fieldLenPos;
    const cs = fieldStart;
    if (fieldNumber === 1) d += stringField(vLen, cs, pos, undefined, false);
    else if (fieldNumber === 2) {
      if (blocked !== null) {
        let value: string | null = null;
        for (let v = cs; v < pos; ) {
          v = nextField(v, pos);
          if ((fieldNumber as number) === 1 && fieldWireType === 2) value = decode(fieldStart, v);
        }
        d += maskedValue(vLen, pos, r.maskBlocked(blocked, value));
      } else {
        const m = editCount;
        d += relength(vLen, cs, pos, anyValue(cs, pos, info.key, info.sensitive), m);
      }
    }
  }
  return relength(lenPos, s, e, d, mark);
}

export function anyValue(s: number, e: number, key: string | undefined, sensitive: boolean): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    const lenPos = fieldLenPos;
    const cs = fieldStart;
    const mark = editCount;
    if (fieldNumber === 1) d += stringField(lenPos, cs, pos, key, sensitive);
    else if (fieldNumber === 5) d += relength(lenPos, cs, pos, arrayValue(cs, pos, key, sensitive), mark);
    else if (fieldNumber === 6) d += relength(lenPos, cs, pos, kvList(cs, pos), mark);
    else if (fieldNumber === 7) d += bytesField(lenPos, cs, pos, key, sensitive);
  }
  return d;
}

function arrayValue(s: number, e: number, key: string | undefined, sensitive: boolean): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldNumber !== 1 || fieldWireType !== 2) continue;
    const lenPos = fieldLenPos;
    const cs = fieldStart;
    const mark = editCount;
    d += relength(lenPos, cs, pos, anyValue(cs, pos, key, sensitive), mark);
  }
  return d;
}

function kvList(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldNumber === 1 && fieldWireType === 2) d += nestedKeyValue(fieldTagPos, fieldLenPos, fieldStart, pos);
  }
  return d;
}
