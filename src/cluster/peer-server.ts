// The peer listener (cluster.listen, default 0.0.0.0:4319): HTTP/2 over mutual TLS, for the other
// replicas only. A connection is accepted when the client presents a certificate signed by the
// cluster CA (the TLS layer refuses any other: requestCert + rejectUnauthorized) AND one of its SANs is
// in cluster.tls.peerNames; anything else is cut before a stream is read. The routes are registered by
// the cluster's parts: readiness and incidents (src/cluster/cluster.ts), forwarded trace spans
// (OTLP/gRPC Export, registered by the trace router) — each handler gets the verified peer identity.
//
// Bounds (the pattern of src/receive/connection-limits.ts): at most maxConnections sockets (more are
// closed by node before any byte is read), a TLS handshake within 10 s, an idle session closed after
// a minute, 100 concurrent streams per session, flow-control windows of 1 MiB per stream and 8 MiB per
// session, each stream cancelled after requestTimeout, and bodies
// read through readBody(), which refuses a declared or actual size over maxBodyBytes before buffering
// past it. The certificate files are reloaded when they change (src/receive/tls.ts).
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ClusterConfig } from '../config/sections/cluster.js';
import type { HostPort } from '../config/types.js';
import { createTlsReloader, followReloads, type TlsReloader } from '../receive/tls.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { createPeerNameMatcher } from './peer-names.js';

export type PeerRouteHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, peerId: string) => void | Promise<void>;

export interface PeerServer {
  /**
   * Serves `path` (exact match, any method) with `handler`; `peerId` is the verified identity of the
   * calling replica (the SAN that matched cluster.tls.peerNames). Routes may be added after start.
   */
  route(path: string, handler: PeerRouteHandler): void;
  /** Listens; resolves with the bound address. */
  start(): Promise<HostPort>;
  /** Closes the listener and every session. */
  stop(): Promise<void>;
  /** The largest body a route should buffer (cluster.maxBodyBytes). */
  readonly maxBodyBytes: number;
}

export interface PeerServerDeps {
  logger: Logger;
  metrics: GatewayMetrics;
  /** Shares the certificate reloader with the peer client (one watch of the files). */
  tls?: TlsReloader;
}

const HANDSHAKE_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 60_000;
const MAX_CONCURRENT_STREAMS = 100;
/** HTTP/2 flow-control windows of a peer's stream and session (bytes it may send before we read). */
const STREAM_WINDOW_BYTES = 1024 * 1024;
const SESSION_WINDOW_BYTES = 8 * 1024 * 1024;

/** The TLS settings of the cluster section in the listeners' form (the reloader reads and checks the files). */
export function clusterTlsReloader(config: ClusterConfig, deps: { logger: Logger; metrics: GatewayMetrics }): TlsReloader {
  return createTlsReloader(
    { certFile: config.tls.certFile, keyFile: config.tls.keyFile, clientCaFile: config.tls.caFile, requireClientCert: true, minVersion: config.tls.minVersion },
    { listener: 'cluster', metrics: deps.metrics, logger: deps.logger },
  );
}

