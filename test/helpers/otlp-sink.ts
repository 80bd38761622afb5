// A real OTLP backend for tests: gRPC (the three collector services, identity serializers) and
// OTLP/HTTP (/v1/{traces,metrics,logs}; protobuf and JSON bodies, gzip request bodies) on
// 127.0.0.1 with random ports. It records every request's raw bytes (decoding is the test's job,
// via the reference decoder) and answers with scripted failures or delays on demand.
import { otlpExportService } from '../../src/receive/otlp-grpc-service.js';
import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import { GrpcCode } from '../../src/errors.js';
import { encodeRpcStatus, rpcStatusJson } from '../../src/rpc-status.js';
import { SIGNALS, isSignal, type Signal } from '../../src/signals.js';

export type SinkProtocol = 'grpc' | 'http';

export interface ReceivedRequest {
  signal: Signal;
  protocol: SinkProtocol;
  /** Lower-cased headers (HTTP) or metadata (gRPC; binary values as base64). */
  headers: Record<string, string>;
  /** The request body as received, after gzip decompression. */
  body: Buffer;
  /** 'json' when an HTTP request had Content-Type application/json. */
  encoding: 'protobuf' | 'json';
  /** How the sink answered: 'ok' (recorded in received()) or 'failed' (a scripted failure). */
  outcome: 'ok' | 'failed';
  /** Date.now() when the request arrived. */
  at: number;
}

export interface FailureSpec {
  /** gRPC status code for gRPC requests (default UNAVAILABLE). */
  grpcCode?: number;
  /** HTTP status for HTTP requests (default 503). */
  httpStatus?: number;
  /** Retry hint: Retry-After (whole seconds, rounded up) on HTTP; RetryInfo on gRPC. */
  retryAfterMs?: number;
  /** gRPC: attach a RetryInfo (default: when retryAfterMs is given). */
  withRetryInfo?: boolean;
  /** Answer only after this long (a slow failing backend). */
  delayMs?: number;
  /** Apply only to requests of this protocol (default: either). */
  protocol?: SinkProtocol;
}

export interface OtlpSinkOptions {
  /** Delay every answer (ms), for timeout tests. */
  delayMs?: number;
}

export interface OtlpSink {
  /** host:port of the gRPC listener. */
  readonly grpcAddress: string;
  /** Base URL of the HTTP listener, e.g. http://127.0.0.1:40123 (POST to `${httpUrl}/v1/traces`). */
  readonly httpUrl: string;
  /** Every request, including those answered with a scripted failure. */
  readonly requests: readonly ReceivedRequest[];
  /** Requests answered with success, optionally of one signal. */
  received(signal?: Signal): ReceivedRequest[];
  /** Answer the next `n` requests (of `spec.protocol`, if set) with a failure. */
  failNext(n: number, spec?: FailureSpec): void;
  /** Answer the next `n` requests successfully but only after `delayMs`. */
  delayNext(n: number, delayMs: number, protocol?: SinkProtocol): void;
  /** Resolve once `predicate(received())` holds; reject after `timeoutMs` (default 30 s: "hung", not "slow"). */
  waitFor(predicate: (received: ReceivedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Forget recorded requests and scripted actions. */
  reset(): void;
  close(): Promise<void>;
}

type Action = { kind: 'fail'; spec: FailureSpec } | { kind: 'delay'; delayMs: number; protocol?: SinkProtocol };


export async function startOtlpSink(options: OtlpSinkOptions = {}): Promise<OtlpSink> {
  const requests: ReceivedRequest[] = [];
  const actions: Action[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const waiters = new Set<() => void>();
  let closed = false;

  function nextAction(protocol: SinkProtocol): Action | undefined {
    const i = actions.findIndex((a) => {
      const only = a.kind === 'fail' ? a.spec.protocol : a.protocol;
      return only === undefined || only === protocol;
    });
    return i < 0 ? undefined : actions.splice(i, 1)[0];
  }

  function record(r: ReceivedRequest): void {
    requests.push(r);
    for (const w of [...waiters]) w();
  }

  function later(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    timers.add(t);
  }

  // ---- gRPC ----
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
  for (const signal of SIGNALS) {
    server.addService(otlpExportService(signal), {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(call.metadata.getMap())) {
          headers[k] = Buffer.isBuffer(v) ? v.toString('base64') : String(v);
        }
        const action = nextAction('grpc');
        const base = { signal, protocol: 'grpc' as const, headers, body: call.request, encoding: 'protobuf' as const, at: Date.now() };
        if (action?.kind === 'fail') {
          record({ ...base, outcome: 'failed' });
          const code = action.spec.grpcCode ?? GrpcCode.UNAVAILABLE;
          const metadata = new grpc.Metadata();
          const withRetryInfo = action.spec.withRetryInfo ?? action.spec.retryAfterMs !== undefined;
          if (withRetryInfo) {
            metadata.set(
              'grpc-status-details-bin',
              encodeRpcStatus({ code, message: 'scripted failure', retryDelayMs: action.spec.retryAfterMs ?? 0 }),
            );
          }
          later(action.spec.delayMs ?? options.delayMs ?? 0, () => callback({ code, details: 'scripted failure', metadata }));
          return;
        }
        record({ ...base, outcome: 'ok' });
        const delay = action?.kind === 'delay' ? action.delayMs : (options.delayMs ?? 0);
        later(delay, () => callback(null, Buffer.alloc(0)));
      },
    });
  }
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );

