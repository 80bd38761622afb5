// How an OTLP/gRPC export's status is classified, per the OTLP spec:
// https://opentelemetry.io/docs/specs/otlp/#failures and #otlpgrpc-throttling
import { GrpcCode } from '../errors.js';
import { decodeRpcStatus } from '../rpc-status.js';
import type { TransportResult } from './transport.js';

/** Retryable per the OTLP spec; RESOURCE_EXHAUSTED only when the server says when (RetryInfo). */
const RETRYABLE_CODES: ReadonlySet<number> = new Set([
  GrpcCode.CANCELLED,
  GrpcCode.DEADLINE_EXCEEDED,
  GrpcCode.ABORTED,
  GrpcCode.OUT_OF_RANGE,
  GrpcCode.UNAVAILABLE,
  GrpcCode.DATA_LOSS,
]);

const CODE_NAMES = new Map<number, string>(Object.entries(GrpcCode).map(([name, code]) => [code, name.toLowerCase()]));

export function grpcReason(code: number): string {
  return `grpc_${CODE_NAMES.get(code) ?? 'unknown'}`;
}

/** Classify a failed call from its status code and `grpc-status-details-bin` trailer (if any). */
export function classifyGrpcStatus(code: number, details: string, statusDetailsBin?: Uint8Array): TransportResult {
  const status = statusDetailsBin ? decodeRpcStatus(statusDetailsBin) : undefined;
  const retryAfterMs = status?.retryDelayMs;
  const reason = grpcReason(code);
  const message = status?.message || details;
  if (RETRYABLE_CODES.has(code) || (code === GrpcCode.RESOURCE_EXHAUSTED && retryAfterMs !== undefined)) {
    return retryAfterMs === undefined
      ? { status: 'retryable', reason, message }
      : { status: 'retryable', reason, retryAfterMs, message };
  }
  return { status: 'permanent', reason, message };
}