export function createPeerServer(config: ClusterConfig, deps: PeerServerDeps): PeerServer {
  const { logger, metrics } = deps;
  const reloader = deps.tls ?? clusterTlsReloader(config, deps);
  const ownsReloader = deps.tls === undefined;
  const matches = createPeerNameMatcher(config.tls.peerNames);
  const routes = new Map<string, PeerRouteHandler>();
  const identities = new WeakMap<http2.ServerHttp2Session, string>();
  const sessions = new Set<http2.ServerHttp2Session>();
  for (const reason of ['identity', 'over_limit', 'handshake_timeout']) metrics.clusterPeerRefused.inc({ reason }, 0);

  const server = http2.createSecureServer({
    ...reloader.serverOptions(),
    // The CA check is the TLS layer's; the peer-name check follows on the session.
    requestCert: true,
    rejectUnauthorized: true,
    allowHTTP1: false,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    // Forwarded spans arrive as messages of up to a MiB (trace-router.ts BATCH_BYTES): with HTTP/2's
    // default 64 KiB windows the sender stalls for a WINDOW_UPDATE every 64 KiB.
    settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, initialWindowSize: STREAM_WINDOW_BYTES },
    maxSessionMemory: 64,
  });
  const unfollow = followReloads(server, reloader);
  server.maxConnections = config.maxConnections;
  server.on('drop', () => {
    metrics.clusterPeerRefused.inc({ reason: 'over_limit' });
    logger.warn({ maxConnections: config.maxConnections }, 'peer listener: connection refused (cluster.maxConnections)');
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    metrics.clusterPeerRefused.inc({ reason: err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'handshake_timeout' : 'handshake' });
    logger.debug({ err: err.message }, 'peer listener: TLS handshake failed');
  });

  server.on('session', (session) => {
    const socket = session.socket as TLSSocket;
    const identity = matches(socket.getPeerCertificate?.());
    if (!identity) {
      // Signed by the cluster CA but not a peer (a tenant's client certificate, say): cut at once.
      metrics.clusterPeerRefused.inc({ reason: 'identity' });
      logger.warn({ remoteAddress: socket.remoteAddress, san: socket.getPeerCertificate?.()?.subjectaltname }, 'peer listener: certificate is not an allowed peer (cluster.tls.peerNames)');
      session.destroy();
      return;
    }
    identities.set(session, identity);
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', () => {});
    session.setTimeout(IDLE_TIMEOUT_MS, () => session.close());
  });

  server.on('stream', (stream, headers) => {
    const identity = identities.get(stream.session as http2.ServerHttp2Session);
    stream.on('error', () => {});
    if (!identity) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const path = String(headers[':path'] ?? '').split('?')[0]!;
    const handler = routes.get(path);
    if (!handler) {
      metrics.clusterPeerRefused.inc({ reason: 'not_found' });
      sendJson(stream, 404, { error: `no peer route ${path}` });
      return;
    }
    stream.setTimeout(config.requestTimeoutMs, () => {
      metrics.clusterPeerRefused.inc({ reason: 'timeout' });
      stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    Promise.resolve()
      .then(() => handler(stream, headers, identity))
      .catch((err: unknown) => {
        logger.error({ err: (err as Error).message, path, peer: identity }, 'peer route failed');
        if (!stream.headersSent && !stream.destroyed) sendJson(stream, 500, { error: 'internal error' });
        else stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      });
  });

  return {
    maxBodyBytes: config.maxBodyBytes,
    route(path, handler) {
      routes.set(path, handler);
    },
    start() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.listen.port, config.listen.host, () => {
          server.off('error', reject);
          server.on('error', (err) => logger.error({ err: err.message }, 'peer listener error'));
          const a = server.address() as AddressInfo;
          resolve({ host: a.address, port: a.port });
        });
      });
    },
    stop() {
      unfollow();
      if (ownsReloader) reloader.close();
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
      });
    },
  };
}

/** Answers `status` with a JSON body. */
export function sendJson(stream: http2.ServerHttp2Stream, status: number, body: unknown): void {
  if (stream.destroyed || stream.closed) return;
  const text = Buffer.from(JSON.stringify(body));
  try {
    stream.respond({ ':status': status, 'content-type': 'application/json', 'content-length': text.length });
    stream.end(text);
  } catch {
    /* the peer went away */
  }
}

/**
 * The request body, bounded: a content-length over `maxBytes` is refused before a byte is read, and a
 * body that grows past it is cut (413 either way). Undefined when refused or when the stream broke.
 */
export function readBody(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, maxBytes: number, metrics?: GatewayMetrics): Promise<Buffer | undefined> {
  const declared = Number(headers['content-length'] ?? NaN);
  const tooLarge = (): undefined => {
    metrics?.clusterPeerRefused.inc({ reason: 'too_large' });
    sendJson(stream, 413, { error: `body larger than ${maxBytes} bytes (cluster.maxBodyBytes)` });
    return undefined;
  };
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve(tooLarge());
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: Buffer | undefined): void => {
      if (done) return;
      done = true;
      resolve(value);
    };
    stream.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > maxBytes) {
        stream.pause();
        finish(tooLarge());
        return;
      }
      chunks.push(c);
    });
    stream.once('end', () => finish(Buffer.concat(chunks, size)));
    stream.once('close', () => finish(undefined));
    stream.once('aborted', () => finish(undefined));
  });
}
