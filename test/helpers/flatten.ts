// Flattens decoded OTLP requests into a sorted list of {resource, scope, item} records, so that two
// sides can be compared field by field whatever the batching (the gateway may merge or split
// requests; the content must be the same).
import { decodeForComparison } from '../../src/process/reference/reference.js';
import type { Signal } from '../../src/signals.js';

const KEYS: Record<Signal, [string, string, string]> = {
  traces: ['resourceSpans', 'scopeSpans', 'spans'],
  metrics: ['resourceMetrics', 'scopeMetrics', 'metrics'],
  logs: ['resourceLogs', 'scopeLogs', 'logRecords'],
};

type Obj = Record<string, unknown>;
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

export interface FlatItem {
  resource: unknown;
  resourceSchemaUrl: unknown;
  scope: unknown;
  scopeSchemaUrl: unknown;
  item: unknown;
}

export function flattenRequests(signal: Signal, bodies: Uint8Array[]): FlatItem[] {
  const [rKey, sKey, iKey] = KEYS[signal];
  const out: FlatItem[] = [];
  for (const body of bodies) {
    const req = decodeForComparison(signal, body) as Obj;
    for (const r of list(req[rKey])) {
      for (const s of list(r[sKey])) {
        for (const item of list(s[iKey])) {
          out.push({ resource: r.resource, resourceSchemaUrl: r.schemaUrl, scope: s.scope, scopeSchemaUrl: s.schemaUrl, item });
        }
      }
    }
  }
  return out.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

type Attr = { key?: unknown; value?: unknown };
const TENANT_KEY = 'tenant.id';

function withResourceAttributes(items: FlatItem[], edit: (attrs: Attr[]) => Attr[]): FlatItem[] {
  return items.map((i) => {
    const resource = (i.resource ?? {}) as Obj;
    return { ...i, resource: { ...resource, attributes: edit(list(resource.attributes) as Attr[]) } };
  });
}

/** What the gateway makes of `items` for `tenant`: its stamp replaces any client value, last in the list. */
export function stampTenant(items: FlatItem[], tenant: string, key = TENANT_KEY): FlatItem[] {
  return withResourceAttributes(items, (attrs) => [...attrs.filter((a) => a.key !== key), { key, value: { stringValue: tenant } }]);
}

/** Moves the tenant attribute to the end (where stampTenant puts it), wherever the gateway wrote it. */
export function tenantLast(items: FlatItem[], key = TENANT_KEY): FlatItem[] {
  return withResourceAttributes(items, (attrs) => [...attrs.filter((a) => a.key !== key), ...attrs.filter((a) => a.key === key)]);
}
