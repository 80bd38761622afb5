// Forwarded traces travel as an OTLP/gRPC Export call between peers (forward-wire.ts is the message):
// the sender's side (a unary call on an HTTP/2 session to the owner's peer listener, which is mTLS) and
// the owner's side (a handler for the peer server's route: the peer is already verified there, so the
// tenant header is believed on that listener only).
// gRPC over HTTP/2: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md (5-byte message
// prefix: compressed flag, u32 length; status in trailers, or in the headers of a trailers-only answer).
import * as http2 from 'node:http2';
import type { TraceSummary } from '../process/protocol.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { readForward } from './forward-wire.js';
import type { PeerRouteHandler } from './peer-server.js';
import type { ForwardResult, ForwardSend, LocalOffer } from './trace-router.js';
import { GrpcCode } from '../errors.js';
import { isTenantId } from '../tenant-id.js';

export const TRACES_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
/** The header that carries the tenant of forwarded spans (believed only from a verified peer). */
export const TENANT_HEADER = 'stella-tenant';

const { NGHTTP2_CANCEL } = http2.constants;
/** An empty ExportTraceServiceResponse, framed. */
const EMPTY_RESPONSE = Buffer.alloc(5);

// ---- sender -------------------------------------------------------------------------------------

export interface ForwardClient {
  send: ForwardSend;
}

/**
 * Forwards over the HTTP/2 sessions of the cluster's peer client (peer-client.ts: mTLS with this
 * replica's certificate, the owner's identity checked against cluster.tls.peerNames, one session per
 * endpoint, reused).
 */
