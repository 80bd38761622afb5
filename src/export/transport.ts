// How an exporter talks to one backend. A transport sends one batch and classifies the answer; it
// never throws and never retries (retry policy lives in the exporter, see retry.ts), so the same
// retry, queue and drop accounting serve OTLP/gRPC, OTLP/HTTP and files.
import type { Signal } from '../signals.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { EgressGuard } from '../egress/egress.js';

/** One export request: concatenated ExportItem bodies of one signal and one tenant. */
export interface ExportBatch {
  signal: Signal;
  tenant: string;
  /** An encoded Export*ServiceRequest (the concatenation of the items' bodies). */
  body: Uint8Array;
  /** Spans, data points or log records in body. */
  items: number;
  /** Persistent queue sequence numbers of the items in the batch (marked done once the backend answers). */
  seqs?: number[];
}

/**
 * `reason` is a short, bounded label (it becomes collector_export_failures_total{reason}), such as
 * `grpc_unavailable`, `http_503`, `timeout`, `network`, `aborted`, `file_io`; `message` is the detail for logs.
 */
export type TransportResult =
  | { status: 'ok' }
  | { status: 'retryable'; reason: string; retryAfterMs?: number; message?: string }
  | { status: 'permanent'; reason: string; message?: string };

export interface Transport {
  /** For logs: 'otlp-grpc', 'otlp-http', 'file', or a test double's name. */
  readonly kind: string;
  /**
   * Send one batch. When `abort` fires (shutdown deadline), an in-flight request is cancelled and
   * the result is `{status:'retryable', reason:'aborted'}`.
   */
  send(batch: ExportBatch, abort?: AbortSignal): Promise<TransportResult>;
  /** Release connections and files; called once, after the last send settled. */
  close(): Promise<void>;
}

/** Runtime options of network transports that are not (yet) in ExporterConfig. */
export interface TransportOptions {
  /** When set, each request carries the batch's tenant in this header / metadata key (e.g. `x-scope-orgid`). */
  tenantHeader?: string;
  /** For TLS: the insecure warning, reload lines and tls_reload_failures_total (client-tls.ts). */
  logger?: Logger;
  metrics?: GatewayMetrics;
  /** Sealed mode (src/egress): asked before every send; a refused destination never gets a socket. */
  egress?: EgressGuard;
}

export const abortedResult: TransportResult = { status: 'retryable', reason: 'aborted', message: 'export cancelled by shutdown' };
