// OTLP/gRPC receiver: the three collector services' unary Export, served over node:http2 directly.
// https://opentelemetry.io/docs/specs/otlp/#otlpgrpc,
// https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
//
// Why not grpc-js's server: it reads every data frame of a call into its StreamDecoder, buffers the
// whole message and inflates it (up to grpc.max_receive_message_length) before any handler or
// interceptor sees it (grpc-node packages/grpc-js/src/server-interceptors.ts, handleDataFrame and
// decompressMessage), so the gateway could not refuse an unknown caller before its body arrived nor
// admit bytes against the in-flight budget before buffering them (DESIGN.md: bounded before work),
// and it has no connection limits (preface timeout, idle timeout, max connections). A unary call is
// small enough to serve by hand:
//
//   headers  → path, content-type, grpc-encoding, grpc-timeout checked; the caller identified (`open`)
//   5 bytes  → compressed flag + message length: the length is admitted before the message is buffered
//   message  → inflated chunk by chunk (each chunk admitted), then `ingest`
//   answer   → HEADERS, one length-prefixed Export*ServiceResponse, trailers grpc-status 0; a refusal
//              is trailers-only: grpc-status, grpc-message and grpc-status-details-bin (google.rpc.Status
//              with RetryInfo on retryable codes, which OTLP clients read the delay from).
// A refusal before the body is complete ends the stream with RST_STREAM(NO_ERROR) after the trailers
// (RFC 9113 §8.1: the server needs no more of the request), so the rest is never read.
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_GRPC_LIMITS, type GrpcConnectionLimits, type GrpcReceiverConfig } from '../config/types.js';
import { GrpcCode, rejected, retryable, type ErrorCode, type Refusal } from '../errors.js';
import { encodeRpcStatus } from '../rpc-status.js';
import { SIGNALS, SIGNAL_WIRE, type Signal } from '../signals.js';
import { createConnectionLimiter } from './connection-limits.js';
import { createBodyLag } from './body-lag.js';
import { decompressBody } from './decompress.js';
import { encodeExportResponse, refusalAnswer, rpcStatusOf } from './responses.js';
import { createTlsReloader, followReloads, tlsServerOptions, type TlsReloader } from './tls.js';
import type { IngestOutcome, OpenRequest, Receiver, ReceiverDeps, RequestContext } from './types.js';

const MiB = 1024 * 1024;

/**
 * HTTP/2 flow-control windows the receiver advertises. nghttp2's defaults are 64 KiB per stream and
 * per connection, so a client sending a 290 KB OTLP request stalls for a WINDOW_UPDATE round trip every
 * 64 KiB; with these windows a request arrives in one go (measured: a third less CPU per 290 KB message
 * in the receiving process). Memory stays bounded: every byte is admitted before it is buffered, and the
 * connection window caps what one connection can have unread.
 * https://httpwg.org/specs/rfc9113.html#FlowControl
 */
export const STREAM_WINDOW_BYTES = 1 * MiB;
export const CONNECTION_WINDOW_BYTES = 4 * MiB;

/** Calls in progress per connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
const MAX_CONCURRENT_STREAMS = 1000;
/** Server pings on a connection every 5 minutes; one unanswered for 20 s drops the connection. */
const KEEPALIVE_TIME_MS = 300_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;
/** Client pings closer than the minimum interval allowed before the connection is closed (gRPC's). */
const MAX_PING_STRIKES = 2;

const SIGNAL_BY_PATH = new Map<string, Signal>(SIGNALS.map((s) => [SIGNAL_WIRE[s].grpcPath, s]));
const ACCEPT_ENCODING = 'identity,deflate,gzip';

const { NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE } = http2.constants;

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** grpc-timeout: at most 8 digits and a unit (PROTOCOL-HTTP2.md); undefined when absent or invalid. */
/** A header list's size as HTTP/2 counts it (RFC 9113 §6.5.2: name + value + 32 per field). */
export function headerListBytes(headers: http2.IncomingHttpHeaders): number {
  let n = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) n += name.length + String(v).length + 32;
  }
  return n;
}