export function createForwardClient(deps: { endpointOf(peer: string): string | undefined; session(endpoint: string): http2.ClientHttp2Session }): ForwardClient {
  const session = deps.session;

  const send: ForwardSend = (peer, tenant, message, timeoutMs) =>
    new Promise<ForwardResult>((resolve) => {
      const endpoint = deps.endpointOf(peer);
      if (endpoint === undefined) return resolve({ status: 'failed', reason: 'unavailable', message: `no endpoint for peer ${peer}` });
      let settled = false;
      const finish = (r: ForwardResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      let stream: http2.ClientHttp2Stream | undefined;
      const timer = setTimeout(() => {
        stream?.close(NGHTTP2_CANCEL);
        finish({ status: 'failed', reason: 'timeout', message: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      try {
        stream = session(endpoint).request({
          ':method': 'POST',
          ':path': TRACES_EXPORT_PATH,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
          [TENANT_HEADER]: tenant,
        });
      } catch (err) {
        return finish({ status: 'failed', reason: 'unavailable', message: (err as Error).message });
      }
      let status: string | undefined;
      let grpcMessage: string | undefined;
      const onStatus = (h: http2.IncomingHttpHeaders): void => {
        if (h['grpc-status'] !== undefined) {
          status = String(h['grpc-status']);
          grpcMessage = h['grpc-message'] === undefined ? undefined : decodeURIComponent(String(h['grpc-message']));
        }
      };
      stream.on('response', (h) => {
        if (h[':status'] !== 200) status ??= `http ${h[':status']}`;
        onStatus(h);
      });
      stream.on('trailers', onStatus);
      stream.on('data', () => {}); // the (empty) response message
      stream.on('error', (err) => finish({ status: 'failed', reason: 'unavailable', message: err.message }));
      stream.on('close', () => {
        if (status === String(GrpcCode.OK)) finish({ status: 'ok' });
        else if (status === undefined) finish({ status: 'failed', reason: 'unavailable', message: 'the call ended without a status' });
        else finish({ status: 'failed', reason: 'refused', message: `grpc-status ${status}${grpcMessage ? `: ${grpcMessage}` : ''}` });
      });
      let size = 0;
      for (const piece of message) size += piece.length;
      const prefix = Buffer.allocUnsafe(5);
      prefix[0] = 0;
      prefix.writeUInt32BE(size, 1);
      // One write of all the pieces (corked: the stream's writev), none of them joined into a copy.
      stream.cork();
      stream.write(prefix);
      for (const piece of message) stream.write(piece);
      stream.end();
      stream.uncork();
    });

  return { send };
}

// ---- owner --------------------------------------------------------------------------------------

export type ForwardReceiveMetrics = Pick<GatewayMetrics, 'clusterReceivedSpans' | 'clusterReceiveRefused'>;

export interface ForwardReceiverConfig {
  /** Bytes of forwarded messages being received at once (all peers); beyond it calls are refused (RESOURCE_EXHAUSTED: the sender decides locally). */
  maxInflightBytes: number;
  /** Largest forwarded message. */
  maxMessageBytes: number;
}

export interface ForwardReceiverDeps {
  /** The local tail sampler's offer. */
  offer: LocalOffer;
  metrics?: ForwardReceiveMetrics;
  logger?: Logger;
}


/**
 * The handler of TRACES_EXPORT_PATH on the peer listener. Only route it there: the tenant comes from
 * the TENANT_HEADER, which is believed because the peer server verified the caller's certificate.
 */
export function createForwardReceiver(config: ForwardReceiverConfig, deps: ForwardReceiverDeps): { handler: PeerRouteHandler; stats(): { inflightBytes: number } } {
  const { offer, metrics, logger } = deps;
  let inflightBytes = 0;

  function refuse(stream: http2.ServerHttp2Stream, code: number, reason: string, message: string, peerId: string): void {
    metrics?.clusterReceiveRefused.inc({ reason });
    logger?.warn({ peer: peerId, reason, err: message }, 'refused traces forwarded by a peer');
    if (stream.destroyed || stream.closed) return;
    if (stream.headersSent) {
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) }, { endStream: true });
  }

  const handler: PeerRouteHandler = (stream, headers, peerId) => {
    const tenant = headers[TENANT_HEADER];
    if (!isTenantId(tenant)) {
      stream.resume();
      return refuse(stream, GrpcCode.INVALID_ARGUMENT, 'tenant', `missing or invalid ${TENANT_HEADER} header`, peerId);
    }
    // The 5-byte prefix first: the message's size is admitted against the budget before it is buffered.
    let prefix = Buffer.alloc(0);
    let body: Buffer | undefined;
    let got = 0;
    let reserved = 0;
    let failed = false;
    const release = (): void => {
      inflightBytes -= reserved;
      reserved = 0;
    };
    stream.on('close', release);
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      let at = 0;
      if (body === undefined) {
        const need = 5 - prefix.length;
        prefix = Buffer.concat([prefix, chunk.subarray(0, need)]);
        at = Math.min(need, chunk.length);
        if (prefix.length < 5) return;
        const size = prefix.readUInt32BE(1);
        if (prefix[0] !== 0) {
          failed = true;
          return refuse(stream, GrpcCode.INVALID_ARGUMENT, 'malformed', 'compressed forwards are not expected', peerId);
        }
        if (size > config.maxMessageBytes) {
          failed = true;
          return refuse(stream, GrpcCode.RESOURCE_EXHAUSTED, 'too_large', `message of ${size} bytes exceeds ${config.maxMessageBytes}`, peerId);
        }
        if (inflightBytes + size > config.maxInflightBytes) {
          failed = true;
          return refuse(stream, GrpcCode.RESOURCE_EXHAUSTED, 'budget', `forwards being received hold ${inflightBytes} bytes (limit ${config.maxInflightBytes})`, peerId);
        }
        inflightBytes += size;
        reserved = size;
        body = Buffer.allocUnsafeSlow(size);
      }
      const n = Math.min(chunk.length - at, body.length - got);
      if (chunk.length - at > n) {
        failed = true;
        return refuse(stream, GrpcCode.INVALID_ARGUMENT, 'malformed', 'more than one message in a unary call', peerId);
      }
      chunk.copy(body, got, at, at + n);
      got += n;
    });
    stream.on('end', () => {
      if (failed) return;
      if (body === undefined || got !== body.length) {
        return refuse(stream, GrpcCode.INVALID_ARGUMENT, 'malformed', 'truncated message', peerId);
      }
      const read = readForward(body);
      release();
      if ('error' in read) return refuse(stream, GrpcCode.INVALID_ARGUMENT, 'malformed', read.error, peerId);
      try {
        offerForwarded(tenant, read.body, read.traces);
      } catch (err) {
        return refuse(stream, GrpcCode.UNAVAILABLE, 'failed', (err as Error).message, peerId);
      }
      metrics?.clusterReceivedSpans.inc(read.spans);
      if (stream.destroyed || stream.closed) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(GrpcCode.OK) }));
      stream.end(EMPTY_RESPONSE);
    });
    stream.on('error', () => release());
  };

  function offerForwarded(tenant: string, body: Uint8Array, traces: TraceSummary[]): void {
    // The runs are laid out by trace: the sampler takes them as they are (owned: nothing else holds them).
    offer(tenant, body, traces, null, true);
  }

  return { handler, stats: () => ({ inflightBytes }) };
}
