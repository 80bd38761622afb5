// OTLP/HTTP receiver (fastify): POST /v1/{traces,metrics,logs} with binary protobuf or OTLP/JSON
// bodies, optionally gzip/deflate compressed. https://opentelemetry.io/docs/specs/otlp/#otlphttp
//
// Every answer, including fastify's own errors (body too large, bad media type, 404, wrong method),
// is a google.rpc.Status with the HTTP status from the catalogue, in the request's encoding: the
// response Content-Type is the request's (OTLP/HTTP response rules), JSON when the request's type is
// not one OTLP knows.
//
// Size limits: fastify reads the raw (possibly compressed) body up to maxBodyBytes, then
// decompressBody inflates it up to maxBodyBytes. Compression never makes a real OTLP payload larger,
// so one number bounds both; a body whose compressed form alone exceeds the limit gets 413 without
// being read to the end.
import type { IncomingHttpHeaders } from 'node:http';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import type { HttpReceiverConfig } from '../config/types.js';
import { rejected, retryable, type ErrorCode, type Refusal } from '../errors.js';
import type { PayloadEncoding } from '../process/protocol.js';
import { SIGNALS, SIGNAL_WIRE, type Signal } from '../signals.js';
import { decompressBody } from './decompress.js';
import { errorBody, refusalAnswer, retryAfterSeconds, successBody } from './responses.js';
import { createTlsReloader, followReloads } from './tls.js';
import type { IngestOutcome, Receiver, ReceiverDeps, RequestContext } from './types.js';

/** Server timeouts; every one bounds how long a slow or idle client can hold a connection. */
export interface HttpServerTimeouts {
  /**
   * Idle keep-alive connections are closed after this. Above the 60 s idle timeout of common load
   * balancers, so the balancer (not the gateway) closes first and never sends on a closed socket.
   */
  keepAliveTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this (slow-loris bound). */
  requestTimeoutMs: number;
  /** The headers must arrive within this. */
  headersTimeoutMs: number;
  /** A socket with no activity at all for this long is destroyed. */
  connectionTimeoutMs: number;
  /** How often Node checks the request / headers timeouts. */
  checkIntervalMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpServerTimeouts = {
  keepAliveTimeoutMs: 65_000,
  requestTimeoutMs: 60_000,
  headersTimeoutMs: 20_000,
  connectionTimeoutMs: 120_000,
  checkIntervalMs: 5_000,
};

/** OTLP/HTTP media types (essence, lower-case) and the payload encoding each carries. */
const MEDIA_TYPES: Record<string, PayloadEncoding> = {
  'application/x-protobuf': 'protobuf',
  // Not in the spec's text, but sent by some clients; the answer echoes it.
  'application/protobuf': 'protobuf',
  'application/json': 'json',
};

interface MediaType {
  essence: string;
  encoding: PayloadEncoding;
}

function mediaTypeOf(header: string | undefined): MediaType | undefined {
  if (header === undefined) return undefined;
  const essence = header.split(';', 1)[0]!.trim().toLowerCase();
  const encoding = MEDIA_TYPES[essence];
  return encoding ? { essence, encoding } : undefined;
}

/** The answer's Content-Type: the request's when it is an OTLP type, else JSON. */
function answerMediaType(req: FastifyRequest): MediaType {
  return mediaTypeOf(req.headers['content-type']) ?? { essence: 'application/json', encoding: 'json' };
}

const SIGNAL_BY_PATH = new Map<string, Signal>(SIGNALS.map((s) => [SIGNAL_WIRE[s].httpPath, s]));

function signalOfUrl(url: string): Signal | undefined {
  const q = url.indexOf('?');
  return SIGNAL_BY_PATH.get(q === -1 ? url : url.slice(0, q));
}

function requestHeaders(headers: IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(headers)) {
    out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Fastify's own errors in the catalogue's terms. */
function frameworkRefusal(error: FastifyError, req: FastifyRequest, maxBodyBytes: number): Refusal {
  const status = error.statusCode ?? 500;
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
    return rejected('PAYLOAD_TOO_LARGE', `the request body exceeds ${maxBodyBytes} bytes`);
  }
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) return unsupportedMediaType(req);
  if (status === 404) return rejected('NOT_FOUND');
  if (status === 405) return rejected('METHOD_NOT_ALLOWED');
  if (status >= 400 && status < 500) return rejected('MALFORMED_PAYLOAD', error.message);
  return rejected('INTERNAL');
}

function unsupportedMediaType(req: FastifyRequest): Refusal {
  const got = req.headers['content-type'];
  return rejected(
    'UNSUPPORTED_MEDIA_TYPE',
    got === undefined
      ? 'missing Content-Type; use application/x-protobuf or application/json'
      : `unsupported Content-Type "${got}"; use application/x-protobuf or application/json`,
  );
}

/**
 * Bodies go out as Buffers: fastify would append "; charset=utf-8" to a string's Content-Type, and
 * OTLP asks for exactly the request's type.
 */
function asBuffer(body: Buffer | string): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

