// Walking metrics: the metric allowlist, a metric's strings and metadata, its data points and exemplars.
import { DROP_METRIC_NAME } from '../policy-rules.js';
import { MSG } from '../wire-schema.js';
import { attribute, nestedKeyValue } from './attributes.js';
import { editCount, relength, remove } from './edits.js';
import { fieldLenPos, fieldNumber, fieldStart, fieldTagPos, fieldWireType, nextField } from './fields.js';
import { decode, rules } from './input.js';
import { countItems, summarize } from './items.js';
import { stringField } from './redact-string.js';
import { tally } from './tally.js';

const DATA_KINDS: Record<number, { attrs: number; exemplars: number }> = {
  5: { attrs: 7, exemplars: 5 }, // gauge: NumberDataPoint
  7: { attrs: 7, exemplars: 5 }, // sum: NumberDataPoint
  9: { attrs: 9, exemplars: 8 }, // histogram: HistogramDataPoint
  10: { attrs: 1, exemplars: 11 }, // exponential_histogram: ExponentialHistogramDataPoint
  11: { attrs: 7, exemplars: 0 }, // summary: SummaryDataPoint (no exemplars)
};

/** A scope's `metrics` field (tag at tagPos, prefix at lenPos, content [s, e)): dropped by the allowlist, or walked. */
export function metricField(tagPos: number, lenPos: number, s: number, e: number): number {
  const allowed = rules!.metricAllowed;
  if (allowed) {
    let name = '';
    for (let pos = s; pos < e; ) {
      pos = nextField(pos, e);
      if (fieldNumber === 1 && fieldWireType === 2) name = decode(fieldStart, pos);
    }
    if (!allowed(name)) {
      const n = countItems(MSG['Metric']!, s, e);
      tally.droppedItems += n;
      tally.dropped[DROP_METRIC_NAME] = (tally.dropped[DROP_METRIC_NAME] ?? 0) + n;
      return remove(tagPos, e);
    }
  }
  const mark = editCount;
  return relength(lenPos, s, e, metric(s, e), mark);
}

function metric(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    const lenPos = fieldLenPos;
    const cs = fieldStart;
    const mark = editCount;
    const kind = DATA_KINDS[fieldNumber];
    if (kind) d += relength(lenPos, cs, pos, dataContainer(cs, pos, kind.attrs, kind.exemplars), mark);
    else if (fieldNumber === 12) d += nestedKeyValue(fieldTagPos, lenPos, cs, pos);
    // name (after the allowlist saw the client's name), description, unit
    else if (fieldNumber >= 1 && fieldNumber <= 3) d += stringField(lenPos, cs, pos, undefined, false);
  }
  return d;
}

function dataContainer(s: number, e: number, attrs: number, exemplars: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldNumber !== 1 || fieldWireType !== 2) continue;
    const lenPos = fieldLenPos;
    const cs = fieldStart;
    const mark = editCount;
    d += relength(lenPos, cs, pos, dataPoint(cs, pos, attrs, exemplars), mark);
  }
  return d;
}

function dataPoint(s: number, e: number, attrs: number, exemplars: number): number {
  tally.itemRedactions = 0;
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    if (fieldNumber === attrs) d += attribute(fieldTagPos, fieldLenPos, fieldStart, pos, false);
    else if (fieldNumber === exemplars) {
      const lenPos = fieldLenPos;
      const cs = fieldStart;
      const mark = editCount;
      d += relength(lenPos, cs, pos, exemplar(cs, pos), mark);
    }
  }
  return d + summarize(e, attrs);
}

function exemplar(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldNumber === 7 && fieldWireType === 2) d += attribute(fieldTagPos, fieldLenPos, fieldStart, pos, false);
  }
  return d;
}
