// The typed protocol between the pool (main thread) and its workers. Both sides import this file and
// nothing else of each other. A task carries the request bytes (transferred, never copied) and a
// small context; a result carries the output bytes (transferred back) and a small summary.
import type { Signal } from '../signals.js';

export type PayloadEncoding = 'protobuf' | 'json';

export interface ProcessTask {
  signal: Signal;
  encoding: PayloadEncoding;
  /** The (already decompressed) request body. The pool transfers this buffer to the worker. */
  body: Uint8Array;
  /** The tenant the request is bound to (stamping and policies use it in later stages). */
  tenant: string;
}

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
  /** Traces only: spans grouped by trace id, in first-seen order. */
  traces?: TraceSummary[];
}

export interface ProcessRejected {
  status: 'rejected';
  code: 'MALFORMED_PAYLOAD';
  /** Precise, safe to return to the client: names the field path and the offset. */
  message: string;
}

export type ProcessResult = ProcessOk | ProcessRejected;
