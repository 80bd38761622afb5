// The OTLP messages as the wire walker sees them: for each message, each known field's number, name
// and wire shape. Field numbers are those of proto/opentelemetry/proto/** (opentelemetry-proto v1);
// test/process/worker/wire-schema.test.ts checks this table against those files with protobufjs.
// The table is data so that the validating walk and the later rewriting pass share one description.

/** How a known field is encoded, and what the walker checks for it. */
export const Kind = {
  /** Not in the schema: skipped by wire type. */
  UNKNOWN: 0,
  /** int32, int64, uint32, uint64, sint32, bool, enum: wire type 0. */
  VARINT: 1,
  /** fixed64, sfixed64, double: wire type 1. */
  I64: 2,
  /** fixed32: wire type 5. */
  I32: 3,
  /** string: wire type 2, valid UTF-8. */
  STRING: 4,
  /** bytes: wire type 2. */
  BYTES: 5,
  /** An embedded message: wire type 2, walked. */
  MESSAGE: 6,
  /** repeated fixed64/double: unpacked (wire type 1) or packed (wire type 2, a multiple of 8 bytes). */
  PACKED_I64: 7,
  /** repeated uint64: unpacked (wire type 0) or packed (wire type 2, whole varints). */
  PACKED_VARINT: 8,
  /** A trace id: bytes of length 16, or empty. */
  TRACE_ID: 9,
  /** A span id: bytes of length 8, or empty. */
  SPAN_ID: 10,
} as const;
export type KindValue = (typeof Kind)[keyof typeof Kind];

/** Fields the trace summary reads (the walker captures them from spans). At most 7 (3 bits). */
export const Capture = {
  NONE: 0,
  SPAN_TRACE_ID: 1,
  SPAN_PARENT_ID: 2,
  SPAN_START: 3,
  SPAN_END: 4,
  STATUS_CODE: 5,
} as const;

/** A repeated field (message paths show an index for it): or-ed with a Capture in FieldDef's flags. */
const REP = 0x100;

type FieldDef = [name: string, kind: KindValue, child?: string, flags?: number];
interface MessageDef {
  name: string;
  /** Counted as one item (span, data point, log record) each time it occurs. */
  item?: boolean;
  fields: Record<number, FieldDef>;
}

const K = Kind;
const C = Capture;

