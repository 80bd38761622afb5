// Field scanning: nextField() reads one field of the request and leaves where it is in the registers
// below. Module-level registers rather than a returned object: nextField() runs for every field the
// pass visits, and an object per field would allocate on the hot path (as wire-reader.ts's `wire`).
import { readLength, readTag, skipVarint, wire } from '../../wire/wire-reader.js';
import { input } from './input.js';

/** Where the field's tag starts. */
export let fieldTagPos = 0;
/** Where a LEN field's length prefix starts. */
export let fieldLenPos = 0;
/** Where a LEN field's content starts. */
export let fieldStart = 0;
export let fieldNumber = 0;
export let fieldWireType = 0;

/** Reads the field at pos and returns where the next one starts. */
export function nextField(pos: number, end: number): number {
  const buf = input;
  fieldTagPos = pos;
  const b = buf[pos]!;
  if (b < 0x80) {
    wire.tag = b;
    pos++;
  } else pos = readTag(buf, pos, end);
  fieldNumber = wire.tag >>> 3;
  fieldWireType = wire.tag & 7;
  if (fieldWireType !== 2) return skipValue(pos, fieldWireType, end);
  fieldLenPos = pos;
  const l = buf[pos]!;
  if (l < 0x80) {
    fieldStart = pos + 1;
    return fieldStart + l;
  }
  pos = readLength(buf, pos, end);
  fieldStart = pos;
  return pos + wire.lo;
}

/** The position after a non-LEN field's value starting at pos. */
function skipValue(pos: number, wt: number, end: number): number {
  switch (wt) {
    case 0:
      return skipVarint(input, pos, end);
    case 1:
      return pos + 8;
    case 5:
      return pos + 4;
    default:
      // The walk refused every other wire type.
      throw new Error(`rewrite: wire type ${wt} at ${pos}`);
  }
}
