// Builds protobuf wire bytes by hand, for tests that need exact (and exactly wrong) encodings:
// each helper returns the bytes of one field; `msg(...)` joins fields into a message body.
// https://protobuf.dev/programming-guides/encoding/

export type Bytes = number[];

/** A varint of any unsigned 64-bit value (negative numbers are written as their two's complement). */
export function varint(value: number | bigint): Bytes {
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n;
  const out: Bytes = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

export function tag(field: number, wireType: number): Bytes {
  return varint(field * 8 + wireType);
}

export function msg(...fields: Bytes[]): Bytes {
  return fields.flat();
}

/** A length-delimited field (an embedded message, string or bytes). */
export function len(field: number, ...content: Bytes[]): Bytes {
  const body = content.flat();
  return [...tag(field, 2), ...varint(body.length), ...body];
}

export function str(field: number, s: string): Bytes {
  return len(field, [...Buffer.from(s, 'utf8')]);
}

export function raw(field: number, bytes: Uint8Array | Bytes): Bytes {
  return len(field, [...bytes]);
}

export function vint(field: number, value: number | bigint): Bytes {
  return [...tag(field, 0), ...varint(value)];
}

export function le(value: bigint, width: 4 | 8): Bytes {
  let v = BigInt.asUintN(width * 8, value);
  const out: Bytes = [];
  for (let i = 0; i < width; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

export function fixed64(field: number, value: bigint): Bytes {
  return [...tag(field, 1), ...le(value, 8)];
}

export function fixed32(field: number, value: number): Bytes {
  return [...tag(field, 5), ...le(BigInt(value), 4)];
}

export function doubleBytes(x: number): Bytes {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return [...b];
}

export function double(field: number, x: number): Bytes {
  return [...tag(field, 1), ...doubleBytes(x)];
}

export function bytes(...parts: Bytes[]): Uint8Array {
  return Uint8Array.from(parts.flat());
}

/** A hex string as bytes (ids). */
export function hex(h: string): Bytes {
  return [...Buffer.from(h, 'hex')];
}

// ---- OTLP shapes (field numbers from proto/opentelemetry/proto/**) ----

export const kv = (key: string, value: Bytes): Bytes => msg(str(1, key), len(2, value));
export const anyString = (s: string): Bytes => str(1, s);
export const anyInt = (n: number | bigint): Bytes => vint(3, n);

export interface SpanSpec {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  start?: bigint;
  end?: bigint;
  statusCode?: number;
  attributes?: Bytes[];
  extra?: Bytes[];
}

export function span(s: SpanSpec): Bytes {
  return msg(
    s.traceId !== undefined ? raw(1, hex(s.traceId)) : [],
    s.spanId !== undefined ? raw(2, hex(s.spanId)) : [],
    s.parentSpanId !== undefined ? raw(4, hex(s.parentSpanId)) : [],
    s.name !== undefined ? str(5, s.name) : [],
    s.start !== undefined ? fixed64(7, s.start) : [],
    s.end !== undefined ? fixed64(8, s.end) : [],
    ...(s.attributes ?? []).map((a) => len(9, a)),
    s.statusCode !== undefined ? len(15, vint(3, s.statusCode)) : [],
    ...(s.extra ?? []),
  );
}

/** ExportTraceServiceRequest { resource_spans { scope_spans { spans... } } } with one resource and one scope. */
export function tracesRequest(...spans: Bytes[]): Uint8Array {
  return bytes(len(1, len(2, ...spans.map((s) => len(2, s)))));
}

/** ExportLogsServiceRequest with one resource, one scope and these log records. */
export function logsRequest(...records: Bytes[]): Uint8Array {
  return bytes(len(1, len(2, ...records.map((r) => len(2, r)))));
}

/** ExportMetricsServiceRequest with one resource, one scope and these metrics. */
export function metricsRequest(...metrics: Bytes[]): Uint8Array {
  return bytes(len(1, len(2, ...metrics.map((m) => len(2, m)))));
}

/**
 * `inner` wrapped `times` times in length-delimited fields, each time by `fields` from the inside out
 * (e.g. [1, 5]: values { array_value { ... } }). Linear time, for nesting thousands deep.
 */
export function nest(inner: Bytes, times: number, fields: number[]): Bytes {
  const headers: Bytes[] = [];
  let size = inner.length;
  for (let i = 0; i < times; i++) {
    for (const f of fields) {
      const h = [...tag(f, 2), ...varint(size)];
      headers.push(h);
      size += h.length;
    }
  }
  const out: Bytes = [];
  for (let i = headers.length - 1; i >= 0; i--) for (const b of headers[i]!) out.push(b);
  for (const b of inner) out.push(b);
  return out;
}