// Message names are the proto names, except where two share one (the three requests and their
// resource/scope levels are distinct messages with the same shape).
const DEFS: MessageDef[] = [
  { name: 'ExportTraceServiceRequest', fields: { 1: ['resource_spans', K.MESSAGE, 'ResourceSpans', REP] } },
  { name: 'ExportMetricsServiceRequest', fields: { 1: ['resource_metrics', K.MESSAGE, 'ResourceMetrics', REP] } },
  { name: 'ExportLogsServiceRequest', fields: { 1: ['resource_logs', K.MESSAGE, 'ResourceLogs', REP] } },

  // common/v1/common.proto, resource/v1/resource.proto
  {
    name: 'AnyValue',
    fields: {
      1: ['string_value', K.STRING],
      2: ['bool_value', K.VARINT],
      3: ['int_value', K.VARINT],
      4: ['double_value', K.I64],
      5: ['array_value', K.MESSAGE, 'ArrayValue'],
      6: ['kvlist_value', K.MESSAGE, 'KeyValueList'],
      7: ['bytes_value', K.BYTES],
    },
  },
  { name: 'ArrayValue', fields: { 1: ['values', K.MESSAGE, 'AnyValue', REP] } },
  { name: 'KeyValueList', fields: { 1: ['values', K.MESSAGE, 'KeyValue', REP] } },
  { name: 'KeyValue', fields: { 1: ['key', K.STRING], 2: ['value', K.MESSAGE, 'AnyValue'] } },
  {
    name: 'InstrumentationScope',
    fields: {
      1: ['name', K.STRING],
      2: ['version', K.STRING],
      3: ['attributes', K.MESSAGE, 'KeyValue', REP],
      4: ['dropped_attributes_count', K.VARINT],
    },
  },
  {
    name: 'EntityRef',
    fields: {
      1: ['schema_url', K.STRING],
      2: ['type', K.STRING],
      3: ['id_keys', K.STRING, undefined, REP],
      4: ['description_keys', K.STRING, undefined, REP],
    },
  },
  {
    name: 'Resource',
    fields: {
      1: ['attributes', K.MESSAGE, 'KeyValue', REP],
      2: ['dropped_attributes_count', K.VARINT],
      3: ['entity_refs', K.MESSAGE, 'EntityRef', REP],
    },
  },

  // trace/v1/trace.proto
  {
    name: 'ResourceSpans',
    fields: { 1: ['resource', K.MESSAGE, 'Resource'], 2: ['scope_spans', K.MESSAGE, 'ScopeSpans', REP], 3: ['schema_url', K.STRING] },
  },
  {
    name: 'ScopeSpans',
    fields: { 1: ['scope', K.MESSAGE, 'InstrumentationScope'], 2: ['spans', K.MESSAGE, 'Span', REP], 3: ['schema_url', K.STRING] },
  },
  {
    name: 'Span',
    item: true,
    fields: {
      1: ['trace_id', K.TRACE_ID, undefined, C.SPAN_TRACE_ID],
      2: ['span_id', K.SPAN_ID],
      3: ['trace_state', K.STRING],
      4: ['parent_span_id', K.SPAN_ID, undefined, C.SPAN_PARENT_ID],
      5: ['name', K.STRING],
      6: ['kind', K.VARINT],
      7: ['start_time_unix_nano', K.I64, undefined, C.SPAN_START],
      8: ['end_time_unix_nano', K.I64, undefined, C.SPAN_END],
      9: ['attributes', K.MESSAGE, 'KeyValue', REP],
      10: ['dropped_attributes_count', K.VARINT],
      11: ['events', K.MESSAGE, 'Span.Event', REP],
      12: ['dropped_events_count', K.VARINT],
      13: ['links', K.MESSAGE, 'Span.Link', REP],
      14: ['dropped_links_count', K.VARINT],
      15: ['status', K.MESSAGE, 'Status'],
      16: ['flags', K.I32],
    },
  },
  {
    name: 'Span.Event',
    fields: {
      1: ['time_unix_nano', K.I64],
      2: ['name', K.STRING],
      3: ['attributes', K.MESSAGE, 'KeyValue', REP],
      4: ['dropped_attributes_count', K.VARINT],
    },
  },
  {
    name: 'Span.Link',
    fields: {
      1: ['trace_id', K.TRACE_ID],
      2: ['span_id', K.SPAN_ID],
      3: ['trace_state', K.STRING],
      4: ['attributes', K.MESSAGE, 'KeyValue', REP],
      5: ['dropped_attributes_count', K.VARINT],
      6: ['flags', K.I32],
    },
  },
  { name: 'Status', fields: { 2: ['message', K.STRING], 3: ['code', K.VARINT, undefined, C.STATUS_CODE] } },

  // metrics/v1/metrics.proto
  {
    name: 'ResourceMetrics',
    fields: { 1: ['resource', K.MESSAGE, 'Resource'], 2: ['scope_metrics', K.MESSAGE, 'ScopeMetrics', REP], 3: ['schema_url', K.STRING] },
  },
  {
    name: 'ScopeMetrics',
    fields: { 1: ['scope', K.MESSAGE, 'InstrumentationScope'], 2: ['metrics', K.MESSAGE, 'Metric', REP], 3: ['schema_url', K.STRING] },
  },
  {
    name: 'Metric',
    fields: {
      1: ['name', K.STRING],
      2: ['description', K.STRING],
      3: ['unit', K.STRING],
      5: ['gauge', K.MESSAGE, 'Gauge'],
      7: ['sum', K.MESSAGE, 'Sum'],
      9: ['histogram', K.MESSAGE, 'Histogram'],
      10: ['exponential_histogram', K.MESSAGE, 'ExponentialHistogram'],
      11: ['summary', K.MESSAGE, 'Summary'],
      12: ['metadata', K.MESSAGE, 'KeyValue', REP],
    },
  },
  { name: 'Gauge', fields: { 1: ['data_points', K.MESSAGE, 'NumberDataPoint', REP] } },
  {
    name: 'Sum',
    fields: {
      1: ['data_points', K.MESSAGE, 'NumberDataPoint', REP],
      2: ['aggregation_temporality', K.VARINT],
      3: ['is_monotonic', K.VARINT],
    },
  },
  {
    name: 'Histogram',
    fields: { 1: ['data_points', K.MESSAGE, 'HistogramDataPoint', REP], 2: ['aggregation_temporality', K.VARINT] },
  },
  {
    name: 'ExponentialHistogram',
    fields: { 1: ['data_points', K.MESSAGE, 'ExponentialHistogramDataPoint', REP], 2: ['aggregation_temporality', K.VARINT] },
  },
  { name: 'Summary', fields: { 1: ['data_points', K.MESSAGE, 'SummaryDataPoint', REP] } },
  {
    name: 'NumberDataPoint',
    item: true,
    fields: {
      7: ['attributes', K.MESSAGE, 'KeyValue', REP],
      2: ['start_time_unix_nano', K.I64],
      3: ['time_unix_nano', K.I64],
      4: ['as_double', K.I64],
      6: ['as_int', K.I64],
      5: ['exemplars', K.MESSAGE, 'Exemplar', REP],
      8: ['flags', K.VARINT],
    },
  },
  {
    name: 'HistogramDataPoint',
    item: true,
    fields: {
      9: ['attributes', K.MESSAGE, 'KeyValue', REP],
      2: ['start_time_unix_nano', K.I64],
      3: ['time_unix_nano', K.I64],
      4: ['count', K.I64],
      5: ['sum', K.I64],
      6: ['bucket_counts', K.PACKED_I64, undefined, REP],
      7: ['explicit_bounds', K.PACKED_I64, undefined, REP],
      8: ['exemplars', K.MESSAGE, 'Exemplar', REP],
      10: ['flags', K.VARINT],
      11: ['min', K.I64],
      12: ['max', K.I64],
    },
  },
  {
    name: 'ExponentialHistogramDataPoint',
    item: true,
    fields: {
      1: ['attributes', K.MESSAGE, 'KeyValue', REP],
      2: ['start_time_unix_nano', K.I64],
      3: ['time_unix_nano', K.I64],
      4: ['count', K.I64],
      5: ['sum', K.I64],
      6: ['scale', K.VARINT],
      7: ['zero_count', K.I64],
      8: ['positive', K.MESSAGE, 'ExponentialHistogramDataPoint.Buckets'],
      9: ['negative', K.MESSAGE, 'ExponentialHistogramDataPoint.Buckets'],
      10: ['flags', K.VARINT],
      11: ['exemplars', K.MESSAGE, 'Exemplar', REP],
      12: ['min', K.I64],
      13: ['max', K.I64],
      14: ['zero_threshold', K.I64],
    },
  },
  {
    name: 'ExponentialHistogramDataPoint.Buckets',
    fields: { 1: ['offset', K.VARINT], 2: ['bucket_counts', K.PACKED_VARINT, undefined, REP] },
  },
  {
    name: 'SummaryDataPoint',
    item: true,
    fields: {
      7: ['attributes', K.MESSAGE, 'KeyValue', REP],
      2: ['start_time_unix_nano', K.I64],
      3: ['time_unix_nano', K.I64],
      4: ['count', K.I64],
      5: ['sum', K.I64],
      6: ['quantile_values', K.MESSAGE, 'SummaryDataPoint.ValueAtQuantile', REP],
      8: ['flags', K.VARINT],
    },
  },
  { name: 'SummaryDataPoint.ValueAtQuantile', fields: { 1: ['quantile', K.I64], 2: ['value', K.I64] } },
  {
    name: 'Exemplar',
    fields: {
      7: ['filtered_attributes', K.MESSAGE, 'KeyValue', REP],
      2: ['time_unix_nano', K.I64],
      3: ['as_double', K.I64],
      6: ['as_int', K.I64],
      4: ['span_id', K.SPAN_ID],
      5: ['trace_id', K.TRACE_ID],
    },
  },

  // logs/v1/logs.proto
  {
    name: 'ResourceLogs',
    fields: { 1: ['resource', K.MESSAGE, 'Resource'], 2: ['scope_logs', K.MESSAGE, 'ScopeLogs', REP], 3: ['schema_url', K.STRING] },
  },
  {
    name: 'ScopeLogs',
    fields: { 1: ['scope', K.MESSAGE, 'InstrumentationScope'], 2: ['log_records', K.MESSAGE, 'LogRecord', REP], 3: ['schema_url', K.STRING] },
  },
  {
    name: 'LogRecord',
    item: true,
    fields: {
      1: ['time_unix_nano', K.I64],
      11: ['observed_time_unix_nano', K.I64],
      2: ['severity_number', K.VARINT],
      3: ['severity_text', K.STRING],
      5: ['body', K.MESSAGE, 'AnyValue'],
      6: ['attributes', K.MESSAGE, 'KeyValue', REP],
      7: ['dropped_attributes_count', K.VARINT],
      8: ['flags', K.I32],
      9: ['trace_id', K.TRACE_ID],
      10: ['span_id', K.SPAN_ID],
      12: ['event_name', K.STRING],
    },
  },
];

