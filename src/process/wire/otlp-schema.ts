// The OTLP protobuf schema as protobufjs reflection types, loaded once per thread from the package's
// proto/ folder (the opentelemetry-proto v1 files). Used by the reference path, the JSON codec and tests;
// the fast wire walker does not need it.
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { protoDir } from '../../paths.js';
import { SIGNAL_WIRE, type Signal } from '../../signals.js';

const SERVICE_FILES: Record<Signal, string> = {
  traces: 'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  metrics: 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
  logs: 'opentelemetry/proto/collector/logs/v1/logs_service.proto',
};

const EXTRA_FILES = ['google/rpc/status.proto', 'google/rpc/error_details.proto'];

let root: protobuf.Root | undefined;

/**
 * The protobufjs Root holding every OTLP message (and google.rpc.Status / RetryInfo). Loaded lazily and
 * synchronously on first use; field names are camelCase (keepCase false), as OTLP/JSON names them.
 * Throws only if the package's proto/ files are missing or broken, which is a start-up failure.
 */
export function otlpRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  // Imports inside the .proto files are relative to proto/ (as protoc's -I would make them); the
  // google/protobuf/*.proto well-known types are bundled with protobufjs and resolved by it.
  r.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(protoDir, target));
  r.loadSync([...Object.values(SERVICE_FILES), ...EXTRA_FILES], { keepCase: false });
  r.resolveAll();
  root = r;
  return root;
}

/** A message type by its fully qualified name, e.g. `opentelemetry.proto.trace.v1.Span`. */
export function otlpType(fullName: string): protobuf.Type {
  return otlpRoot().lookupType(fullName);
}

/** An enum by its fully qualified name, e.g. `opentelemetry.proto.trace.v1.Status.StatusCode`. */
export function otlpEnum(fullName: string): protobuf.Enum {
  return otlpRoot().lookupEnum(fullName);
}

const requestTypes = new Map<Signal, protobuf.Type>();
const responseTypes = new Map<Signal, protobuf.Type>();

/** The Export*ServiceRequest type of a signal. */
export function requestType(signal: Signal): protobuf.Type {
  let t = requestTypes.get(signal);
  if (!t) {
    t = otlpType(SIGNAL_WIRE[signal].requestType);
    requestTypes.set(signal, t);
  }
  return t;
}

/** The Export*ServiceResponse type of a signal. */
export function responseType(signal: Signal): protobuf.Type {
  let t = responseTypes.get(signal);
  if (!t) {
    t = otlpType(SIGNAL_WIRE[signal].responseType);
    responseTypes.set(signal, t);
  }
  return t;
}

/** Fully qualified names of the messages tests and tools most often need. */
export const OTLP_TYPES = {
  anyValue: 'opentelemetry.proto.common.v1.AnyValue',
  keyValue: 'opentelemetry.proto.common.v1.KeyValue',
  resource: 'opentelemetry.proto.resource.v1.Resource',
  scope: 'opentelemetry.proto.common.v1.InstrumentationScope',
  span: 'opentelemetry.proto.trace.v1.Span',
  metric: 'opentelemetry.proto.metrics.v1.Metric',
  logRecord: 'opentelemetry.proto.logs.v1.LogRecord',
  rpcStatus: 'google.rpc.Status',
  retryInfo: 'google.rpc.RetryInfo',
} as const;
