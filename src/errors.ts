// The one error catalogue: every refusal the gateway answers with, and how it maps onto gRPC codes and
// HTTP statuses, in two tables with names unique across both:
//   ERRORS        what the OTLP receivers answer (src/receive), mapped by the OTLP specification's
//                 failure rules: https://opentelemetry.io/docs/specs/otlp/#failures (gRPC) and #failures-1 (HTTP)
//   ADMIN_ERRORS  what the admin API answers (/metrics, /admin/v1/...; src/admin/admin-errors.ts sends them)
// and which statuses of a backend an exporter retries (RETRYABLE_HTTP_STATUSES, isRetryableGrpc; the
// same OTLP rules, read by both export transports). docs/reference/status-codes.md documents every code
// (test/errors.test.ts checks both directions); nothing else maps codes to statuses.

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

/**
 * OTLP/HTTP: the statuses a client retries (honouring Retry-After); every other 4xx/5xx is permanent.
 * https://opentelemetry.io/docs/specs/otlp/#failures-1
 */
export const RETRYABLE_HTTP_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * OTLP/gRPC: the codes a client retries. RESOURCE_EXHAUSTED is retryable only when the server says
 * when (a RetryInfo detail): https://opentelemetry.io/docs/specs/otlp/#failures
 */
export const RETRYABLE_GRPC_CODES: ReadonlySet<number> = new Set([
  GrpcCode.CANCELLED,
  GrpcCode.DEADLINE_EXCEEDED,
  GrpcCode.ABORTED,
  GrpcCode.OUT_OF_RANGE,
  GrpcCode.UNAVAILABLE,
  GrpcCode.DATA_LOSS,
]);

export function isRetryableGrpc(code: number, hasRetryInfo: boolean): boolean {
  return RETRYABLE_GRPC_CODES.has(code) || (code === GrpcCode.RESOURCE_EXHAUSTED && hasRetryInfo);
}

export interface AdminErrorSpec {
  /** What the error means (docs), and the message when the route has no more precise one. */
  message: string;
  http: number;
  /** The `code` of the google.rpc.Status body. */
  grpc: GrpcCodeValue;
}

/**
 * The admin API's errors. Bodies are google.rpc.Status JSON, `{code, message, details}`, whose one
 * detail is a google.rpc.ErrorInfo naming the code: `{"@type": ".../google.rpc.ErrorInfo", "reason":
 * "INCIDENT_NOT_FOUND", "domain": "stella.admin"}` (https://google.aip.dev/193).
 */
export const ADMIN_ERRORS = {
  ADMIN_TOKEN_MISSING: { message: 'no admin token: send "Authorization: Bearer <token>"', http: 401, grpc: GrpcCode.UNAUTHENTICATED },
  ADMIN_TOKEN_UNKNOWN: { message: 'the admin token is not one this gateway accepts', http: 401, grpc: GrpcCode.UNAUTHENTICATED },
  ADMIN_AUTH_UNAVAILABLE: { message: 'this route needs an admin token and none can be checked here', http: 401, grpc: GrpcCode.UNAUTHENTICATED },
  ADMIN_ROLE_DENIED: { message: "the token's role is below what the request needs", http: 403, grpc: GrpcCode.PERMISSION_DENIED },
  ADMIN_SCOPE_DENIED: { message: "the tenant (or the fleet) is outside the token's scopes", http: 403, grpc: GrpcCode.PERMISSION_DENIED },
  ADMIN_BAD_REQUEST: { message: 'the request body or its parameters are invalid', http: 400, grpc: GrpcCode.INVALID_ARGUMENT },
  ADMIN_BODY_TOO_LARGE: { message: 'the request body is over the admin listener\'s limit', http: 413, grpc: GrpcCode.RESOURCE_EXHAUSTED },
  ADMIN_UNSUPPORTED_MEDIA_TYPE: { message: 'the request body must be JSON (content-type: application/json)', http: 415, grpc: GrpcCode.INVALID_ARGUMENT },
  ADMIN_INTERNAL: { message: 'internal error', http: 500, grpc: GrpcCode.INTERNAL },
  STATUS_UNAVAILABLE: { message: 'the status could not be gathered', http: 500, grpc: GrpcCode.INTERNAL },
  INCIDENT_INVALID_SCOPE: { message: 'expected a tenant id, or "_all" (or no tenant) for the fleet', http: 400, grpc: GrpcCode.INVALID_ARGUMENT },
  INCIDENT_INVALID_REASON: { message: 'a reason is required (it goes to the audit log and the notification)', http: 400, grpc: GrpcCode.INVALID_ARGUMENT },
  INCIDENT_INVALID_TTL: { message: 'the TTL must be a duration between 1s and incidents.maxTtl', http: 400, grpc: GrpcCode.INVALID_ARGUMENT },
  INCIDENT_NOT_FOUND: { message: 'the tenant (or the fleet) is not in incident mode', http: 404, grpc: GrpcCode.NOT_FOUND },
  INCIDENT_TOO_MANY: { message: 'incidents.maxIncidents incidents are active', http: 409, grpc: GrpcCode.RESOURCE_EXHAUSTED },
  INCIDENTS_DISABLED: { message: 'incident mode is disabled in the config (incidents.enabled: false)', http: 409, grpc: GrpcCode.FAILED_PRECONDITION },
  INCIDENT_PERSIST_FAILED: { message: 'the incident state could not be written; incident mode was not changed', http: 500, grpc: GrpcCode.INTERNAL },
  CAPTURE_INVALID_REQUEST: { message: 'the capture request (tenant, window, signals) is invalid', http: 400, grpc: GrpcCode.INVALID_ARGUMENT },
  CAPTURE_RUNNING: { message: 'a capture is already running; retry when it is done', http: 409, grpc: GrpcCode.ABORTED },
  CAPTURE_CODEC_UNAVAILABLE: { message: 'the archive holds segments this Node cannot read (written by a newer one)', http: 501, grpc: GrpcCode.UNIMPLEMENTED },
  CAPTURE_NO_SIGNING_KEY: { message: 'no signing key in the data dir: run "stella telemetry keys init"', http: 503, grpc: GrpcCode.UNAVAILABLE },
} as const satisfies Record<string, AdminErrorSpec>;

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

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
