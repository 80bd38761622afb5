// The reference path's policy: the same rules as the fast path's rewrite (../worker/rewrite.ts, whose
// header states the semantics), applied the plain way to a request decoded by protobufjs (camelCase
// fields). What happens to one string or one key comes from the same rule set
// (../worker/policy-rules.ts); what this file checks, by being compared with the wire rewrite in the
// differential test, is that every string-bearing place is reached and that drops, masks, stamps and
// summary attributes land where they should. The places are listed in docs/reference/redaction-coverage.md.
import type { Signal } from '../../signals.js';
import { BLOCKED_KEY, DROP_ATTRIBUTE_KEY, DROP_METRIC_NAME, DROP_SERVICE_NAME, SCOPE_VERSION_KEY, type Counts, type KeyInfo, type RuleSet } from '../worker/policy-rules.js';
import { countItems } from './reference.js';

type Obj = Record<string, unknown>;

export interface ReferencePolicyOptions {
  /** null: no policy, only stamping. */
  rules: RuleSet | null;
  tenant: string;
  tenantAttribute?: string | undefined;
}

export interface ReferencePolicyResult {
  redactions: Counts;
  dropped: Counts;
  droppedItems: number;
  tenantOverwrites: number;
}

const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const ENTRY: Record<Signal, [string, string, string]> = {
  traces: ['resourceSpans', 'scopeSpans', 'spans'],
  metrics: ['resourceMetrics', 'scopeMetrics', 'metrics'],
  logs: ['resourceLogs', 'scopeLogs', 'logRecords'],
};
const DATA_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];

