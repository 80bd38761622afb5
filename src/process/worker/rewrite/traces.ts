// Walking traces: a span's strings and attributes, its events, links and status.
import { attribute } from './attributes.js';
import { editCount, relength } from './edits.js';
import { fieldLenPos, fieldNumber, fieldStart, fieldTagPos, fieldWireType, nextField } from './fields.js';
import { summarize } from './items.js';
import { stringField } from './redact-string.js';
import { tally } from './tally.js';

export function span(s: number, e: number): number {
  tally.itemRedactions = 0;
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    const lenPos = fieldLenPos;
    const cs = fieldStart;
    const mark = editCount;
    switch (fieldNumber) {
      case 3: // trace_state
      case 5: // name
        d += stringField(lenPos, cs, pos, undefined, false);
        break;
      case 9:
        d += attribute(fieldTagPos, lenPos, cs, pos, false);
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
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    if (fieldNumber === 2) d += stringField(fieldLenPos, fieldStart, pos, undefined, false);
    else if (fieldNumber === 3) d += attribute(fieldTagPos, fieldLenPos, fieldStart, pos, false);
  }
  return d;
}

function spanLink(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    if (fieldNumber === 4) d += attribute(fieldTagPos, fieldLenPos, fieldStart, pos, false);
    else if (fieldNumber === 3) d += stringField(fieldLenPos, fieldStart, pos, undefined, false); // trace_state
  }
  return d;
}

function status(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldNumber === 2 && fieldWireType === 2) d += stringField(fieldLenPos, fieldStart, pos, undefined, false);
  }
  return d;
}
