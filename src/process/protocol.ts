// The typed protocol between the pool (main thread) and its workers. Both sides import this file and
// nothing else of each other. A task carries the request bytes (transferred, never copied) and a
// small context; a result carries the output bytes (transferred back) and a small summary.
import type { CompiledPolicy } from '../policy/compile.js';
import type { Signal } from '../signals.js';

export type PayloadEncoding = 'protobuf' | 'json';

export interface ProcessTask {
  signal: Signal;
  encoding: PayloadEncoding;
  /** The (already decompressed) request body. The pool transfers this buffer to the worker. */
  body: Uint8Array;
  /** The tenant the request is bound to (stamping and policies use it in later stages). */
  tenant: string;
  /**
   * Resource attribute key the worker sets to `tenant` on every resource (overwriting a client's
   * value, counted in ProcessOk.tenantOverwrites). Absent: no stamping.
   */
  tenantAttribute?: string;
  /**
   * The policy version this request must be processed under (exactly one per request). Workers cache
   * compiled policies by version; the pool attaches `policy` only when a worker answered
   * `need-policy`, so the policy is cloned into each worker once per version, not once per task.
   * Absent: no policy (pass-through).
   */
  policyVersion?: string;
  policy?: CompiledPolicy;
  /**
   * Traces only, for the tail sampler: locate each trace in the output, which is left as it is. The
   * summaries come as ProcessOk.traceColumns; with more than one trace ProcessOk.traceLayout says where
   * each lies (wire/locate-traces.ts locateTraceColumns); a single trace's run is the whole body.
   */
  splitTraces?: boolean;
  /**
   * Traces only: do not group spans by trace at all, and leave ProcessOk.traces out of the result (a
   * caller without a tail sampler has no use for it). The summaries are tens of small objects with
   * bigints per request: building them costs the walk a few %, and cloning them from the worker to the
   * main thread is a measurable share of the hand-off. Ignored with splitTraces.
   */
  omitTraceSummaries?: boolean;
}

/**
 * A request's trace summaries as columns of numbers, what crosses from the worker to the main thread:
 * tens of objects with hex strings and bigints per request cost the worker building and serialising
 * them and the main thread deserialising them (README "Tail sampling", Cost); wire/trace-columns.ts
 * summariesOf makes the objects on the main thread. Plain arrays, not typed arrays: those are cloned
 * into a malloc'd buffer each, and four small buffers per request between the large request bodies
 * fragmented the main thread's malloc heap (the sampling memory bench: +30 MiB resident).
 */
export interface TraceColumns {
  /** Each trace id's 16 bytes as four little-endian int32 words (zeros for the empty id). */
  words: number[];
  spans: number[];
  /** TRACE_ERROR | TRACE_ROOT | TRACE_EMPTY_ID per trace. */
  flags: number[];
  /** startHi, startLo, endHi, endLo (uint32 halves of the nanosecond times) per trace. */
  times: number[];
}
export const TRACE_ERROR = 1;
export const TRACE_ROOT = 2;
export const TRACE_EMPTY_ID = 4;

/** Per trace id, what the sampler needs to decide without decoding spans again. */
export interface TraceSummary {
  /** Lower-case hex of the 16-byte trace id ('' when a span carries an empty id). */
  traceId: string;
  spans: number;
  /** Some span has status code ERROR. */
  error: boolean;
  /** Some span has no parent_span_id (the root span is in this request). */
  root: boolean;
  /** Earliest start_time_unix_nano and latest end_time_unix_nano of the trace's spans in this request. */
  startNs: bigint;
  endNs: bigint;
  /** With ProcessTask.splitTraces: this trace's resource_spans entries are body[offset, offset+length). */
  offset?: number;
  length?: number;
}

export interface ProcessOk {
  status: 'ok';
  /**
   * The output: an encoded Export*ServiceRequest whose top level is only repeated resource_* fields,
   * so that batches are built by concatenation.
   */
  body: Uint8Array;
  /** Spans, metric data points or log records in the output. */
  items: number;
  /** Items the worker refused (filled into OTLP partial_success). */
  rejectedItems: number;
  /** Traces only, without splitTraces: spans grouped by trace id, in first-seen order. */
  traces?: TraceSummary[];
  /** With ProcessTask.splitTraces: the same summaries as columns (`traces` is left out). */
  traceColumns?: TraceColumns;
  /**
   * With ProcessTask.splitTraces and more than one trace: where each trace lies in `body`
   * (wire/locate-traces.ts locateTraceColumns; wire/write-traces.ts writeTrace builds a trace's own
   * resource_spans run). Offsets into `body`, which is left unsplit.
   */
  traceLayout?: Int32Array;
  /** The policy version applied (echoes ProcessTask.policyVersion). */
  policyVersion?: string;
  /** Client-supplied tenant attributes that were overwritten. */
  tenantOverwrites?: number;
  /** Policy effects, counted by the pool into metrics: redactions by category/rule, drops by reason. */
  redactions?: Record<string, number>;
  dropped?: Record<string, number>;
  /** Seconds the worker spent on the task (set by the worker entry; the pool observes worker_processing_seconds). */
  processSeconds?: number;
  /** Of which applying the policy and stamping (the rewrite), when it ran (policy_evaluation_seconds). */
  policySeconds?: number;
}

/** The worker lacks the compiled policy of ProcessTask.policyVersion: the pool resends with `policy`. */
export interface ProcessNeedPolicy {
  status: 'need-policy';
  policyVersion: string;
  /**
   * The task's body, handed back (transferred) untouched, so that the pool can resend it with the
   * policy attached: the pool no longer has it after transferring it to the worker.
   */
  body: Uint8Array;
}

export interface ProcessRejected {
  status: 'rejected';
  code: 'MALFORMED_PAYLOAD';
  /** Precise, safe to return to the client: names the field path and the offset. */
  message: string;
}

export type ProcessResult = ProcessOk | ProcessRejected;

/** What a worker answers; the pool resolves `need-policy` itself, so callers of the pool never see it. */
export type WorkerResult = ProcessResult | ProcessNeedPolicy;
