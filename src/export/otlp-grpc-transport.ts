// OTLP/gRPC export: a generic grpc-js client calling the collector service's Export method with
// identity serializers, because the batch is already an encoded Export*ServiceRequest.
// Status classification follows the OTLP spec:
// https://opentelemetry.io/docs/specs/otlp/#failures and #otlpgrpc-throttling
import * as grpc from '@grpc/grpc-js';
import type { ExporterConfig } from '../config/types.js';
import { GrpcCode } from '../errors.js';
import { decodeRpcStatus } from '../rpc-status.js';
import { SIGNAL_WIRE } from '../signals.js';
import { abortedResult, type ExportBatch, type Transport, type TransportOptions, type TransportResult } from './transport.js';

/** Retryable per the OTLP spec; RESOURCE_EXHAUSTED only when the server says when (RetryInfo). */
const RETRYABLE_CODES: ReadonlySet<number> = new Set([
  GrpcCode.CANCELLED,
  GrpcCode.DEADLINE_EXCEEDED,
  GrpcCode.ABORTED,
  GrpcCode.OUT_OF_RANGE,
  GrpcCode.UNAVAILABLE,
  GrpcCode.DATA_LOSS,
]);

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
  if (RETRYABLE_CODES.has(code) || (code === GrpcCode.RESOURCE_EXHAUSTED && retryAfterMs !== undefined)) {
    return retryAfterMs === undefined
      ? { status: 'retryable', reason, message }
      : { status: 'retryable', reason, retryAfterMs, message };
  }
  return { status: 'permanent', reason, message };
}

const identity = (b: Buffer): Buffer => b;

export function createOtlpGrpcTransport(
  config: Pick<ExporterConfig, 'endpoint' | 'headers' | 'compression' | 'timeoutMs'>,
  options: TransportOptions = {},
): Transport {
  const channelOptions: grpc.ChannelOptions = {
    // Batches may be large; the backend decides what it accepts.
    'grpc.max_send_message_length': -1,
  };
  if (config.compression === 'gzip') channelOptions['grpc.default_compression_algorithm'] = grpc.compressionAlgorithms.gzip;
  // TLS to backends is not configurable yet: plaintext, like the OTLP exporters' `insecure: true`.
  const client = new grpc.Client(config.endpoint, grpc.credentials.createInsecure(), channelOptions);
  const baseMetadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(config.headers)) {
    const k = key.toLowerCase();
    if (k.endsWith('-bin')) baseMetadata.set(k, Buffer.from(value, 'base64'));
    else baseMetadata.set(k, value);
  }

  function send(batch: ExportBatch, abort?: AbortSignal): Promise<TransportResult> {
    if (abort?.aborted) return Promise.resolve(abortedResult);
    return new Promise<TransportResult>((resolve) => {
      const metadata = baseMetadata.clone();
      if (options.tenantHeader) metadata.set(options.tenantHeader.toLowerCase(), batch.tenant);
      const body = Buffer.from(batch.body.buffer, batch.body.byteOffset, batch.body.byteLength);
      let onAbort: (() => void) | undefined;
      const call = client.makeUnaryRequest<Buffer, Buffer>(
        SIGNAL_WIRE[batch.signal].grpcPath,
        identity,
        identity,
        body,
        metadata,
        { deadline: Date.now() + config.timeoutMs },
        (err) => {
          if (onAbort) abort?.removeEventListener('abort', onAbort);
          // A success response may carry partial_success (rejected items); the items were still
          // delivered as far as the gateway can act on it, so it is not read here.
          if (!err) return resolve({ status: 'ok' });
          if (abort?.aborted) return resolve(abortedResult);
          const detailsBin = err.metadata?.get('grpc-status-details-bin')[0];
          resolve(classifyGrpcStatus(err.code, err.details, Buffer.isBuffer(detailsBin) ? detailsBin : undefined));
        },
      );
      if (abort) {
        onAbort = () => call.cancel();
        abort.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  return {
    kind: 'otlp-grpc',
    send,
    async close() {
      client.close();
    },
  };
}
