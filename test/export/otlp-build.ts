// Minimal OTLP requests for export tests, hand-encoded (field numbers from opentelemetry-proto), and
// a protobufjs decoder over a subset of the schema to check what a batch decodes to.
// https://github.com/open-telemetry/opentelemetry-proto/tree/main/opentelemetry/proto
import protobuf from 'protobufjs';
import { varint as varintOf } from '../helpers/wire-builder.js';

function varint(n: number, out: number[]): void {
  out.push(...varintOf(n));
}

function bytesField(num: number, payload: Uint8Array, out: number[]): void {
  varint((num << 3) | 2, out);
  varint(payload.length, out);
  for (const b of payload) out.push(b);
}

const str = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const msg = (build: (out: number[]) => void): Uint8Array => {
  const out: number[] = [];
  build(out);
  return Uint8Array.from(out);
};

function resource(service: string): Uint8Array {
  const anyValue = msg((o) => bytesField(1, str(service), o));
  const kv = msg((o) => {
    bytesField(1, str('service.name'), o);
    bytesField(2, anyValue, o);
  });
  return msg((o) => bytesField(1, kv, o));
}

export interface ResourceSpec {
  service: string;
  /** Span names (traces) or log bodies (logs). */
  names: string[];
}

/** ExportTraceServiceRequest: one ResourceSpans per resource, one ScopeSpans, spans named. */
export function traceRequest(resources: ResourceSpec[]): Uint8Array {
  return msg((out) => {
    for (const r of resources) {
      const scopeSpans = msg((o) => {
        for (const name of r.names) {
          const span = msg((s) => {
            bytesField(1, Buffer.alloc(16, 1), s);
            bytesField(2, Buffer.alloc(8, 2), s);
            bytesField(5, str(name), s);
          });
          bytesField(2, span, o);
        }
      });
      bytesField(
        1,
        msg((o) => {
          bytesField(1, resource(r.service), o);
          bytesField(2, scopeSpans, o);
        }),
        out,
      );
    }
  });
}

/** ExportLogsServiceRequest: one ResourceLogs per resource, log records with string bodies. */
export function logsRequest(resources: ResourceSpec[]): Uint8Array {
  return msg((out) => {
    for (const r of resources) {
      const scopeLogs = msg((o) => {
        for (const name of r.names) {
          const body = msg((a) => bytesField(1, str(name), a));
          bytesField(2, msg((l) => bytesField(5, body, l)), o);
        }
      });
      bytesField(
        1,
        msg((o) => {
          bytesField(1, resource(r.service), o);
          bytesField(2, scopeLogs, o);
        }),
        out,
      );
    }
  });
}

const SCHEMA = `
syntax = "proto3";
package t;
message AnyValue { string string_value = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message Span { bytes trace_id = 1; bytes span_id = 2; string name = 5; }
message ScopeSpans { repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message LogRecord { AnyValue body = 5; }
message ScopeLogs { repeated LogRecord log_records = 2; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
`;
const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
const TraceReq = root.lookupType('t.ExportTraceServiceRequest');
const LogsReq = root.lookupType('t.ExportLogsServiceRequest');

interface Decoded {
  resource?: { attributes?: Array<{ value?: { string_value?: string } }> };
  scope_spans?: Array<{ spans?: Array<{ name?: string }> }>;
  scope_logs?: Array<{ log_records?: Array<{ body?: { string_value?: string } }> }>;
}

/** The resources of a trace request, as {service, names}, in wire order. */
export function decodeTraces(body: Uint8Array): ResourceSpec[] {
  const obj = TraceReq.toObject(TraceReq.decode(body), { arrays: true }) as { resource_spans: Decoded[] };
  return obj.resource_spans.map((rs) => ({
    service: rs.resource?.attributes?.[0]?.value?.string_value ?? '',
    names: (rs.scope_spans ?? []).flatMap((ss) => (ss.spans ?? []).map((s) => s.name ?? '')),
  }));
}

/** The resources of a logs request, as {service, names (bodies)}, in wire order. */
export function decodeLogs(body: Uint8Array): ResourceSpec[] {
  const obj = LogsReq.toObject(LogsReq.decode(body), { arrays: true }) as { resource_logs: Decoded[] };
  return obj.resource_logs.map((rl) => ({
    service: rl.resource?.attributes?.[0]?.value?.string_value ?? '',
    names: (rl.scope_logs ?? []).flatMap((sl) => (sl.log_records ?? []).map((l) => l.body?.string_value ?? '')),
  }));
}
