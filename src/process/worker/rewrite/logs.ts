// Walking logs: a log record's body, strings and attributes.
import { anyValue, attribute } from './attributes.js';
import { editCount, relength } from './edits.js';
import { fieldLenPos, fieldNumber, fieldStart, fieldTagPos, fieldWireType, nextField } from './fields.js';
import { summarize } from './items.js';
import { stringField } from './redact-string.js';
import { tally } from './tally.js';

export function logRecord(s: number, e: number): number {
  tally.itemRedactions = 0;
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    const lenPos = fieldLenPos;
    const cs = fieldStart;
    const mark = editCount;
    if (fieldNumber === 5) d += relength(lenPos, cs, pos, anyValue(cs, pos, undefined, false), mark);
    else if (fieldNumber === 6) d += attribute(fieldTagPos, lenPos, cs, pos, false);
    else if (fieldNumber === 3 || fieldNumber === 12) d += stringField(lenPos, cs, pos, undefined, false); // severity_text, event_name
  }
  return d + summarize(e, 6);
}
