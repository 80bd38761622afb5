// OTLP response bodies, shared by both receivers. Success is an (often empty) Export*ServiceResponse,
// with partial_success when items were rejected; a refusal is a google.rpc.Status whose code, HTTP
// status and retry hint all come from the one catalogue in errors.ts.
// https://opentelemetry.io/docs/specs/otlp/#full-success, #partial-success, #failures, #failures-1
//
// The messages are tiny and fixed, so they are encoded by hand (no protobuf runtime on the hot path):
//   Export*ServiceResponse { Export*PartialSuccess partial_success = 1; }
//   Export*PartialSuccess  { int64 rejected_<items> = 1; string error_message = 2; }
import { DEFAULT_RETRY_AFTER_MS, ERRORS, type ErrorCode, type GrpcCodeValue, type Refusal } from '../errors.js';
import type { PayloadEncoding } from '../process/protocol.js';
import { pushVarint } from '../process/wire/wire-writer.js';
import { encodeRpcStatus, rpcStatusJson, type RpcStatus } from '../rpc-status.js';
import type { Signal } from '../signals.js';

/** The OTLP/JSON (lowerCamelCase) name of partial_success.rejected_<items> per signal. */
export const REJECTED_FIELD_JSON: Record<Signal, string> = {
  traces: 'rejectedSpans',
  metrics: 'rejectedDataPoints',
  logs: 'rejectedLogRecords',
};

export interface PartialSuccess {
  rejectedItems?: number;
  errorMessage?: string;
}

/** How the items of a signal are called in partial_success messages. */
export const ITEM_NAMES: Record<Signal, string> = { traces: 'spans', metrics: 'data points', logs: 'log records' };

/**
 * The policy drop reasons (ProcessOk.dropped keys, src/process/worker/policy-rules.ts DROP_*) that remove
 * whole items, and what the client is told about them. `attribute_key` drops an attribute, not an item:
 * the item is delivered, so it is not a rejection.
 */
export const ITEM_DROP_REASONS: Readonly<Record<string, string>> = {
  service_name: 'service.name not in the allowlist (allowlists.yaml serviceNames)',
  metric_name: 'metric name not in the allowlist (allowlists.yaml metricNames)',
};

/**
 * partial_success of an accepted request: items the worker refused as malformed plus items the policies
 * dropped, with a message naming each reason and its count (https://opentelemetry.io/docs/specs/otlp/#partial-success:
 * rejected_<items> counts what the server did not accept; error_message says why).
 */
export function partialSuccessOf(signal: Signal, result: { rejectedItems: number; dropped?: Record<string, number> }): PartialSuccess {
  const parts: string[] = [];
  let rejected = 0;
  if (result.rejectedItems > 0) {
    rejected += result.rejectedItems;
    parts.push(`${result.rejectedItems} malformed`);
  }
  for (const [reason, n] of Object.entries(result.dropped ?? {})) {
    const why = ITEM_DROP_REASONS[reason];
    if (why === undefined || !(n > 0)) continue;
    rejected += n;
    parts.push(`${n} dropped by policy: ${why}`);
  }
  if (rejected === 0) return {};
  return { rejectedItems: rejected, errorMessage: `${rejected} ${ITEM_NAMES[signal]} rejected: ${parts.join('; ')}` };
}

/**
 * partial_success is set when items were rejected, and also (OTLP allows it) to carry a warning with
 * rejected = 0 and a non-empty message; otherwise it MUST stay unset.
 */
function hasPartialSuccess(p: PartialSuccess | undefined): p is PartialSuccess {
  return p !== undefined && ((p.rejectedItems ?? 0) > 0 || (p.errorMessage ?? '') !== '');
}

/** Export*ServiceResponse in binary protobuf (the same field numbers for all three signals). */
export function encodeExportResponse(partial?: PartialSuccess): Buffer {
  if (!hasPartialSuccess(partial)) return Buffer.alloc(0);
  const fields: number[] = [];
  const rejectedItems = partial.rejectedItems ?? 0;
  if (rejectedItems > 0) {
    fields.push(0x08); // rejected_<items> = 1, varint
    pushVarint(fields, Math.floor(rejectedItems)); // a count: an integer well below 2^53
  }
  const message = Buffer.from(partial.errorMessage ?? '', 'utf8');
  if (message.length > 0) {
    fields.push(0x12); // error_message = 2, length-delimited
    pushVarint(fields, message.length);
  }
  const head: number[] = [0x0a]; // partial_success = 1, length-delimited
  pushVarint(head, fields.length + message.length);
  return Buffer.concat([Buffer.from(head), Buffer.from(fields), message]);
}

/** Export*ServiceResponse in OTLP/JSON: int64 as a decimal string (proto3 JSON mapping). */
export function exportResponseJson(signal: Signal, partial?: PartialSuccess): string {
  if (!hasPartialSuccess(partial)) return '{}';
  const body: Record<string, string> = {};
  const rejectedItems = partial.rejectedItems ?? 0;
  if (rejectedItems > 0) body[REJECTED_FIELD_JSON[signal]] = String(Math.floor(rejectedItems));
  if (partial.errorMessage) body.errorMessage = partial.errorMessage;
  return JSON.stringify({ partialSuccess: body });
}

/** The success body in the request's encoding. */
export function successBody(signal: Signal, encoding: PayloadEncoding, partial?: PartialSuccess): Buffer | string {
  return encoding === 'json' ? exportResponseJson(signal, partial) : encodeExportResponse(partial);
}

/** How a refusal is answered on either protocol: read from the catalogue, nowhere else. */
export interface RefusalAnswer {
  code: ErrorCode;
  message: string;
  grpc: GrpcCodeValue;
  http: number;
  /** Set exactly when the catalogue marks the code retryable: the hint for RetryInfo / Retry-After. */
  retryAfterMs?: number;
}

export function refusalAnswer(outcome: Refusal): RefusalAnswer {
  const spec = ERRORS[outcome.code];
  const answer: RefusalAnswer = { code: outcome.code, message: outcome.message, grpc: spec.grpc, http: spec.http };
  // The catalogue decides retryability (it also fixes the HTTP status / gRPC code the client reads it
  // from); the outcome only supplies the delay.
  if (spec.retryable) {
    const hint = outcome.status === 'retryable' ? outcome.retryAfterMs : DEFAULT_RETRY_AFTER_MS;
    answer.retryAfterMs = Number.isFinite(hint) && hint >= 0 ? hint : DEFAULT_RETRY_AFTER_MS;
  }
  return answer;
}

/** google.rpc.Status for a refusal (RetryInfo on retryable codes). */
export function rpcStatusOf(answer: RefusalAnswer): RpcStatus {
  const status: RpcStatus = { code: answer.grpc, message: answer.message };
  if (answer.retryAfterMs !== undefined) status.retryDelayMs = answer.retryAfterMs;
  return status;
}

/** The error body in the request's encoding (OTLP/HTTP: 4xx/5xx bodies are a Status). */
export function errorBody(answer: RefusalAnswer, encoding: PayloadEncoding): Buffer | string {
  const status = rpcStatusOf(answer);
  return encoding === 'json' ? rpcStatusJson(status) : encodeRpcStatus(status);
}

/** HTTP Retry-After is whole seconds (RFC 9110 §10.2.3); round up so the client never retries early. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(0, Math.ceil(ms / 1000)));
}
