// The three OTLP signals and the names the protocol gives them on the wire.
export type Signal = 'traces' | 'metrics' | 'logs';
export const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];

export interface SignalWire {
  /** gRPC method path of the collector service's Export. */
  grpcPath: string;
  /** OTLP/HTTP path. */
  httpPath: string;
  /** Fully qualified protobuf names of request and response. */
  requestType: string;
  responseType: string;
}

export const SIGNAL_WIRE: Record<Signal, SignalWire> = {
  traces: {
    grpcPath: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    httpPath: '/v1/traces',
    requestType: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
    responseType: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse',
  },
  metrics: {
    grpcPath: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    httpPath: '/v1/metrics',
    requestType: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest',
    responseType: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse',
  },
  logs: {
    grpcPath: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
    httpPath: '/v1/logs',
    requestType: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest',
    responseType: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse',
  },
};

export function isSignal(s: string): s is Signal {
  return s === 'traces' || s === 'metrics' || s === 'logs';
}
