// OTLP/HTTP receiver (fastify): POST /v1/{traces,metrics,logs} with binary protobuf or OTLP/JSON
// bodies, optionally gzip/deflate compressed. https://opentelemetry.io/docs/specs/otlp/#otlphttp
//
// Every answer, including fastify's own errors (body too large, bad media type, 404, wrong method),
// is a google.rpc.Status with the HTTP status from the catalogue, in the request's encoding: the
// response Content-Type is the request's (OTLP/HTTP response rules), JSON when the request's type is
// not one OTLP knows.
//
// Bounded before work (src/receive/types.ts): the body parser runs before a byte of the body is read.
// It identifies the caller (`open`: client certificate, bearer token) and refuses an unknown one
// without reading its body; it admits the body against the in-flight budget before buffering it (the
// whole Content-Length up front, else chunk by chunk), refuses a body whose Content-Length (or whose
// bytes so far) exceed maxBodyBytes with 413, and inflates it chunk by chunk, each chunk admitted and
// checked against maxBodyBytes (compression never makes a real OTLP payload larger, so one number
// bounds both). A refusal before the body was read to the end closes the connection.
//
// Drain (stop): the listener stops accepting; requests in flight are answered; a request that
// arrives on a kept-alive connection is answered SHUTTING_DOWN with `Connection: close` (the client
// closes it, no reset); connections still idle after a short grace are closed, the rest at the
// deadline.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { DEFAULT_HTTP_MAX_CONNECTIONS, type HttpReceiverConfig } from '../config/types.js';
import { rejected, retryable, type ErrorCode, type Refusal } from '../errors.js';
import type { PayloadEncoding } from '../process/protocol.js';
import { SIGNALS, SIGNAL_WIRE, type Signal } from '../signals.js';
import { createConnectionLimiter } from './connection-limits.js';
import { createBodyLag } from './body-lag.js';
import { ByteCollector, decompressBody } from './decompress.js';
import { errorBody, refusalAnswer, retryAfterSeconds, successBody } from './responses.js';
import { createTlsReloader, followReloads } from './tls.js';
import type { IngestOutcome, OpenRequest, Receiver, ReceiverDeps, RequestContext } from './types.js';

/** A refusal decided while parsing the body (before it was read to the end): the connection closes. */
class BodyRefusal extends Error {
  constructor(
    readonly refusal: Refusal,
    /** Already counted by the pipeline (identity, budget); else the receiver counts it. */
    readonly counted: boolean,
  ) {
    super(refusal.message);
  }
}

/** What the body parser leaves on the request for the handler. */
interface OtlpState {
  aborter: AbortController;
  open?: OpenRequest;
}
const OTLP = Symbol('otlp');
type WithOtlp = { [OTLP]?: OtlpState };