/** Known field numbers are below this; larger ones are unknown in every OTLP message. */
export const FIELD_SLOTS = 32;

/** Message ids by name (the index into DEFS). */
export const MSG: Readonly<Record<string, number>> = Object.fromEntries(DEFS.map((d, i) => [d.name, i]));

/** Message ids the walker needs by name. */
export const MsgId = {
  TRACE_REQUEST: MSG['ExportTraceServiceRequest']!,
  METRICS_REQUEST: MSG['ExportMetricsServiceRequest']!,
  LOGS_REQUEST: MSG['ExportLogsServiceRequest']!,
  ANY_VALUE: MSG['AnyValue']!,
  KEY_VALUE: MSG['KeyValue']!,
  SPAN: MSG['Span']!,
} as const;

/** Proto name of each message id (for error paths). */
export const MESSAGE_NAMES: readonly string[] = DEFS.map((d) => d.name);

// Per (message id * FIELD_SLOTS + field number), everything the hot loop needs in one load:
//   kind | capture << 4 | item << 7 | child message id << 8
// where `item` marks MESSAGE fields whose every occurrence is one item (span, data point, log record).
export const INFO_KIND_MASK = 0x0f;
export const INFO_CAPTURE_SHIFT = 4;
export const INFO_CAPTURE_MASK = 0x07;
export const INFO_ITEM = 0x80;
export const INFO_CHILD_SHIFT = 8;
export const FIELD_INFO = new Int32Array(DEFS.length * FIELD_SLOTS);
/** Per (message id * FIELD_SLOTS + field number): 1 for repeated fields (paths show their index). */
export const FIELD_REPEATED = new Uint8Array(DEFS.length * FIELD_SLOTS);
/** Per (message id * FIELD_SLOTS + field number): the proto field name ('' when unknown). */
export const FIELD_NAMES: readonly string[] = buildTables();