/** Refusals decided before the body was (fully) read: close the connection instead of draining it. */
const CLOSE_AFTER: ReadonlySet<ErrorCode> = new Set([
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
]);

export function createHttpReceiver(
  config: HttpReceiverConfig,
  deps: ReceiverDeps,
  timeouts: Partial<HttpServerTimeouts> = {},
): Receiver {
  const { metrics, logger } = deps;
  const protocol = 'http' as const;
  const t = { ...DEFAULT_HTTP_TIMEOUTS, ...timeouts };
  let stopping = false;

  // TLS (optional): node's https server takes the same timeout options as http's; the certificate
  // follows the files on disk (tls.ts), new handshakes only.
  const reloader = config.tls ? createTlsReloader(config.tls, { listener: 'http', metrics, logger }) : undefined;
  const serverOptions = {
    requestTimeout: t.requestTimeoutMs,
    headersTimeout: Math.min(t.headersTimeoutMs, t.requestTimeoutMs),
    connectionsCheckingInterval: t.checkIntervalMs,
  };
  // fastify's types pick the server class from the options; the routes do not depend on it, so the
  // https variant is typed as the plain one (`object` spreads no typed keys).
  const httpsOptions: object = reloader ? { https: { ...serverOptions, ...reloader.serverOptions() } } : {};
  const app = Fastify({
    ...httpsOptions,
    // No fastify logger (so no per-request logging, which costs throughput); the receiver logs
    // what matters itself through the gateway logger.
    logger: false,
    bodyLimit: config.maxBodyBytes,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    connectionTimeout: t.connectionTimeoutMs,
    // Node requires headersTimeout <= requestTimeout (fastify sets requestTimeout only after creating
    // the server, so it is passed here too). Ignored by fastify when `https` is set (passed there).
    http: serverOptions,
    // fastify's own 503 while closing is not a google.rpc.Status; the handler answers SHUTTING_DOWN.
    return503OnClosing: false,
    exposeHeadRoutes: false,
  });

  // Only OTLP's media types are parsed, and only into a raw Buffer (decoding is the pipeline's job).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    Object.keys(MEDIA_TYPES),
    { parseAs: 'buffer', bodyLimit: config.maxBodyBytes },
    (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => done(null, body),
  );

  function countReceiverRefusal(signal: Signal | 'unknown', code: ErrorCode): void {
    metrics.receiverRefusedRequests.inc({ signal, tenant: 'unknown', protocol, reason: code });
  }

  function sendRefusal(reply: FastifyReply, outcome: Refusal, media: MediaType, beforeBody = false): FastifyReply {
    const answer = refusalAnswer(outcome);
    reply.code(answer.http).header('content-type', media.essence);
    if (answer.retryAfterMs !== undefined) reply.header('retry-after', retryAfterSeconds(answer.retryAfterMs));
    if (stopping || beforeBody || CLOSE_AFTER.has(answer.code)) reply.header('connection', 'close');
    return reply.send(asBuffer(errorBody(answer, media.encoding)));
  }

  /** Answer a refusal the receiver decided itself (not the pipeline): counted here, tenant unknown. */
  function refuseHere(req: FastifyRequest, reply: FastifyReply, outcome: Refusal, started?: number, beforeBody = false): FastifyReply {
    const signal = signalOfUrl(req.url);
    metrics.receiverRequests.inc({ signal: signal ?? 'unknown', protocol, outcome: outcome.code });
    countReceiverRefusal(signal ?? 'unknown', outcome.code);
    if (signal !== undefined && started !== undefined) {
      metrics.receiverLatency.observe({ signal, protocol }, (performance.now() - started) / 1000);
    }
    logger.debug({ signal, protocol, code: outcome.code, reason: outcome.message }, 'request refused by the receiver');
    return sendRefusal(reply, outcome, answerMediaType(req), beforeBody);
  }

  /**
   * Overload shedding before the body is read (onRequest): a request the worker pool could not take in
   * time (deps.shedEarly) is refused with 503 + Retry-After and the connection closed, unread.
   */
  async function shedBeforeBody(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const now = performance.now();
    const lagMs = Math.max(0, lastBodyLagMs - (now - lastBodyLagAt));
    const refusal = stopping ? undefined : deps.shedEarly?.(undefined, lagMs, headersAt.size);
    if (refusal) return refuseHere(req, reply, refusal, undefined, true);
    // Received from now until the handler runs, or the response closes without it (client gone, 413).
    headersAt.set(req.raw, now);
    reply.raw.once('close', () => headersAt.delete(req.raw));
    return undefined;
  }

  // How late the bodies come: the last admitted request's time from headers to handler, less the time
  // since (a backlog drains in real time; nothing shed can keep the estimate up). Counted in the
  // expected wait of the next request, so a gateway that reads bodies late refuses before reading more.
  const headersAt = new Map<object, number>();
  let lastBodyLagMs = 0;
  let lastBodyLagAt = 0;
  function bodyArrived(req: FastifyRequest): void {
    const at = headersAt.get(req.raw);
    if (at === undefined) return;
    headersAt.delete(req.raw);
    lastBodyLagAt = performance.now();
    lastBodyLagMs = lastBodyLagAt - at;
  }

  async function handleExport(signal: Signal, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const started = performance.now();
    bodyArrived(req);
    const media = mediaTypeOf(req.headers['content-type']);
    // A POST without Content-Type and without a body reaches here unparsed.
    if (!media) return refuseHere(req, reply, unsupportedMediaType(req), started);
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const decompressed = await decompressBody(raw, req.headers['content-encoding'], config.maxBodyBytes);
    if (!('ok' in decompressed)) return refuseHere(req, reply, decompressed, started);
    const body = decompressed.body;
    metrics.receiverRequestBytes.inc({ signal, protocol }, body.length);

    let outcome: IngestOutcome;
    if (stopping) {
      // A request on a kept-alive connection while the listener drains.
      outcome = retryable('SHUTTING_DOWN');
      countReceiverRefusal(signal, outcome.code);
    } else {
      try {
        outcome = await deps.ingest(signal, media.encoding, body, requestContext(req, reply));
      } catch (err) {
        // Never crash on a request: a throwing stage is a bug, answered as INTERNAL and logged.
        logger.error({ err, signal, protocol }, 'ingest failed');
        outcome = rejected('INTERNAL');
      }
    }
    metrics.receiverRequests.inc({ signal, protocol, outcome: outcome.status === 'ok' ? 'ok' : outcome.code });
    metrics.receiverLatency.observe({ signal, protocol }, (performance.now() - started) / 1000);
    if (outcome.status !== 'ok') return sendRefusal(reply, outcome, media);
    reply.code(200).header('content-type', media.essence);
    if (stopping) reply.header('connection', 'close');
    return reply.send(asBuffer(successBody(signal, media.encoding, outcome)));
  }

  for (const signal of SIGNALS) {
    const url = SIGNAL_WIRE[signal].httpPath;
    app.post(url, { onRequest: shedBeforeBody }, (req, reply) => handleExport(signal, req, reply));
    // Other methods on an OTLP path: 405 from onRequest, before any body is parsed.
    app.route({
      method: ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url,
      onRequest: async (req, reply) => {
        reply.header('allow', 'POST');
        return refuseHere(req, reply, rejected('METHOD_NOT_ALLOWED'));
      },
      handler: async (_req, reply) => reply,
    });
  }

  app.setNotFoundHandler((req, reply) => refuseHere(req, reply, rejected('NOT_FOUND')));

  app.setErrorHandler((error: FastifyError, req, reply) => {
    const outcome = frameworkRefusal(error, req, config.maxBodyBytes);
    if (outcome.code === 'INTERNAL') logger.error({ err: error, url: req.url }, 'OTLP/HTTP request failed');
    return refuseHere(req, reply, outcome);
  });

  function requestContext(req: FastifyRequest, reply: FastifyReply): RequestContext {
    const socket = req.raw.socket as TLSSocket;
    const ctx: RequestContext = {
      protocol,
      remoteAddress: socket.remoteAddress,
      headers: requestHeaders(req.headers),
      // OTLP/HTTP carries no deadline; a client that gives up closes the connection (or, HTTP/2, the
      // stream), which closes the response before it was sent.
      signal: closedBeforeAnswer(reply),
    };
    // For the tenancy stage: only a certificate the handshake verified against the client CA (as
    // grpc-js does); without requireClientCert an unverified certificate gets through the handshake.
    if (socket.encrypted && socket.authorized) {
      const cert = socket.getPeerCertificate();
      if (cert && cert.raw) ctx.peerCertificate = cert;
    }
    return ctx;
  }

  /** Aborted when the response closes unsent: the client gave up (closed the connection or the stream). */
  function closedBeforeAnswer(reply: FastifyReply): AbortSignal {
    const gone = new AbortController();
    const res = reply.raw;
    if (res.destroyed || !res.socket || res.socket.destroyed) gone.abort();
    else res.once('close', () => res.writableFinished || gone.abort());
    return gone.signal;
  }

  let address: { host: string; port: number } | undefined;
  let stopped: Promise<void> | undefined;

  return {
    async start() {
      if (address) return address;
      const { host, port } = config.endpoint;
      if (reloader) followReloads(app.server as unknown as TlsServer, reloader);
      await app.listen({ host, port });
      const bound = app.server.address();
      address = { host, port: typeof bound === 'object' && bound ? bound.port : port };
      logger.info({ protocol, host, port: address.port, tls: reloader !== undefined }, 'OTLP/HTTP receiver listening');
      return address;
    },

    stop(deadlineMs) {
      stopped ??= (async () => {
        stopping = true;
        reloader?.close();
        // close() stops listening, closes idle keep-alive connections and waits for requests in
        // flight; past the deadline the remaining connections are cut.
        const timer = setTimeout(() => app.server.closeAllConnections(), Math.max(0, deadlineMs));
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopped;
    },
  };
}