  // ---- HTTP ----
  const httpServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/v1\/([a-z]+)$/.exec(req.url ?? '');
      const signal = m?.[1];
      if (req.method !== 'POST' || !signal || !isSignal(signal)) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      let body = Buffer.concat(chunks);
      try {
        const ce = String(req.headers['content-encoding'] ?? '').toLowerCase();
        if (ce === 'gzip') body = gunzipSync(body);
        else if (ce === 'deflate') body = inflateSync(body);
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('bad gzip body');
        return;
      }
      const encoding = String(req.headers['content-type'] ?? '').startsWith('application/json') ? 'json' : 'protobuf';
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const base = { signal, protocol: 'http' as const, headers, body, encoding: encoding as 'json' | 'protobuf', at: Date.now() };
      const action = nextAction('http');
      if (action?.kind === 'fail') {
        record({ ...base, outcome: 'failed' });
        const status = action.spec.httpStatus ?? 503;
        const resHeaders: Record<string, string> = {};
        if (action.spec.retryAfterMs !== undefined) resHeaders['retry-after'] = String(Math.ceil(action.spec.retryAfterMs / 1000));
        const rpc = { code: GrpcCode.UNAVAILABLE, message: 'scripted failure' };
        later(action.spec.delayMs ?? options.delayMs ?? 0, () => {
          if (encoding === 'json') res.writeHead(status, { ...resHeaders, 'content-type': 'application/json' }).end(rpcStatusJson(rpc));
          else res.writeHead(status, { ...resHeaders, 'content-type': 'application/x-protobuf' }).end(encodeRpcStatus(rpc));
        });
        return;
      }
      record({ ...base, outcome: 'ok' });
      const delay = action?.kind === 'delay' ? action.delayMs : (options.delayMs ?? 0);
      later(delay, () => {
        // An empty Export*ServiceResponse: full success.
        if (encoding === 'json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', () => resolve());
  });
  const httpPort = (httpServer.address() as AddressInfo).port;

  const received = (signal?: Signal): ReceivedRequest[] =>
    requests.filter((r) => r.outcome === 'ok' && (signal === undefined || r.signal === signal));

  return {
    grpcAddress: `127.0.0.1:${grpcPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    requests,
    received,
    failNext(n, spec = {}) {
      for (let i = 0; i < n; i++) actions.push({ kind: 'fail', spec });
    },
    delayNext(n, delayMs, protocol) {
      for (let i = 0; i < n; i++) actions.push(protocol ? { kind: 'delay', delayMs, protocol } : { kind: 'delay', delayMs });
    },
    waitFor(predicate, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (predicate(received())) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const counts = SIGNALS.map((s) => `${s}=${received(s).length}`).join(' ');
          reject(new Error(`sink.waitFor: condition not met within ${timeoutMs} ms (accepted requests: ${counts}; all: ${requests.length})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    reset() {
      requests.length = 0;
      actions.length = 0;
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.forceShutdown();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}
