// OTLP/gRPC receiver: the three collector services' unary Export, served by grpc-js with identity
// (Buffer) serializers so grpc-js does no protobuf work: the request bytes go to `ingest` untouched.
// https://opentelemetry.io/docs/specs/otlp/#otlpgrpc
//
// grpc-js itself decompresses gzip/deflate requests (grpc-encoding) and enforces
// `grpc.max_receive_message_length` on the decompressed message, answering RESOURCE_EXHAUSTED without
// calling the handler; an OTLP client treats that as not retryable because it carries no RetryInfo
// (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc-request). Those refusals are counted by
// `observeTransportRefusals` below.
import type { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import { otlpExportService } from './otlp-grpc-service.js';
import * as grpc from '@grpc/grpc-js';
import type { GrpcReceiverConfig } from '../config/types.js';
import { rejected, type ErrorCode, type Refusal } from '../errors.js';
import { encodeRpcStatus } from '../rpc-status.js';
import { SIGNALS, SIGNAL_WIRE, type Signal } from '../signals.js';
import { encodeExportResponse, refusalAnswer, rpcStatusOf } from './responses.js';
import { createTlsReloader, grpcServerCredentials, type TlsReloader } from './tls.js';
import type { IngestOutcome, Receiver, ReceiverDeps, RequestContext } from './types.js';

const MiB = 1024 * 1024;

/** Responses are at most a partial_success message; anything bigger is a bug, not a reply. */
const MAX_SEND_MESSAGE_BYTES = 4 * MiB;

/**
 * Keepalive: ping an idle connection every 5 minutes and drop it when the ping is not answered in
 * 20 s, so connections of crashed or partitioned clients do not pile up (gRPC's own default waits
 * two hours). Streams per connection are bounded; admission bounds the bytes in flight overall.
 */
const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_send_message_length': MAX_SEND_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 300_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.max_concurrent_streams': 1000,
};

/**
 * HTTP/2 flow-control windows the receiver advertises. grpc-js's server keeps nghttp2's defaults, 64 KiB
 * per stream and per connection, so a client sending a 290 KB OTLP request stalls for a WINDOW_UPDATE
 * round trip every 64 KiB: five event-loop wake-ups and their syscalls on both sides, per request.
 * With windows this large (grpc-go's BDP estimator grows its own to several MiB) a request arrives in
 * one go; measured on this machine, the receiving process's CPU per 290 KB message fell by about a
 * third. Memory stays bounded as before: grpc-js reads every stream eagerly (a unary request is
 * buffered whole anyway, up to maxMessageBytes) and admission bounds the bytes in flight; the
 * connection window caps what one connection can have unread.
 * https://httpwg.org/specs/rfc9113.html#FlowControl
 */
export const STREAM_WINDOW_BYTES = 1 * MiB;
export const CONNECTION_WINDOW_BYTES = 4 * MiB;

/**
 * grpc-js has no option for the windows, so they are set on each new HTTP/2 session of the servers a
 * bound grpc.Server created (its private `http2Servers` map, grpc-js 1.14). Without that map (another
 * grpc-js version) the defaults stay: slower, not wrong; the receiver test notices. Call after bind.
 * Returns whether the windows could be set.
 */
export function advertiseWideWindows(server: grpc.Server, streamBytes = STREAM_WINDOW_BYTES, connectionBytes = CONNECTION_WINDOW_BYTES): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return false;
  const widen = (session: ServerHttp2Session): void => {
    try {
      session.settings({ initialWindowSize: streamBytes });
      session.setLocalWindowSize(Math.max(streamBytes, connectionBytes));
    } catch {
      // A session already closing: nothing to tune.
    }
  };
  for (const http2Server of servers.keys() as IterableIterator<EventEmitter>) http2Server.on('session', widen);
  return true;
}

/**
 * The one place server credentials are made: h2c without `tls`, else TLS (mTLS with a client CA)
 * whose certificate follows the files on disk (tls.ts) without a restart of the listener.
 */
function serverCredentials(reloader: TlsReloader | undefined): grpc.ServerCredentials {
  return reloader ? grpcServerCredentials(reloader) : grpc.ServerCredentials.createInsecure();
}

const SIGNAL_BY_PATH = new Map<string, Signal>(SIGNALS.map((s) => [SIGNAL_WIRE[s].grpcPath, s]));

/** What grpc-js answers on its own, before our handler runs, in the catalogue's terms. */
function transportRefusalCode(code: grpc.status): ErrorCode | undefined {
  switch (code) {
    case grpc.status.RESOURCE_EXHAUSTED: // message over max_receive_message_length (before or after inflating)
      return 'PAYLOAD_TOO_LARGE';
    case grpc.status.UNIMPLEMENTED: // unsupported grpc-encoding
      return 'UNSUPPORTED_ENCODING';
    case grpc.status.INTERNAL: // "Failed to decompress message"
      return 'MALFORMED_PAYLOAD';
    default:
      // DEADLINE_EXCEEDED / CANCELLED: the handler (if it runs) still counts its own outcome.
      return undefined;
  }
}

