// The seam between receivers and the rest of the pipeline. A receiver decodes the transport
// (gRPC frame or HTTP body, decompression, limits), then hands the bytes to `ingest`, and maps the
// outcome onto its protocol with the one table in errors.ts.
import type { Outcome } from '../errors.js';
import type { PayloadEncoding } from '../process/protocol.js';
import type { Signal } from '../signals.js';

export type Protocol = 'grpc' | 'http';

/** What a receiver knows about the caller (identity fields are filled by the tenancy stage). */
export interface RequestContext {
  protocol: Protocol;
  remoteAddress?: string;
  /** Lower-cased headers / metadata (x-scope-orgid, authorization, ...). */
  headers: Record<string, string | undefined>;
  /** Peer certificate when the connection is TLS (tenancy stage). */
  peerCertificate?: unknown;
}

export type IngestOutcome = Outcome & { tenant?: string; items?: number };

export interface IngestDeps {
  /** Runs identify → admit → process → export for one request body (already decompressed). */
  ingest(signal: Signal, encoding: PayloadEncoding, body: Buffer, ctx: RequestContext): Promise<IngestOutcome>;
}
