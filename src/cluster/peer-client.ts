// Calls to other replicas' peer listeners (src/cluster/peer-server.ts): HTTP/2 over mutual TLS with
// this replica's certificate, one session per peer endpoint, reused. The answering listener must show
// a certificate from the cluster CA whose SAN is in cluster.tls.peerNames (checkServerIdentity does
// that instead of the host-name check: peers are often dialled by pod IP). Every request has a
// deadline (connect included) and a bound on the answer's size; a session that stalls while connecting
// is destroyed with the request that timed out, so the next call starts afresh.
import * as http2 from 'node:http2';
import { isIP } from 'node:net';
import type { ClusterConfig } from '../config/sections/cluster.js';
import { parsePeerEndpoint } from '../config/sections/cluster.js';
import type { TlsReloader } from '../receive/tls.js';
import { createPeerNameMatcher } from './peer-names.js';

export type PeerErrorReason = 'timeout' | 'network' | 'identity' | 'too_large' | 'closed' | 'egress';

export class PeerRequestError extends Error {
  constructor(
    readonly reason: PeerErrorReason,
    message: string,
  ) {
    super(message);
  }
}

export interface PeerRequest {
  method?: 'GET' | 'POST';
  path: string;
  body?: Buffer;
  headers?: http2.OutgoingHttpHeaders;
  /** Default: cluster.requestTimeout. */
  timeoutMs?: number;
  /** Default 1 MiB. */
  maxResponseBytes?: number;
}

export interface PeerResponse {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

export interface PeerClient {
  /** One request/answer; rejects with PeerRequestError. */
  request(endpoint: string, req: PeerRequest): Promise<PeerResponse>;
  /** The (shared) session to a peer, for callers that stream (the trace router). */
  session(endpoint: string): http2.ClientHttp2Session;
  /** Closes every session; later calls reject. */
  close(): void;
}

const IDENTITY_ERROR = 'PEER_IDENTITY';

/** Sealed mode's guard (egress.allow): asked before a connection to a peer opens. Structural, so any guard fits. */
export interface PeerEgress {
  check(host: string, port: number): { ok: true } | { ok: false; message: string };
}

/** identity when the error (or its cause: a stream cancelled by its session's failure) is the peer-name check. */
function classify(err: Error): PeerErrorReason {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === IDENTITY_ERROR || code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'identity';
  }
  return 'network';
}

export function createPeerClient(config: ClusterConfig, deps: { tls: TlsReloader; egress?: PeerEgress }): PeerClient {
  const matches = createPeerNameMatcher(config.tls.peerNames);
  const sessions = new Map<string, http2.ClientHttp2Session>();
  let closed = false;

  function session(endpoint: string): http2.ClientHttp2Session {
    if (closed) throw new PeerRequestError('closed', 'the peer client is closed');
    const existing = sessions.get(endpoint);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const hp = parsePeerEndpoint(endpoint);
    if (!hp) throw new PeerRequestError('network', `not a host:port: ${endpoint}`);
    const allowed = deps.egress?.check(hp.host, hp.port);
    if (allowed && !allowed.ok) throw new PeerRequestError('egress', allowed.message);
    const m = deps.tls.current();
    const authority = `https://${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
    const s = http2.connect(authority, {
      // Read at each new session, so a rotated certificate is used from the next connection on.
      cert: m.cert,
      key: m.key,
      ...(m.ca ? { ca: m.ca } : {}),
      minVersion: config.tls.minVersion,
      ...(isIP(hp.host) ? {} : { servername: hp.host }),
      checkServerIdentity: (_host, cert) => {
        if (matches(cert)) return undefined;
        const e = new Error(`${endpoint}: the certificate (${cert.subjectaltname ?? 'no SAN'}) is not an allowed peer (cluster.tls.peerNames)`) as NodeJS.ErrnoException;
        e.code = IDENTITY_ERROR;
        return e;
      },
    });
    s.on('error', () => {});
    const forget = (): void => {
      if (sessions.get(endpoint) === s) sessions.delete(endpoint);
    };
    s.once('close', forget);
    s.once('goaway', forget);
    // Peers are talked to every probe interval; a session idle for a minute is closed.
    s.setTimeout(60_000, () => s.close());
    s.unref();
    sessions.set(endpoint, s);
    return s;
  }

  function request(endpoint: string, req: PeerRequest): Promise<PeerResponse> {
    return new Promise((resolve, reject) => {
      let s: http2.ClientHttp2Session;
      try {
        s = session(endpoint);
      } catch (err) {
        reject(err);
        return;
      }
      const maxBytes = req.maxResponseBytes ?? 1024 * 1024;
      let settled = false;
      const fail = (reason: PeerErrorReason, message: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new PeerRequestError(reason, `${endpoint} ${req.path}: ${message}`));
      };
      // A session that fails (refused, TLS, peer identity) cancels its streams with the cause attached,
      // so the stream's error says it all; no per-request listener on the shared session.
      const timer = setTimeout(() => {
        fail('timeout', `no answer within ${req.timeoutMs ?? config.requestTimeoutMs} ms`);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        // A session still connecting (a black-holed address) is given up with the request.
        if (s.connecting) {
          s.destroy();
          if (sessions.get(endpoint) === s) sessions.delete(endpoint);
        }
      }, req.timeoutMs ?? config.requestTimeoutMs);
      timer.unref();
      const headers: http2.OutgoingHttpHeaders = {
        ':method': req.method ?? (req.body ? 'POST' : 'GET'),
        ':path': req.path,
        ...(req.body && { 'content-type': 'application/json', 'content-length': req.body.length }),
        ...req.headers,
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = s.request(headers, { endStream: !req.body });
      } catch (err) {
        fail('network', (err as Error).message);
        return;
      }
      stream.on('error', (err) => fail(classify(err), err.message));
      let status = 0;
      let resHeaders: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('response', (h) => {
        resHeaders = h;
        status = Number(h[':status'] ?? 0);
      });
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          fail('too_large', `answer larger than ${maxBytes} bytes`);
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        chunks.push(c);
      });
      stream.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status, headers: resHeaders, body: Buffer.concat(chunks, size) });
      });
      stream.on('close', () => fail('network', `stream closed (code ${stream.rstCode ?? 0})`));
      if (req.body) stream.end(req.body);
    });
  }

  return {
    request,
    session,
    close() {
      closed = true;
      for (const s of sessions.values()) s.destroy();
      sessions.clear();
    },
  };
}