/**
 * A server interceptor that sees the statuses grpc-js sends without our handler (message too large,
 * bad compression). Statuses from the handler pass through this interceptor's responder first, which
 * marks them; grpc-js's own refusals go straight to the base call's `sendStatus`, which is wrapped
 * here. If a grpc-js version stopped routing them through `sendStatus`, only this counting would be
 * lost (the test "too large" checks it).
 */
function observeTransportRefusals(onRefusal: (signal: Signal, code: ErrorCode) => void): grpc.ServerInterceptor {
  return (method, call) => {
    const signal = SIGNAL_BY_PATH.get(method.path);
    let fromHandler = false;
    if (signal !== undefined) {
      const send = call.sendStatus.bind(call);
      let counted = false;
      call.sendStatus = (status) => {
        if (!fromHandler && !counted) {
          const code = transportRefusalCode(status.code);
          if (code !== undefined) {
            counted = true;
            onRefusal(signal, code);
          }
        }
        send(status);
      };
    }
    return new grpc.ServerInterceptingCall(call, {
      sendStatus(status, next) {
        fromHandler = true;
        next(status);
      },
    });
  };
}

/**
 * Overload shedding before the message is read: on the call's metadata (its deadline known), a
 * refusal from `shed` is answered at once (UNAVAILABLE + RetryInfo), so the client stops sending the
 * body and the gateway neither reads nor buffers it. Under overload the backlog otherwise builds up in
 * the connection (HEADERS are not flow-controlled, DATA is) where nothing can drop it, and requests
 * reach the handler with their deadline spent.
 */
function shedBeforeMessage(shed: (deadlineAt?: number, bodyLagMs?: number, bodiesAhead?: number) => Refusal | undefined, onRefusal: (signal: Signal, code: ErrorCode) => void): grpc.ServerInterceptor {
  // How late the bodies come: the last admitted call's time from metadata to message, less the time
  // since (a backlog drains in real time; nothing shed can keep the estimate up). It counts in the
  // expected wait: a call whose body would arrive too late is refused now instead of being read in vain.
  let lastLagMs = 0;
  let lastLagAt = 0;
  /** Calls admitted on their metadata whose message has not arrived yet. */
  let receiving = 0;
  return (method, call) => {
    const signal = SIGNAL_BY_PATH.get(method.path);
    let metadataAt = 0;
    let counted = false;
    const arrived = (): void => {
      if (counted) {
        counted = false;
        receiving--;
      }
    };
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            metadataAt = Date.now();
            if (signal === undefined) return nextMetadata(metadata);
            const deadline = call.getDeadline();
            const at = deadline instanceof Date ? deadline.getTime() : deadline;
            const backlogMs = Math.max(0, lastLagMs - (metadataAt - lastLagAt));
            const refusal = shed(Number.isFinite(at) ? at : undefined, backlogMs, receiving);
            if (refusal === undefined) {
              counted = true;
              receiving++;
              return nextMetadata(metadata);
            }
            onRefusal(signal, refusal.code);
            const answer = refusalAnswer(refusal);
            const trailer = new grpc.Metadata();
            trailer.set('grpc-status-details-bin', encodeRpcStatus(rpcStatusOf(answer)));
            intercepting.sendStatus({ code: answer.grpc, details: answer.message, metadata: trailer });
          },
          onReceiveMessage(message, nextMessage) {
            arrived();
            lastLagAt = Date.now();
            lastLagMs = lastLagAt - metadataAt;
            nextMessage(message);
          },
          onCancel: arrived,
        });
      },
    });
    return intercepting;
  };
}

/** grpc-js reports the peer as "host:port" ("::1:4711" for IPv6); keep the address. */
function peerAddress(peer: string): string | undefined {
  if (!peer || peer === 'unknown') return undefined;
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(peer);
  return m ? m[1] : peer;
}

/** Metadata as lower-cased string headers (binary `-bin` entries are left out). */
function metadataHeaders(metadata: grpc.Metadata): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === 'string') headers[key.toLowerCase()] = value;
  }
  return headers;
}

/**
 * The call's deadline (grpc-js computes it from `grpc-timeout` when the headers arrive) and a signal
 * aborted when the call ends without our answer: the client reset the stream, the connection closed,
 * or the deadline passed (grpc-js then answers DEADLINE_EXCEEDED itself and cancels the call).
 */
