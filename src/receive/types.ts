// The seam between receivers and the rest of the pipeline. A receiver decodes the transport
// (gRPC frame or HTTP body, decompression, limits), then hands the bytes to `ingest`, and maps the
// outcome onto its protocol with the one table in errors.ts.
import type { Outcome, Refusal } from '../errors.js';
import type { PayloadEncoding } from '../process/protocol.js';
import type { Signal } from '../signals.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';

export type Protocol = 'grpc' | 'http';

/** What a receiver knows about the caller (identity fields are filled by the tenancy stage). */
export interface RequestContext {
  protocol: Protocol;
  remoteAddress?: string;
  /** Lower-cased headers / metadata (x-scope-orgid, authorization, ...). */
  headers: Record<string, string | undefined>;
  /** Peer certificate when the connection is TLS (tenancy stage). */
  peerCertificate?: unknown;
  /** Epoch ms after which the client no longer waits for the answer (gRPC `grpc-timeout`; none for HTTP). */
  deadlineAt?: number;
  /** Aborted when the client has gone (stream reset, connection closed) before it got its answer. */
  signal?: AbortSignal;
}

export type IngestOutcome = Outcome & { tenant?: string; items?: number };

export interface IngestDeps {
  /** Runs identify → admit → process → export for one request body (already decompressed). */
  ingest(signal: Signal, encoding: PayloadEncoding, body: Buffer, ctx: RequestContext): Promise<IngestOutcome>;
  /**
   * Asked before a request's body is read: the retryable refusal the pipeline would give now for its
   * load alone (the worker pool's queue full, or its expected wait over process.maxQueueWait or past
   * `deadlineAt`), counting `bodyLagMs`, how long the receiver expects the body to take to arrive, and
   * `bodiesAhead`, the bodies it is receiving. A receiver that can answer before reading the body sheds
   * the load there.
   */
  shedEarly?(deadlineAt?: number, bodyLagMs?: number, bodiesAhead?: number): Refusal | undefined;
}

/** A listener (OTLP/gRPC or OTLP/HTTP) in front of `ingest`. */
export interface Receiver {
  /** Bind and listen; resolves with the bound address (port 0 gives the port the OS chose). */
  start(): Promise<{ host: string; port: number }>;
  /**
   * Stop taking new requests, let requests in flight finish for up to `deadlineMs` (a duration),
   * then cut the remaining connections.
   */
  stop(deadlineMs: number): Promise<void>;
}

/** What a receiver is given: the pipeline, its self-metrics and a logger. */
export type ReceiverDeps = IngestDeps & { metrics: GatewayMetrics; logger: Logger };
