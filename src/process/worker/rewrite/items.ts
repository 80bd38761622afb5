// Items (spans, data points, log records): counting those removed with a metric or a resource, and
// the summary attribute appended to an item with redactions.
import { FIELD_INFO, FIELD_SLOTS, INFO_CHILD_SHIFT, INFO_ITEM, INFO_KIND_MASK, Kind, MSG } from '../wire-schema.js';
import { insert } from './edits.js';
import { keyValueInt, lenField } from './encode.js';
import { fieldNumber, fieldStart, fieldWireType, nextField } from './fields.js';
import { rules } from './input.js';
import { tally } from './tally.js';

const ITEM_PATH = new Set(
  ['ResourceSpans', 'ResourceMetrics', 'ResourceLogs', 'ScopeSpans', 'ScopeMetrics', 'ScopeLogs', 'Metric', 'Gauge', 'Sum', 'Histogram', 'ExponentialHistogram', 'Summary'].map(
    (n) => MSG[n]!,
  ),
);

/** The items inside message `msg` at input [s, e). */
export function countItems(msg: number, s: number, e: number): number {
  let n = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2 || fieldNumber >= FIELD_SLOTS) continue;
    const info = FIELD_INFO[msg * FIELD_SLOTS + fieldNumber]!;
    if ((info & INFO_KIND_MASK) !== Kind.MESSAGE) continue;
    if ((info & INFO_ITEM) !== 0) n++;
    else {
      const child = info >>> INFO_CHILD_SHIFT;
      if (ITEM_PATH.has(child)) {
        const cs = fieldStart;
        n += countItems(child, cs, pos);
      }
    }
  }
  return n;
}

/** Appends the summary attribute (field `field`) to an item ending at e with redactions. */
export function summarize(e: number, field: number): number {
  const key = rules!.summaryAttribute;
  if (key === null || tally.itemRedactions === 0) return 0;
  return insert(e, lenField(field, keyValueInt(key, tally.itemRedactions)));
}