function clientWait(call: grpc.ServerUnaryCall<Buffer, Buffer>): Pick<RequestContext, 'deadlineAt' | 'signal'> {
  const wait: Pick<RequestContext, 'deadlineAt' | 'signal'> = {};
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(at)) wait.deadlineAt = at;
  const gone = new AbortController();
  if (call.cancelled) gone.abort();
  else call.once('cancelled', () => gone.abort());
  wait.signal = gone.signal;
  return wait;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function createGrpcReceiver(config: GrpcReceiverConfig, deps: ReceiverDeps): Receiver {
  const { metrics, logger } = deps;
  const protocol = 'grpc' as const;

  const server = new grpc.Server({
    ...SERVER_OPTIONS,
    // Applies to the message after grpc-js has decompressed it (checked chunk by chunk while inflating).
    'grpc.max_receive_message_length': config.maxMessageBytes,
    interceptors: [
      observeTransportRefusals((signal, code) => {
        metrics.receiverRequests.inc({ signal, protocol, outcome: code });
        metrics.receiverRefusedRequests.inc({ signal, tenant: 'unknown', protocol, reason: code });
      }),
      ...(deps.shedEarly ? [shedBeforeMessage(deps.shedEarly, (signal, code) => {
        metrics.receiverRequests.inc({ signal, protocol, outcome: code });
        metrics.receiverRefusedRequests.inc({ signal, tenant: 'unknown', protocol, reason: code });
      })] : []),
    ],
  });

  for (const signal of SIGNALS) {
    server.addService(otlpExportService(signal), {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        void handleExport(signal, call, callback);
      },
    });
  }

  async function handleExport(
    signal: Signal,
    call: grpc.ServerUnaryCall<Buffer, Buffer>,
    callback: grpc.sendUnaryData<Buffer>,
  ): Promise<void> {
    const started = performance.now();
    let outcome: IngestOutcome;
    try {
      const body = call.request;
      metrics.receiverRequestBytes.inc({ signal, protocol }, body.length);
      const ctx: RequestContext = {
        protocol,
        remoteAddress: peerAddress(call.getPeer()),
        headers: metadataHeaders(call.metadata),
        // Set only for a certificate the handshake verified against the client CA (grpc-js returns
        // nothing for an unauthorized peer).
        peerCertificate: call.getAuthContext().sslPeerCertificate,
        ...clientWait(call),
      };
      outcome = await deps.ingest(signal, 'protobuf', body, ctx);
    } catch (err) {
      // Never crash on a request: a throwing stage is a bug, answered as INTERNAL and logged.
      logger.error({ err, signal, protocol }, 'ingest failed');
      outcome = rejected('INTERNAL');
    }
    try {
      if (outcome.status === 'ok') {
        metrics.receiverRequests.inc({ signal, protocol, outcome: 'ok' });
        callback(null, encodeExportResponse(outcome));
      } else {
        metrics.receiverRequests.inc({ signal, protocol, outcome: outcome.code });
        callback(grpcError(outcome));
      }
    } catch (err) {
      logger.error({ err, signal, protocol }, 'cannot send the gRPC answer');
    } finally {
      metrics.receiverLatency.observe({ signal, protocol }, (performance.now() - started) / 1000);
    }
  }

  let address: { host: string; port: number } | undefined;
  let stopped: Promise<void> | undefined;
  let reloader: TlsReloader | undefined;

  return {
    async start() {
      if (address) return address;
      const { host, port } = config.endpoint;
      reloader = config.tls ? createTlsReloader(config.tls, { listener: 'grpc', metrics, logger }) : undefined;
      const bound = await new Promise<number>((resolve, reject) => {
        server.bindAsync(hostPort(host, port), serverCredentials(reloader), (err, p) => (err ? reject(err) : resolve(p)));
      }).catch((err: unknown) => {
        reloader?.close();
        throw err;
      });
      advertiseWideWindows(server);
      address = { host, port: bound };
      logger.info({ protocol, address: hostPort(host, bound), tls: config.tls !== undefined }, 'OTLP/gRPC receiver listening');
      return address;
    },

    stop(deadlineMs) {
      reloader?.close();
      stopped ??= new Promise<void>((resolve) => {
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve();
        };
        // Past the deadline, cut what is still open (in-flight calls see CANCELLED / UNAVAILABLE).
        const timer = setTimeout(() => {
          server.forceShutdown();
          finish();
        }, Math.max(0, deadlineMs));
        server.tryShutdown(() => finish());
      });
      return stopped;
    },
  };
}

/** The error a unary handler returns: code and message from the catalogue, Status in the trailer. */
function grpcError(outcome: Refusal): grpc.ServerErrorResponse | grpc.StatusObject {
  const answer = refusalAnswer(outcome);
  const metadata = new grpc.Metadata();
  // google.rpc.Status with RetryInfo for retryable codes: OTLP clients read the delay from here, and
  // RESOURCE_EXHAUSTED counts as retryable only when RetryInfo is present.
  metadata.set('grpc-status-details-bin', encodeRpcStatus(rpcStatusOf(answer)));
  return { code: answer.grpc, details: answer.message, metadata };
}