/** Idle keep-alive connections get this long after stop() to send one more request (answered SHUTTING_DOWN + close). */
const DRAIN_IDLE_GRACE_MS = 1000;

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
  const reloader = config.tls ? createTlsReloader(config.tls, { listener: 'http', metrics, logger, ...(deps.tlsAudit && { onAudit: deps.tlsAudit }) }) : undefined;
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
    // The drain closes idle connections itself, after a grace (see stop()).
    forceCloseConnections: false,
    exposeHeadRoutes: false,
  });
  createConnectionLimiter(app.server, {
    protocol,
    maxConnections: config.maxConnections ?? DEFAULT_HTTP_MAX_CONNECTIONS,
    metrics,
    logger,
  });

  // Only OTLP's media types are parsed, and only into a raw Buffer (decoding is the pipeline's job):
  // identify, admit, read, inflate, in that order (see the file comment).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(Object.keys(MEDIA_TYPES), (req: FastifyRequest, payload: Readable, done: (err: Error | null, body?: Buffer) => void) => {
    void readBody(req, payload).then(
      (body) => done(null, body),
      (err: Error) => done(err),
    );
  });

  // How late bodies arrive after their headers (body-lag.ts: a median, decaying in real time) and how
  // many are arriving: both count in shedEarly's wait.
  const bodyLag = createBodyLag();
  let receiving = 0;

  async function readBody(req: FastifyRequest, payload: Readable): Promise<Buffer> {
    const signal = signalOfUrl(req.url);
    const state = (req as unknown as WithOtlp)[OTLP];
    if (signal === undefined || state === undefined) throw new BodyRefusal(rejected('NOT_FOUND'), false);
    if (stopping) throw new BodyRefusal(retryable('SHUTTING_DOWN'), false);
    // Overload shedding before the body is read: a request the worker pool could not take in time
    // (deps.shedEarly, counting how late bodies have been arriving and how many are arriving) is
    // refused at once, its body never buffered (docs/guides/overload.md).
    const shed = deps.shedEarly?.(undefined, bodyLag.current(performance.now()), receiving);
    if (shed) throw new BodyRefusal(shed, false);
    const opened = deps.open(signal, requestContext(req, state.aborter.signal));
    if (opened.status !== 'ok') throw new BodyRefusal(opened, true);
    const request = opened.request;
    state.open = request;
    const max = config.maxBodyBytes;
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && declared > max) {
      throw new BodyRefusal(rejected('PAYLOAD_TOO_LARGE', `the request body exceeds ${max} bytes`), false);
    }
    if (declared !== undefined) {
      const refused = request.grow(declared);
      if (refused) throw new BodyRefusal(refused, true);
    }
    const bodyStarted = performance.now();
    receiving++;
    const raw = await new Promise<Buffer>((resolve, reject) => {
      // With a Content-Length the body is copied into one buffer of that size as it arrives.
      const collected = new ByteCollector(declared);
      let total = 0;
      const fail = (err: Error): void => {
        // Nothing more is kept: the rest is discarded as it arrives (a retryable refusal keeps the
        // connection, whose next request starts after this body) or the connection closes (see the
        // error handler).
        payload.off('data', onData);
        payload.resume();
        reject(err);
      };
      const onData = (chunk: Buffer): void => {
        total += chunk.length;
        if (total > max || (declared !== undefined && total > declared)) {
          return fail(new BodyRefusal(rejected('PAYLOAD_TOO_LARGE', `the request body exceeds ${max} bytes`), false));
        }
        if (declared === undefined) {
          const refused = request.grow(chunk.length);
          if (refused) return fail(new BodyRefusal(refused, true));
        }
        collected.push(chunk);
      };
      payload.on('data', onData);
      payload.once('error', reject);
      payload.once('end', () => resolve(collected.result()));
    }).finally(() => {
      receiving--;
      const arrivedAt = performance.now();
      bodyLag.record(arrivedAt - bodyStarted, arrivedAt);
    });
    // Chunked bodies were admitted as they came; a declared length shorter than announced gives back the rest.
    if (declared !== undefined && raw.length < declared) request.shrink(declared - raw.length);
    const inflated = await decompressBody(raw, req.headers['content-encoding'], max, request);
    if (!('ok' in inflated)) throw new BodyRefusal(inflated, inflated.code === 'OVERLOADED');
    if (inflated.body !== raw) request.shrink(raw.length);
    return inflated.body;
  }

  function countReceiverRefusal(signal: Signal | 'unknown', code: ErrorCode): void {
    metrics.receiverRefusedRequests.inc({ signal, tenant: 'unknown', protocol, reason: code });
  }

  function sendRefusal(reply: FastifyReply, outcome: Refusal, media: MediaType): FastifyReply {
    const answer = refusalAnswer(outcome);
    reply.code(answer.http).header('content-type', media.essence);
    if (answer.retryAfterMs !== undefined) reply.header('retry-after', retryAfterSeconds(answer.retryAfterMs));
    if (stopping || CLOSE_AFTER.has(answer.code)) reply.header('connection', 'close');
    return reply.send(asBuffer(errorBody(answer, media.encoding)));
  }

  /** Answer a refusal the receiver decided itself (not the pipeline): counted here, tenant unknown. */
  function refuseHere(req: FastifyRequest, reply: FastifyReply, outcome: Refusal, started?: number): FastifyReply {
    const signal = signalOfUrl(req.url);
    metrics.receiverRequests.inc({ signal: signal ?? 'unknown', protocol, outcome: outcome.code });
    countReceiverRefusal(signal ?? 'unknown', outcome.code);
    if (signal !== undefined && started !== undefined) {
      metrics.receiverLatency.observe({ signal, protocol }, (performance.now() - started) / 1000);
    }
    logger.debug({ signal, protocol, code: outcome.code, reason: outcome.message }, 'request refused by the receiver');
    return sendRefusal(reply, outcome, answerMediaType(req));
  }

  async function handleExport(signal: Signal, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const started = performance.now();
    const media = mediaTypeOf(req.headers['content-type']);
    // A POST without Content-Type and without a body reaches here unparsed.
    if (!media) return refuseHere(req, reply, unsupportedMediaType(req), started);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    metrics.receiverRequestBytes.inc({ signal, protocol }, body.length);
    const open = (req as unknown as WithOtlp)[OTLP]?.open;

    let outcome: IngestOutcome;
    if (stopping || open === undefined) {
      // A request on a kept-alive connection while the listener drains.
      outcome = retryable('SHUTTING_DOWN');
      countReceiverRefusal(signal, outcome.code);
    } else {
      try {
        outcome = await open.ingest(media.encoding, body);
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
    app.post(url, {
      // Before the body parser: the client-gone signal, and the release of the reservation however
      // the request ends (answered, refused, connection dropped).
      onRequest: (req, reply, next) => {
        const state: OtlpState = { aborter: new AbortController() };
        (req as unknown as WithOtlp)[OTLP] = state;
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) state.aborter.abort();
          state.open?.close();
        });
        next();
      },
      handler: (req, reply) => handleExport(signal, req, reply),
    });
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
    if (error instanceof BodyRefusal) {
      // Decided before the body was read to the end. A retryable refusal (OVERLOADED) comes from a
      // client worth keeping: the rest of its body is discarded unbuffered and it reads a clean 503
      // (closing under a body still being sent makes its TCP stack reset the connection before it
      // reads the answer). Any other refusal closes the connection: an unknown caller's or an
      // oversized body is not read on.
      if (error.refusal.status !== 'retryable') reply.header('connection', 'close');
      if (!error.counted) return refuseHere(req, reply, error.refusal);
      const signal = signalOfUrl(req.url);
      metrics.receiverRequests.inc({ signal: signal ?? 'unknown', protocol, outcome: error.refusal.code });
      return sendRefusal(reply, error.refusal, answerMediaType(req));
    }
    const outcome = frameworkRefusal(error, req, config.maxBodyBytes);
    if (outcome.code === 'INTERNAL') logger.error({ err: error, url: req.url }, 'OTLP/HTTP request failed');
    return refuseHere(req, reply, outcome);
  });

  function requestContext(req: FastifyRequest, signal: AbortSignal): RequestContext {
    const socket = req.raw.socket as TLSSocket;
    const ctx: RequestContext = {
      protocol,
      remoteAddress: socket.remoteAddress,
      headers: requestHeaders(req.headers),
      signal,
    };
    // For the tenancy stage: only a certificate the handshake verified against the client CA (as
    // grpc-js does); without requireClientCert an unverified certificate gets through the handshake.
    if (socket.encrypted && socket.authorized) {
      const cert = socket.getPeerCertificate();
      if (cert && cert.raw) ctx.peerCertificate = cert;
    }
    return ctx;
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
        // node's server.close() (which app.close() calls) destroys idle keep-alive connections at once,
        // racing with a request the client is sending on one: the client sees ECONNRESET. Instead they
        // get a grace in which such a request is answered SHUTTING_DOWN + Connection: close; then the
        // ones still idle are closed, and at the deadline whatever remains.
        const server = app.server;
        const closeIdle = server.closeIdleConnections.bind(server);
        server.closeIdleConnections = () => undefined;
        const grace = setTimeout(closeIdle, Math.min(DRAIN_IDLE_GRACE_MS, Math.max(0, deadlineMs)));
        const timer = setTimeout(() => server.closeAllConnections(), Math.max(0, deadlineMs));
        try {
          await app.close();
        } finally {
          clearTimeout(grace);
          clearTimeout(timer);
        }
      })();
      return stopped;
    },
  };
}
