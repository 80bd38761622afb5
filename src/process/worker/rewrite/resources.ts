// Walking the request's top level: resource entries (ResourceSpans/Metrics/Logs), the service
// allowlist, resources and the tenant stamp, scopes, and each scope's items handed to the signal's
// walker (traces.ts, logs.ts, metrics.ts).
import type { Signal } from '../../../signals.js';
import { DROP_SERVICE_NAME, SCOPE_VERSION_KEY } from '../policy-rules.js';
import { MSG } from '../wire-schema.js';
import { attribute } from './attributes.js';
import { editCount, insert, relength, remove } from './edits.js';
import { lenField } from './encode.js';
import { fieldLenPos, fieldNumber, fieldStart, fieldTagPos, fieldWireType, nextField } from './fields.js';
import { bytesEqual, decode, rules, signal, stampKeyValue } from './input.js';
import { countItems } from './items.js';
import { logRecord } from './logs.js';
import { metricField } from './metrics.js';
import { stringField } from './redact-string.js';
import { tally } from './tally.js';
import { span } from './traces.js';

const SERVICE_NAME = new TextEncoder().encode('service.name');
const RESOURCE_ENTRY: Record<Signal, number> = { traces: MSG['ResourceSpans']!, metrics: MSG['ResourceMetrics']!, logs: MSG['ResourceLogs']! };

/** The request's content [s, e). */
export function request(s: number, e: number): void {
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    const tagPos = fieldTagPos;
    if (fieldNumber !== 1 || fieldWireType !== 2) {
      // Foreign top-level fields are stripped so that outputs concatenate (process-request.ts).
      remove(tagPos, pos);
      continue;
    }
    const lenPos = fieldLenPos;
    const cs = fieldStart;
    const ce = pos;
    if (rules?.serviceAllowed && !rules.serviceAllowed(serviceName(cs, ce))) {
      const n = countItems(RESOURCE_ENTRY[signal], cs, ce);
      tally.droppedItems += n;
      tally.dropped[DROP_SERVICE_NAME] = (tally.dropped[DROP_SERVICE_NAME] ?? 0) + n;
      remove(tagPos, ce);
      continue;
    }
    const mark = editCount;
    relength(lenPos, cs, ce, resourceEntry(cs, ce), mark);
  }
}

/** The last service.name attribute's string value in the entry's resource(s), '' when none. */
function serviceName(s: number, e: number): string {
  let name = '';
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldNumber !== 1 || fieldWireType !== 2) continue;
    const re = pos;
    for (let p = fieldStart; p < re; ) {
      p = nextField(p, re);
      if (fieldNumber !== 1 || fieldWireType !== 2) continue;
      const kvEnd = p;
      let isService = false;
      let value: string | null = null;
      for (let q = fieldStart; q < kvEnd; ) {
        q = nextField(q, kvEnd);
        if (fieldWireType !== 2) continue;
        if (fieldNumber === 1) isService = bytesEqual(fieldStart, q, SERVICE_NAME);
        else if (fieldNumber === 2) {
          const ve = q;
          for (let v = fieldStart; v < ve; ) {
            v = nextField(v, ve);
            if ((fieldNumber as number) === 1 && fieldWireType === 2) value = decode(fieldStart, v);
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
  if (stampKeyValue) {
    for (let pos = s; pos < e; ) {
      pos = nextField(pos, e);
      if (fieldNumber === 1 && fieldWireType === 2) lastResource = fieldTagPos;
    }
  }
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    const tagPos = fieldTagPos;
    const lenPos = fieldLenPos;
    const cs = fieldStart;
    const mark = editCount;
    if (fieldNumber === 1) d += relength(lenPos, cs, pos, resource(cs, pos, tagPos === lastResource), mark);
    else if (fieldNumber === 2) d += relength(lenPos, cs, pos, scope(cs, pos), mark);
    else if (fieldNumber === 3 && rules) d += stringField(lenPos, cs, pos, undefined, false); // schema_url
  }
  // No resource at all: the stamp needs one.
  if (stampKeyValue && lastResource < 0) d += insert(e, lenField(1, lenField(1, stampKeyValue)));
  return d;
}

function resource(s: number, e: number, stamp: boolean): number {
  let d = 0;
  if (rules || stampKeyValue) {
    for (let pos = s; pos < e; ) {
      pos = nextField(pos, e);
      if (fieldWireType !== 2) continue;
      if (fieldNumber === 1) d += attribute(fieldTagPos, fieldLenPos, fieldStart, pos, true);
      else if (fieldNumber === 3 && rules) {
        const lenPos = fieldLenPos;
        const cs = fieldStart;
        const mark = editCount;
        d += relength(lenPos, cs, pos, entityRef(cs, pos), mark);
      }
    }
  }
  if (stamp && stampKeyValue) d += insert(e, lenField(1, stampKeyValue));
  return d;
}

/** Resource.entity_refs: schema_url, type, id_keys and description_keys are all client strings. */
function entityRef(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType === 2 && fieldNumber >= 1 && fieldNumber <= 4) d += stringField(fieldLenPos, fieldStart, pos, undefined, false);
  }
  return d;
}

/** ScopeSpans / ScopeMetrics / ScopeLogs. */
function scope(s: number, e: number): number {
  let d = 0;
  for (let pos = s; pos < e; ) {
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    const tagPos = fieldTagPos;
    const lenPos = fieldLenPos;
    const cs = fieldStart;
    const mark = editCount;
    if (fieldNumber === 1) {
      if (rules) d += relength(lenPos, cs, pos, instrumentationScope(cs, pos), mark);
    } else if (fieldNumber === 3) {
      if (rules) d += stringField(lenPos, cs, pos, undefined, false); // schema_url
    } else if (fieldNumber === 2 && rules) {
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
    pos = nextField(pos, e);
    if (fieldWireType !== 2) continue;
    if (fieldNumber === 3) d += attribute(fieldTagPos, fieldLenPos, fieldStart, pos, false);
    // name; version, under a version key (a four-part version is no IPv4 address)
    else if (fieldNumber === 1) d += stringField(fieldLenPos, fieldStart, pos, undefined, false);
    else if (fieldNumber === 2) d += stringField(fieldLenPos, fieldStart, pos, SCOPE_VERSION_KEY, false);
  }
  return d;
}