export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unitMs = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[m[2] as 'H'];
  return n * unitMs;
}

/** grpc-message is percent-encoded: bytes outside printable ASCII, and '%' itself. */
export function percentEncode(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The request's metadata as lower-cased string headers (pseudo-headers and `-bin` entries left out). */
function metadataHeaders(headers: http2.IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(':') || key.endsWith('-bin') || value === undefined) continue;
    out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The answer to a call: its trailers, for a trailers-only response or after the message. */
function statusTrailers(outcome: Refusal): http2.OutgoingHttpHeaders {
  const answer = refusalAnswer(outcome);
  return {
    'grpc-status': String(answer.grpc),
    'grpc-message': percentEncode(answer.message),
    // Binary metadata is base64, emitted unpadded (PROTOCOL-HTTP2.md).
    'grpc-status-details-bin': encodeRpcStatus(rpcStatusOf(answer)).toString('base64').replace(/=+$/, ''),
  };
}

/** A gRPC status outside the catalogue's codes (transport-level answers). */
function rawStatus(code: number, message: string): http2.OutgoingHttpHeaders {
  return { 'grpc-status': String(code), 'grpc-message': percentEncode(message) };
}

export function createGrpcReceiver(config: GrpcReceiverConfig, deps: ReceiverDeps): Receiver {
  const { metrics, logger } = deps;
  const protocol = 'grpc' as const;
  const limits: GrpcConnectionLimits = { ...DEFAULT_GRPC_LIMITS };
  for (const key of Object.keys(DEFAULT_GRPC_LIMITS) as (keyof GrpcConnectionLimits)[]) {
    const v = config[key];
    if (v !== undefined) limits[key] = v;
  }
  let stopping = false;
  let reloader: TlsReloader | undefined;
  let server: http2.Http2Server | http2.Http2SecureServer | undefined;
  const sessions = new Set<http2.ServerHttp2Session>();
  /** The listener's TCP sockets by peer address:port (see onSession). */
  const rawSockets = new Map<string, Socket>();
  let limiter: ReturnType<typeof createConnectionLimiter>;

  function countRefusal(signal: Signal | 'unknown', code: ErrorCode, tenant = 'unknown'): void {
    metrics.receiverRequests.inc({ signal, protocol, outcome: code });
    metrics.receiverRefusedRequests.inc({ signal, tenant, protocol, reason: code });
  }

  // ---- connections -------------------------------------------------------------------------------

  function onSession(session: http2.ServerHttp2Session): void {
    sessions.add(session);
    try {
      session.setLocalWindowSize(Math.max(STREAM_WINDOW_BYTES, CONNECTION_WINDOW_BYTES));
    } catch {
      // A session already closing: nothing to tune.
    }
    const timers = new Set<NodeJS.Timeout>();
    const after = (ms: number, fn: () => void): NodeJS.Timeout => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      t.unref();
      timers.add(t);
      return t;
    };
    const clear = (t: NodeJS.Timeout | undefined): void => {
      if (t) {
        clearTimeout(t);
        timers.delete(t);
      }
    };
    // A session whose client never sent the preface does not close its socket when destroyed, and
    // the session only exposes a proxy that refuses destroy(): the TCP socket is found by its peer.
    const remoteAddress = session.socket?.remoteAddress;
    const key = `${remoteAddress}:${session.socket?.remotePort}`;
    const cut = (reason: Parameters<typeof limiter.closed>[0], code = NGHTTP2_NO_ERROR): void => {
      limiter.closed(reason, { remoteAddress });
      try {
        if (!session.destroyed) session.goaway(code);
      } catch {
        // Nothing more can be sent; the socket goes below.
      }
      // The socket goes once the session has let its GOAWAY out (Node 24 drops a frame still queued
      // when the socket is destroyed in the same tick, and the client sees a bare close).
      const socket = rawSockets.get(key);
      session.once('close', () => socket?.destroy());
      session.destroy();
    };

    // The client preface (its SETTINGS frame) must arrive within the handshake timeout (the TLS
    // handshake has its own, the server's handshakeTimeout).
    let preface: NodeJS.Timeout | undefined = after(limits.handshakeTimeoutMs, () => cut('handshake_timeout'));
    session.once('remoteSettings', () => {
      clear(preface);
      preface = undefined;
    });

    // Idle: no call in progress for idleTimeout → GOAWAY (graceful: a racing call still completes).
    let active = 0;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      clear(idle);
      idle = after(limits.idleTimeoutMs, () => {
        if (active > 0 || session.closed) return;
        limiter.closed('idle');
        session.close();
      });
    };
    armIdle();
    session.on('stream', (stream) => {
      active++;
      clear(idle);
      idle = undefined;
      pingStrikes = 0;
      stream.once('close', () => {
        active--;
        if (active === 0 && !session.closed) armIdle();
      });
    });

    // Max connection age (with jitter ±10 % so a fleet's connections do not all cycle at once), then a grace.
    if (limits.maxConnectionAgeMs > 0) {
      const age = limits.maxConnectionAgeMs * (0.9 + Math.random() * 0.2);
      after(age, () => {
        if (session.closed) return;
        limiter.closed('max_age');
        session.close();
        after(limits.maxConnectionAgeGraceMs, () => session.destroy());
      });
    }

    // Keepalive enforcement: pings closer together than the minimum interval are strikes (reset by
    // every new call); past MAX_PING_STRIKES the connection is closed with ENHANCE_YOUR_CALM.
    let lastPing = 0;
    let pingStrikes = 0;
    session.on('ping', () => {
      const now = Date.now();
      if (lastPing !== 0 && now - lastPing < limits.keepaliveMinPingIntervalMs && ++pingStrikes > MAX_PING_STRIKES) {
        cut('too_many_pings', NGHTTP2_ENHANCE_YOUR_CALM);
        return;
      }
      lastPing = now;
    });

    // Server keepalive: a connection whose peer stops answering pings is dropped.
    const keepalive = setInterval(() => {
      if (session.closed || session.destroyed) return;
      const timeout = after(KEEPALIVE_TIMEOUT_MS, () => cut('keepalive_timeout'));
      try {
        session.ping((err) => {
          if (!err) clear(timeout);
        });
      } catch {
        clear(timeout);
      }
    }, KEEPALIVE_TIME_MS);
    keepalive.unref();

    session.on('error', (err) => logger.debug({ protocol, err }, 'HTTP/2 session error'));
    session.once('close', () => {
      sessions.delete(session);
      clearInterval(keepalive);
      for (const t of timers) clearTimeout(t);
      timers.clear();
    });
    if (stopping) session.close();
  }

  // ---- calls -------------------------------------------------------------------------------------

  // How late messages arrive after their headers (body-lag.ts: a median, decaying in real time) and how
  // many are arriving: both count in shedEarly's wait.
  const bodyLag = createBodyLag();
  let receiving = 0;

  /**
   * After an answer sent while the request is still arriving: RST_STREAM(NO_ERROR) tells the client to
   * stop sending (RFC 9113 §8.1). Sent on the next turn of the event loop, after the answer's frames:
   * Node 26 writes a reset queued in the same tick ahead of the HEADERS, and the client then sees a call
   * ended without a status.
   */
  function stopReading(stream: http2.ServerHttp2Stream): void {
    if (stream.readableEnded) return;
    setImmediate(() => {
      if (!stream.destroyed && !stream.closed) stream.close(NGHTTP2_NO_ERROR);
    });
  }

  function onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const started = performance.now();
    const path = headers[':path'] ?? '';
    const signal = SIGNAL_BY_PATH.get(path);
    let answered = false;
    let open: OpenRequest | undefined;
    const aborter = new AbortController();

    stream.on('error', (err) => logger.debug({ protocol, err }, 'HTTP/2 stream error'));
    stream.once('close', () => {
      if (!answered) aborter.abort();
      open?.close();
    });

    /** Trailers-only answer; a stream whose request is still arriving is then reset with NO_ERROR. */
    const answerTrailersOnly = (trailers: http2.OutgoingHttpHeaders): void => {
      if (answered) return;
      answered = true;
      open?.close();
      if (stream.destroyed || stream.closed) return;
      try {
        stream.respond({ [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', ...trailers }, { endStream: true });
        stopReading(stream);
      } catch (err) {
        logger.debug({ protocol, err }, 'cannot send the gRPC answer');
      }
    };
    const refuse = (outcome: Refusal, countHere: boolean): void => {
      if (countHere) countRefusal(signal ?? 'unknown', outcome.code);
      else metrics.receiverRequests.inc({ signal: signal ?? 'unknown', protocol, outcome: outcome.code });
      if (signal) metrics.receiverLatency.observe({ signal, protocol }, (performance.now() - started) / 1000);
      answerTrailersOnly(statusTrailers(outcome));
    };

    // Not a gRPC call: HTTP 415 (PROTOCOL-HTTP2.md: content-type must start with application/grpc).
    const contentType = headers['content-type'] ?? '';
    if (headers[':method'] !== 'POST' || !/^application\/grpc(\+proto)?(;|$)/.test(contentType)) {
      answered = true;
      stream.respond({ [HTTP2_HEADER_STATUS]: headers[':method'] !== 'POST' ? 405 : 415 }, { endStream: true });
      stopReading(stream);
      return;
    }
    if (signal === undefined) {
      countRefusal('unknown', 'NOT_FOUND');
      answerTrailersOnly(rawStatus(GrpcCode.UNIMPLEMENTED, `unknown method ${path}`));
      return;
    }
    // node advertises maxHeaderListSize but does not enforce it: a larger header list arrives whole
    // (bounded only by maxSessionMemory), so the limit is applied here, before anything else is done.
    const headerBytes = headerListBytes(headers);
    if (headerBytes > limits.maxHeaderListBytes) {
      return refuse(rejected('HEADERS_TOO_LARGE', `the call metadata is ${headerBytes} bytes, over receivers.grpc.maxHeaderListBytes (${limits.maxHeaderListBytes})`), true);
    }
    if (stopping) return refuse(retryable('SHUTTING_DOWN'), true);
    const encoding = (headers['grpc-encoding'] as string | undefined)?.trim().toLowerCase() ?? 'identity';
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      countRefusal(signal, 'UNSUPPORTED_ENCODING');
      answerTrailersOnly({
        ...statusTrailers(rejected('UNSUPPORTED_ENCODING', `unsupported grpc-encoding "${encoding}"; use gzip, deflate or identity`)),
        'grpc-accept-encoding': ACCEPT_ENCODING,
      });
      return;
    }

    const socket = stream.session?.socket as TLSSocket | undefined;
    const ctx: RequestContext = { protocol, remoteAddress: socket?.remoteAddress, headers: metadataHeaders(headers), signal: aborter.signal };
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout'] as string | undefined);
    if (timeoutMs !== undefined) ctx.deadlineAt = Date.now() + timeoutMs;
    // Only a certificate the handshake verified against the client CA (without requireClientCert an
    // unverified certificate gets through the handshake).
    if (socket?.encrypted && socket.authorized) {
      const cert = socket.getPeerCertificate();
      if (cert && cert.raw) ctx.peerCertificate = cert;
    }

    // Overload shedding before the message is read: a call the worker pool could not take before its
    // deadline (deps.shedEarly, counting how late messages have been arriving and how many are arriving)
    // is answered now, its body never read (docs/guides/overload.md).
    const shed = deps.shedEarly?.(ctx.deadlineAt, bodyLag.current(performance.now()), receiving);
    if (shed) return refuse(shed, true);

    // Headers time: identify before a byte of the body is read. A refused caller's body is never read.
    let opened: ReturnType<ReceiverDeps['open']>;
    try {
      opened = deps.open(signal, ctx);
    } catch (err) {
      logger.error({ err, signal, protocol }, 'ingest failed');
      return refuse(rejected('INTERNAL'), false);
    }
    if (opened.status !== 'ok') return refuse(opened, false);
    const request = opened.request;
    open = request;

    // The body: one length-prefixed message. The prefix is admitted before the message is buffered.
    const header = Buffer.alloc(5);
    let headerFill = 0;
    let message: Buffer | undefined;
    let messageFill = 0;
    let compressed = false;
    let messages = 0;

    const onData = (chunk: Buffer): void => {
      let at = 0;
      while (at < chunk.length && !answered) {
        if (message === undefined) {
          const n = Math.min(5 - headerFill, chunk.length - at);
          chunk.copy(header, headerFill, at, at + n);
          headerFill += n;
          at += n;
          if (headerFill < 5) return;
          if (++messages > 1) return refuse(rejected('MALFORMED_PAYLOAD', 'a unary Export call carries exactly one message'), true);
          const flag = header[0]!;
          const length = header.readUInt32BE(1);
          if (flag > 1) return refuse(rejected('MALFORMED_FRAME', `invalid gRPC message flag ${flag}`), true);
          compressed = flag === 1;
          // gRPC: a compressed message without a message encoding is a protocol error (INTERNAL).
          if (compressed && encoding === 'identity') {
            return refuse(rejected('MALFORMED_FRAME', 'the message is flagged compressed but the call has no grpc-encoding'), true);
          }
          if (length > config.maxMessageBytes) {
            return refuse(rejected('PAYLOAD_TOO_LARGE', `the message (${length} bytes) exceeds ${config.maxMessageBytes} bytes`), true);
          }
          const refused = request.grow(length);
          if (refused) return refuse(refused, false);
          metrics.receiverRequestBytes.inc({ signal, protocol }, length);
          message = Buffer.allocUnsafe(length);
          messageFill = 0;
        }
        const n = Math.min(message.length - messageFill, chunk.length - at);
        chunk.copy(message, messageFill, at, at + n);
        messageFill += n;
        at += n;
        if (messageFill === message.length) {
          // Complete; a second message would be counted by the next prefix.
          headerFill = 0;
          complete = message;
          message = undefined;
        }
      }
    };
    let complete: Buffer | undefined;
    receiving++;
    let arrived = false;
    const bodyArrived = (): void => {
      if (arrived) return;
      arrived = true;
      receiving--;
      const arrivedAt = performance.now();
      bodyLag.record(arrivedAt - started, arrivedAt);
    };
    stream.once('close', bodyArrived);
    stream.on('data', onData);
    stream.once('end', () => {
      bodyArrived();
      if (answered) return;
      if (message !== undefined || headerFill !== 0 || complete === undefined) {
        return refuse(rejected('MALFORMED_FRAME', complete === undefined && headerFill === 0 && message === undefined ? 'the call carries no message' : 'the message is truncated'), true);
      }
      void finish(complete);
    });

    async function finish(raw: Buffer): Promise<void> {
      let body = raw;
      if (compressed) {
        const inflated = await decompressBody(raw, encoding, config.maxMessageBytes, request);
        request.shrink(raw.length);
        if (!('ok' in inflated)) {
          // OVERLOADED from the budget is the pipeline's count; the others are the receiver's.
          return refuse(inflated, inflated.code !== 'OVERLOADED');
        }
        body = inflated.body;
      }
      if (answered) return; // the client went away while inflating
      let outcome: IngestOutcome;
      try {
        outcome = await request.ingest('protobuf', body);
      } catch (err) {
        // Never crash on a request: a throwing stage is a bug, answered as INTERNAL and logged.
        logger.error({ err, signal, protocol }, 'ingest failed');
        outcome = rejected('INTERNAL');
      }
      if (outcome.status !== 'ok') return refuse(outcome, false);
      answered = true;
      metrics.receiverRequests.inc({ signal: signal!, protocol, outcome: 'ok' });
      metrics.receiverLatency.observe({ signal: signal!, protocol }, (performance.now() - started) / 1000);
      if (stream.destroyed || stream.closed) return;
      const response = encodeExportResponse(outcome);
      const frame = Buffer.allocUnsafe(5 + response.length);
      frame[0] = 0;
      frame.writeUInt32BE(response.length, 1);
      response.copy(frame, 5);
      try {
        stream.respond({ [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', 'grpc-accept-encoding': ACCEPT_ENCODING }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(frame);
      } catch (err) {
        logger.error({ err, signal, protocol }, 'cannot send the gRPC answer');
      }
    }
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  let address: { host: string; port: number } | undefined;
  let stopped: Promise<void> | undefined;

  return {
    async start() {
      if (address) return address;
      const { host, port } = config.endpoint;
      reloader = config.tls ? createTlsReloader(config.tls, { listener: 'grpc', metrics, logger, ...(deps.tlsAudit && { onAudit: deps.tlsAudit }) }) : undefined;
      const options: http2.ServerOptions = {
        settings: {
          initialWindowSize: STREAM_WINDOW_BYTES,
          maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
          maxHeaderListSize: limits.maxHeaderListBytes,
        },
        maxHeaderListPairs: 1024,
        // node refuses new streams (ENHANCE_YOUR_CALM) once a session holds more than this in its own
        // buffers (default 10 MB, easily reached by a few large calls in flight); what a session can
        // hold unread is bounded by the connection window anyway, and the message bytes by admission.
        maxSessionMemory: 64,
      };
      const s = reloader
        ? http2.createSecureServer({ ...options, ...reloader.serverOptions(), ALPNProtocols: ['h2'], allowHTTP1: false, handshakeTimeout: limits.handshakeTimeoutMs })
        : http2.createServer(options);
      if (reloader) followReloads(s as http2.Http2SecureServer, reloader);
      server = s;
      limiter = createConnectionLimiter(s, { protocol, maxConnections: limits.maxConnections, metrics, logger });
      s.on('connection', (socket: Socket) => {
        const key = `${socket.remoteAddress}:${socket.remotePort}`;
        rawSockets.set(key, socket);
        socket.once('close', () => {
          if (rawSockets.get(key) === socket) rawSockets.delete(key);
        });
      });
      s.on('session', onSession);
      s.on('stream', onStream);
      // A TLS handshake that fails or times out (tls 'tlsClientError'): counted, never a crash.
      s.on('tlsClientError' as 'session', ((err: NodeJS.ErrnoException) => {
        if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') limiter.closed('handshake_timeout');
      }) as never);
      s.on('sessionError', (err) => logger.debug({ protocol, err }, 'HTTP/2 session error'));
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(port, host, () => {
            s.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        reloader?.close();
        throw err;
      }
      s.on('error', (err) => logger.error({ protocol, err }, 'OTLP/gRPC listener error'));
      const bound = s.address();
      address = { host, port: typeof bound === 'object' && bound ? bound.port : port };
      logger.info({ protocol, address: hostPort(host, address.port), tls: config.tls !== undefined }, 'OTLP/gRPC receiver listening');
      return address;
    },

    stop(deadlineMs) {
      stopped ??= new Promise<void>((resolve) => {
        stopping = true;
        reloader?.close();
        const s = server;
        if (!s) return resolve();
        // GOAWAY to every connection: calls in flight complete, new ones go elsewhere; past the
        // deadline what is still open is cut (the clients see UNAVAILABLE and retry).
        const timer = setTimeout(() => {
          for (const session of sessions) session.destroy();
        }, Math.max(0, deadlineMs));
        s.close(() => {
          clearTimeout(timer);
          resolve();
        });
        for (const session of sessions) session.close();
      });
      return stopped;
    },
  };
}
