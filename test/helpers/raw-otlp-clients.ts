// Raw OTLP clients for adversarial tests and the hostile-load bench: one gRPC call over node:http2
// with full control of the framing (compressed flag, grpc-encoding, metadata), and one HTTP POST.
// Both always settle with what the client saw: the status and retry hint, or the transport error.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { decodeRpcStatus, parseRetryAfter } from '../../src/rpc-status.js';
import { SIGNAL_WIRE, type Signal } from '../../src/signals.js';

export interface RawAnswer {
  /** gRPC: grpc-status; HTTP: the status code; undefined when the transport failed. */
  status?: number;
  message?: string;
  retryAfterMs?: number;
  /** The transport error (ECONNRESET, stream reset, ...). */
  error?: string;
}

export interface GrpcCallOptions {
  /** Message flag 1 (compressed); default: set when `encoding` is gzip or deflate. */
  compressedFlag?: boolean;
  /** grpc-encoding header (none when undefined). */
  encoding?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** One unary Export call on `session`; the body is framed here (5-byte prefix). */
export function grpcCall(session: http2.ClientHttp2Session, signal: Signal, message: Buffer, opts: GrpcCallOptions = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const flag = opts.compressedFlag ?? (opts.encoding === 'gzip' || opts.encoding === 'deflate');
    const prefix = Buffer.alloc(5);
    prefix[0] = flag ? 1 : 0;
    prefix.writeUInt32BE(message.length, 1);
    let settled = false;
    const answer: RawAnswer = {};
    const settle = (a: RawAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(a);
    };
    const timer = setTimeout(() => settle({ error: 'client timeout' }), opts.timeoutMs ?? 60_000);
    const read = (h: http2.IncomingHttpHeaders): void => {
      const s = h['grpc-status'];
      if (s === undefined) return;
      answer.status = Number(s);
      const details = h['grpc-status-details-bin'];
      if (typeof details === 'string') {
        const st = decodeRpcStatus(Buffer.from(details, 'base64'));
        answer.message = st?.message;
        if (st?.retryDelayMs !== undefined) answer.retryAfterMs = st.retryDelayMs;
      } else if (typeof h['grpc-message'] === 'string') {
        answer.message = decodeURIComponent(h['grpc-message']);
      }
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({
        ':method': 'POST',
        ':path': SIGNAL_WIRE[signal].grpcPath,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...(opts.encoding ? { 'grpc-encoding': opts.encoding } : {}),
        ...opts.headers,
      });
    } catch (err) {
      settle({ error: (err as Error).message });
      return;
    }
    stream.on('response', read);
    stream.on('trailers', read);
    stream.on('data', () => {});
    stream.on('error', (err) => settle(answer.status !== undefined ? answer : { error: `${(err as NodeJS.ErrnoException).code ?? err.message} (rst ${stream.rstCode})` }));
    stream.on('close', () => settle(answer.status !== undefined ? answer : { error: `stream closed (rst ${stream.rstCode})` }));
    stream.write(prefix);
    stream.end(message);
  });
}

/** One POST of `body` to the OTLP/HTTP path of `signal` on its own connection. */
export function httpPost(baseUrl: string, signal: Signal, body: Buffer, headers: Record<string, string> = {}, timeoutMs = 60_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (a: RawAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(a);
    };
    const timer = setTimeout(() => settle({ error: 'client timeout' }), timeoutMs);
    const req = http.request(
      `${baseUrl}${SIGNAL_WIRE[signal].httpPath}`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/x-protobuf', 'content-length': String(body.length), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const st = decodeRpcStatus(Buffer.concat(chunks));
          const retry = parseRetryAfter(res.headers['retry-after'] as string | undefined);
          settle({ status: res.statusCode, message: st?.message, ...(retry !== undefined ? { retryAfterMs: retry } : {}) });
        });
        res.on('error', (err) => settle({ status: res.statusCode, error: err.message }));
      },
    );
    req.on('error', (err) => settle({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end(body);
  });
}