function buildTables(): string[] {
  const names = new Array<string>(DEFS.length * FIELD_SLOTS).fill('');
  DEFS.forEach((def, id) => {
    for (const [num, [name, kind, child, flags = 0]] of Object.entries(def.fields)) {
      const n = Number(num);
      if (!(n > 0 && n < FIELD_SLOTS)) throw new Error(`wire schema: ${def.name}.${name} has field number ${n}`);
      const slot = id * FIELD_SLOTS + n;
      let info = kind | ((flags & INFO_CAPTURE_MASK) << INFO_CAPTURE_SHIFT);
      if (kind === Kind.MESSAGE) {
        const childId = MSG[child ?? ''];
        if (childId === undefined) throw new Error(`wire schema: ${def.name}.${name} names unknown message ${child}`);
        info |= childId << INFO_CHILD_SHIFT;
        if (DEFS[childId]!.item) info |= INFO_ITEM;
      }
      FIELD_INFO[slot] = info;
      FIELD_REPEATED[slot] = flags & REP ? 1 : 0;
      names[slot] = name;
    }
  });
  return names;
}

/** The Kind of a field (UNKNOWN when the message has no such field). */
export function fieldKind(msg: number, field: number): KindValue {
  return (field > 0 && field < FIELD_SLOTS ? FIELD_INFO[msg * FIELD_SLOTS + field]! & INFO_KIND_MASK : Kind.UNKNOWN) as KindValue;
}

/** The message id a MESSAGE field holds, or -1. */
export function fieldChild(msg: number, field: number): number {
  return fieldKind(msg, field) === Kind.MESSAGE ? FIELD_INFO[msg * FIELD_SLOTS + field]! >>> INFO_CHILD_SHIFT : -1;
}

/** The schema as data, for the test that compares it with the .proto files. */
export function describeWireSchema(): {
  name: string;
  fields: { number: number; name: string; kind: KindValue; repeated: boolean; child?: string }[];
}[] {
  return DEFS.map((d) => ({
    name: d.name,
    fields: Object.entries(d.fields).map(([n, [name, kind, child, flags = 0]]) => ({
      number: Number(n),
      name,
      kind,
      repeated: (flags & REP) !== 0,
      ...(child ? { child } : {}),
    })),
  }));
}
