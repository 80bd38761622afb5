// The one error catalogue: every refusal the gateway answers with, and how it maps onto gRPC codes and
// HTTP statuses. The mapping follows the OTLP specification's failure rules:
// https://opentelemetry.io/docs/specs/otlp/#failures (gRPC) and #failures-1 (HTTP).
// Receivers, the exporter's retry logic and the docs all read this table; nothing else maps codes.

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeValue = (typeof GrpcCode)[keyof typeof GrpcCode];

export interface ErrorSpec {
  /** What the refusal means, for docs and for the message when the caller gives none. */
  message: string;
  grpc: GrpcCodeValue;
  http: number;
  /** Whether the client may retry (OTLP: retryable codes carry a retry hint). */
  retryable: boolean;
}

export const ERRORS = {
  MALFORMED_PAYLOAD: {
    message: 'the request body is not a valid OTLP message',
    grpc: GrpcCode.INVALID_ARGUMENT,
    http: 400,
    retryable: false,
  },
  MALFORMED_FRAME: {
    message: 'the transport framing is invalid (a gRPC message flagged compressed without grpc-encoding, a truncated or extra message)',
    grpc: GrpcCode.INTERNAL,
    http: 400,
    retryable: false,
  },
  PAYLOAD_TOO_LARGE: {
    message: 'the request body (after decompression) exceeds the configured limit',
    grpc: GrpcCode.RESOURCE_EXHAUSTED,
    http: 413,
    retryable: false,
  },
  HEADERS_TOO_LARGE: {
    message: 'the call metadata (headers) exceeds the configured limit',
    grpc: GrpcCode.RESOURCE_EXHAUSTED,
    http: 431,
    retryable: false,
  },
  UNSUPPORTED_MEDIA_TYPE: {
    message: 'Content-Type must be application/x-protobuf or application/json',
    grpc: GrpcCode.INVALID_ARGUMENT,
    http: 415,
    retryable: false,
  },
  UNSUPPORTED_ENCODING: {
    message: 'Content-Encoding must be gzip, deflate or identity',
    grpc: GrpcCode.UNIMPLEMENTED,
    http: 415,
    retryable: false,
  },
  NOT_FOUND: {
    message: 'no such OTLP endpoint',
    grpc: GrpcCode.UNIMPLEMENTED,
    http: 404,
    retryable: false,
  },
  METHOD_NOT_ALLOWED: {
    message: 'OTLP endpoints accept POST only',
    grpc: GrpcCode.UNIMPLEMENTED,
    http: 405,
    retryable: false,
  },
  UNAUTHENTICATED: {
    message: 'no valid identity (client certificate or bearer token)',
    grpc: GrpcCode.UNAUTHENTICATED,
    http: 401,
    retryable: false,
  },
  PERMISSION_DENIED: {
    message: 'the identity is not bound to the requested tenant',
    grpc: GrpcCode.PERMISSION_DENIED,
    http: 403,
    retryable: false,
  },
  AMBIGUOUS_IDENTITY: {
    message: 'the client certificate names more than one SPIFFE ID (an X.509-SVID has exactly one)',
    grpc: GrpcCode.UNAUTHENTICATED,
    http: 401,
    retryable: false,
  },
  RATE_LIMITED: {
    message: 'the tenant is over its quota; retry after the given delay',
    grpc: GrpcCode.RESOURCE_EXHAUSTED,
    http: 429,
    retryable: true,
  },
  OVERLOADED: {
    message: 'the gateway is at capacity (a queue is full); retry after the given delay',
    grpc: GrpcCode.UNAVAILABLE,
    http: 503,
    retryable: true,
  },
  QUEUE_FULL: {
    message: 'the persistent export queue has reached its disk budget (queue.maxDiskBytes); retry after the given delay',
    grpc: GrpcCode.UNAVAILABLE,
    http: 503,
    retryable: true,
  },
  QUEUE_WRITE_FAILED: {
    message: 'the request could not be made durable in the persistent export queue (write or fsync failed); retry',
    grpc: GrpcCode.UNAVAILABLE,
    http: 503,
    retryable: true,
  },
  PROCESSING_TIMEOUT: {
    message: 'processing the request took longer than the configured limit',
    grpc: GrpcCode.UNAVAILABLE,
    http: 503,
    retryable: true,
  },
  // The two below answer requests whose client no longer waits: the work is dropped (before a worker
  // when it is still queued) and its output never exported, so the client's retry is not a duplicate.
  DEADLINE_EXCEEDED: {
    message: "the client's deadline passed before the request was processed; nothing was kept",
    grpc: GrpcCode.DEADLINE_EXCEEDED,
    http: 504,
    retryable: true,
  },
  CLIENT_GONE: {
    message: 'the client cancelled the request or closed the connection before its answer; nothing was kept',
    grpc: GrpcCode.CANCELLED,
    // No client reads it; 503 (not nginx's 499) keeps it retryable under the OTLP/HTTP rules.
    http: 503,
    retryable: true,
  },
  SHUTTING_DOWN: {
    message: 'the gateway is shutting down',
    grpc: GrpcCode.UNAVAILABLE,
    http: 503,
    retryable: true,
  },
  INTERNAL: {
    message: 'internal error',
    grpc: GrpcCode.INTERNAL,
    http: 500,
    retryable: false,
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Default retry hint for retryable refusals that have no better estimate. */
export const DEFAULT_RETRY_AFTER_MS = 1000;

/**
 * The outcome of a hot-path step: a union, not a throw. `partial` carries OTLP partial_success:
 * the request was accepted but some items were rejected.
 */
export type Outcome =
  | { status: 'ok'; rejectedItems?: number; errorMessage?: string }
  | { status: 'retryable'; code: ErrorCode; message: string; retryAfterMs: number }
  | { status: 'rejected'; code: ErrorCode; message: string };

/** An Outcome that is not ok: what every refusal in the gateway is. */
export type Refusal = Exclude<Outcome, { status: 'ok' }>;

export function rejected(code: ErrorCode, message?: string): Refusal {
  return { status: 'rejected', code, message: message ?? ERRORS[code].message };
}

export function retryable(code: ErrorCode, retryAfterMs = DEFAULT_RETRY_AFTER_MS, message?: string): Refusal {
  return { status: 'retryable', code, message: message ?? ERRORS[code].message, retryAfterMs };
}

/** An error thrown at start-up or from the CLI: fail fast with a precise message. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
