// The seam between receivers and the rest of the pipeline. Memory is bounded before work (DESIGN.md):
// a receiver never holds a byte the gateway has not admitted. A request goes through three steps:
//
//   1. headers time — `open(signal, ctx)`: the caller is identified from what arrives before the body
//      (TLS client certificate, bearer token, X-Scope-OrgID) and the tenant's request is opened. A
//      refusal (UNAUTHENTICATED, PERMISSION_DENIED, SHUTTING_DOWN) is answered without reading the body.
//   2. while the body arrives — `request.grow(n)` before the receiver holds n more bytes: the whole
//      length up front where the transport states it (Content-Length, the gRPC message's length
//      prefix), else chunk by chunk, and again for every chunk of decompressed output. A refusal is
//      the retryable OVERLOADED (the in-flight budget, admit.maxInflightBytes, is exhausted): the
//      receiver stops reading and answers it. `shrink(n)` gives back bytes no longer held (the
//      compressed form once inflated).
//   3. body complete — `request.ingest(encoding, body)`: quota, process, export; the reservation is
//      released when it settles. A receiver that gives up before (refusal, client gone) calls
//      `close()` instead. Both are idempotent with each other: the bytes are released exactly once.
//
// The receiver maps every outcome onto its protocol with the one table in errors.ts.
import type { Outcome, Refusal } from '../errors.js';
import type { PayloadEncoding } from '../process/protocol.js';
import type { Signal } from '../signals.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { TlsReloadEvent } from './tls.js';

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

/** A request whose caller is identified and whose bytes are admitted as they arrive (step 2 and 3). */
export interface OpenRequest {
  readonly tenant: string;
  /** Reserve `bytes` more of the in-flight budget before holding them; a refusal means: stop reading. */
  grow(bytes: number): Refusal | undefined;
  /** Give back `bytes` of the reservation that are no longer held. */
  shrink(bytes: number): void;
  /** The complete, decompressed body: quota → process → export. Releases the reservation when settled. */
  ingest(encoding: PayloadEncoding, body: Buffer): Promise<IngestOutcome>;
  /** Give up without ingesting (receiver refusal, client gone): releases the reservation. */
  close(): void;
}

export type OpenOutcome = { status: 'ok'; request: OpenRequest } | (Refusal & { tenant?: string });

export interface IngestDeps {
  /** Step 1, at headers time: identify the caller and open its request (see the file comment). */
  open(signal: Signal, ctx: RequestContext): OpenOutcome;
  /**
   * Asked before a request's body is read: the retryable refusal the pipeline would give now for its
   * load alone (the worker pool's queue full, or its expected wait over process.maxExpectedWait or past
   * `deadlineAt`), counting `bodyLagMs`, how long the receiver expects the body to take to arrive, and
   * `bodiesAhead`, the bodies it is receiving. A receiver that can answer before reading the body sheds
   * the load there.
   */
  shedEarly?(deadlineAt?: number, bodyLagMs?: number, bodiesAhead?: number): Refusal | undefined;
}

/** A listener (OTLP/gRPC or OTLP/HTTP) in front of `open`. */
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
export type ReceiverDeps = IngestDeps & { metrics: GatewayMetrics; logger: Logger; /** TLS reloads, for the audit log. */ tlsAudit?: (e: TlsReloadEvent) => void };