/** Applies the rules and the stamp to a decoded request, in place. */
export function applyPolicy(signal: Signal, request: Obj, options: ReferencePolicyOptions): ReferencePolicyResult {
  const { rules, tenant, tenantAttribute } = options;
  const out: ReferencePolicyResult = { redactions: {}, dropped: {}, droppedItems: 0, tenantOverwrites: 0 };
  const bump = (counts: Counts, k: string, n = 1): void => {
    counts[k] = (counts[k] ?? 0) + n;
  };
  let itemRedactions = 0;

  const hasString = (av: Obj): boolean => Object.hasOwn(av, 'stringValue') && typeof av.stringValue === 'string';

  const redactString = (value: unknown, key: string | undefined): unknown => {
    if (typeof value !== 'string' || value.length === 0) return value;
    const r = rules!.redact(value, key, out.redactions);
    itemRedactions += r.count;
    return r.value;
  };

  const redactBytes = (value: unknown, key: string | undefined): unknown => {
    if (!(value instanceof Uint8Array) || value.length === 0) return value;
    const r = rules!.redactBytes(value, key, out.redactions);
    itemRedactions += r.count;
    return r.value;
  };

  /** Applies blocked patterns and redaction to one KeyValue; false: drop it. */
  const keyValue = (kv: Obj, info: KeyInfo): boolean => {
    const value = kv.value as Obj | null | undefined;
    if (info.blocked !== null) {
      bump(out.redactions, BLOCKED_KEY);
      itemRedactions++;
      if (info.blocked.action.type === 'drop') return false;
    }
    // The key's own text, redacted like a string with no key; the value keeps the rules of the
    // client's key (its sensitivity, a blocked pattern), decided above on the key as sent.
    if (typeof kv.key === 'string') kv.key = redactString(kv.key, undefined);
    if (info.blocked !== null) {
      if (value) kv.value = { stringValue: rules!.maskBlocked(info.blocked, hasString(value) ? (value.stringValue as string) : null) };
      return true;
    }
    // Values nested in arrays are redacted under the innermost key; kvlist entries under their own.
    if (value) anyValueUnder(value, info.key);
    return true;
  };

  const anyValueUnder = (av: Obj, key: string | undefined): void => {
    if (hasString(av)) av.stringValue = redactString(av.stringValue, key);
    if (Object.hasOwn(av, 'bytesValue')) av.bytesValue = redactBytes(av.bytesValue, key);
    const array = av.arrayValue as Obj | null | undefined;
    if (array) for (const v of list(array.values)) anyValueUnder(v, key);
    const kvlist = av.kvlistValue as Obj | null | undefined;
    if (kvlist) kvlist.values = list(kvlist.values).filter((x) => keyValue(x, rules!.keyInfo(signal, String(x.key ?? ''))));
  };

  /** A top-level attribute list: allowlist, stamp removal (resources), then keyValue. */
  const attributes = (attrs: unknown, inResource: boolean): Obj[] => {
    const kept: Obj[] = [];
    for (const kv of list(attrs)) {
      const key = String(kv.key ?? '');
      if (inResource && tenantAttribute !== undefined && key === tenantAttribute) {
        out.tenantOverwrites++;
        continue;
      }
      if (!rules) {
        kept.push(kv);
        continue;
      }
      const info = rules.keyInfo(signal, key);
      if (!info.allowed) {
        bump(out.dropped, DROP_ATTRIBUTE_KEY);
        continue;
      }
      if (keyValue(kv, info)) kept.push(kv);
    }
    return kept;
  };

  /** Resource.entity_refs: every string field. */
  const entityRef = (ref: Obj): void => {
    ref.schemaUrl = redactString(ref.schemaUrl, undefined);
    ref.type = redactString(ref.type, undefined);
    if (Array.isArray(ref.idKeys)) ref.idKeys = ref.idKeys.map((k) => redactString(k, undefined));
    if (Array.isArray(ref.descriptionKeys)) ref.descriptionKeys = ref.descriptionKeys.map((k) => redactString(k, undefined));
  };

  const summarize = (attrs: Obj[]): void => {
    const key = rules!.summaryAttribute;
    if (key !== null && itemRedactions > 0) attrs.push({ key, value: { intValue: itemRedactions } });
  };

  const serviceName = (resource: Obj | null | undefined): string => {
    let name = '';
    for (const kv of list(resource?.attributes)) {
      if (kv.key !== 'service.name') continue;
      const v = kv.value as Obj | null | undefined;
      name = v && hasString(v) ? (v.stringValue as string) : '';
    }
    return name;
  };

  const [entriesKey, scopesKey, itemsKey] = ENTRY[signal];
  const kept: Obj[] = [];
  for (const entry of list(request[entriesKey])) {
    if (rules?.serviceAllowed && !rules.serviceAllowed(serviceName(entry.resource as Obj | null))) {
      const n = countItems(signal, { [entriesKey]: [entry] });
      out.droppedItems += n;
      bump(out.dropped, DROP_SERVICE_NAME, n);
      continue;
    }
    kept.push(entry);
    let resource = entry.resource as Obj | null | undefined;
    if (!resource && tenantAttribute !== undefined) resource = entry.resource = { attributes: [] };
    if (resource) {
      const attrs = attributes(resource.attributes, true);
      if (tenantAttribute !== undefined) attrs.push({ key: tenantAttribute, value: { stringValue: tenant } });
      resource.attributes = attrs;
      if (rules) for (const ref of list(resource.entityRefs)) entityRef(ref);
    }
    if (!rules) continue;
    entry.schemaUrl = redactString(entry.schemaUrl, undefined);
    for (const sc of list(entry[scopesKey])) {
      sc.schemaUrl = redactString(sc.schemaUrl, undefined);
      const scope = sc.scope as Obj | null | undefined;
      if (scope) {
        scope.name = redactString(scope.name, undefined);
        // A version key: a four-part version is no IPv4 address.
        scope.version = redactString(scope.version, SCOPE_VERSION_KEY);
        scope.attributes = attributes(scope.attributes, false);
      }
      if (signal === 'metrics') sc[itemsKey] = metrics(list(sc[itemsKey]));
      else for (const item of list(sc[itemsKey])) (signal === 'traces' ? span : logRecord)(item);
    }
  }
  request[entriesKey] = kept;
  return out;

  function span(s: Obj): void {
    itemRedactions = 0;
    s.name = redactString(s.name, undefined);
    s.traceState = redactString(s.traceState, undefined);
    s.attributes = attributes(s.attributes, false);
    for (const ev of list(s.events)) {
      ev.name = redactString(ev.name, undefined);
      ev.attributes = attributes(ev.attributes, false);
    }
    for (const link of list(s.links)) {
      link.traceState = redactString(link.traceState, undefined);
      link.attributes = attributes(link.attributes, false);
    }
    const status = s.status as Obj | null | undefined;
    if (status) status.message = redactString(status.message, undefined);
    summarize(s.attributes as Obj[]);
  }

  function logRecord(r: Obj): void {
    itemRedactions = 0;
    const body = r.body as Obj | null | undefined;
    if (body) anyValueUnder(body, undefined);
    r.severityText = redactString(r.severityText, undefined);
    r.eventName = redactString(r.eventName, undefined);
    r.attributes = attributes(r.attributes, false);
    summarize(r.attributes as Obj[]);
  }

  function metrics(ms: Obj[]): Obj[] {
    const keptMetrics: Obj[] = [];
    for (const m of ms) {
      if (rules!.metricAllowed && !rules!.metricAllowed(String(m.name ?? ''))) {
        let n = 0;
        for (const kind of DATA_KINDS) n += list((m[kind] as Obj | null | undefined)?.dataPoints).length;
        out.droppedItems += n;
        bump(out.dropped, DROP_METRIC_NAME, n);
        continue;
      }
      keptMetrics.push(m);
      // After the allowlist, which judges the name the client sent.
      m.name = redactString(m.name, undefined);
      m.description = redactString(m.description, undefined);
      m.unit = redactString(m.unit, undefined);
      for (const kind of DATA_KINDS) {
        const data = m[kind] as Obj | null | undefined;
        if (!data) continue;
        for (const dp of list(data.dataPoints)) {
          itemRedactions = 0;
          dp.attributes = attributes(dp.attributes, false);
          for (const ex of list(dp.exemplars)) ex.filteredAttributes = attributes(ex.filteredAttributes, false);
          summarize(dp.attributes as Obj[]);
        }
      }
      m.metadata = list(m.metadata).filter((kv) => keyValue(kv, rules!.keyInfo(signal, String(kv.key ?? ''))));
    }
    return keptMetrics;
  }
}
