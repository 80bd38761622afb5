// How an OTLP/gRPC export's status is classified, per the OTLP spec (which codes are retryable is
// defined once, in src/errors.ts): https://opentelemetry.io/docs/specs/otlp/#failures and #otlpgrpc-throttling
import { GrpcCode, isRetryableGrpc } from '../errors.js';
import { decodeRpcStatus } from '../rpc-status.js';
import type { TransportResult } from './transport.js';

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
  if (isRetryableGrpc(code, retryAfterMs !== undefined)) {
    return retryAfterMs === undefined
      ? { status: 'retryable', reason, message }
      : { status: 'retryable', reason, retryAfterMs, message };
  }
  return { status: 'permanent', reason, message };
}
