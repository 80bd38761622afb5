// The load drivers (OTLP/gRPC and OTLP/HTTP protobuf clients that do no protobuf work: the requests
// are pre-encoded) and the closed-loop load: N concurrent loops, each sending the next request of the
// pool as soon as its previous one is acknowledged. After a warm-up the measured window opens (the
// caller snapshots the target's CPU there) and closes `duration` later (second snapshot) while the
// loops are still running, so both edges see steady state; then the loops stop and drain.
import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import { gzipSync } from 'node:zlib';
import { SIGNAL_WIRE } from '../src/signals.js';

export type LoadProtocol = 'grpc' | 'http';

/** The answer to one export: acknowledged, or a short error code (`grpc_unavailable`, `http_503`, `ECONNRESET`). */
export type SendResult = { ok: true } | { ok: false; code: string };

export interface Driver {
  readonly protocol: LoadProtocol;
  /** Send one encoded ExportTraceServiceRequest (already gzipped for HTTP with gzip; see prepareBodies). */
  send(body: Buffer): Promise<SendResult>;
  close(): Promise<void>;
}

/** Deadline of one export call: far above any healthy answer; a stuck target shows as errors, not a hang. */
const CALL_TIMEOUT_MS = 30_000;

const identity = (b: Buffer): Buffer => b;

/** `resolve`, taking only the first answer (a stream or request may report an error and then close). */
function once(resolve: (r: SendResult) => void): (r: SendResult) => void {
  let settled = false;
  return (r) => {
    if (!settled) {
      settled = true;
      resolve(r);
    }
  };
}

/**
 * mTLS client material (PEM). The server certificate is checked against `ca` for the name `localhost`
 * (certs init's server SANs) while connecting to 127.0.0.1. Connections are long-lived: one
 * handshake per connection (gRPC: per --connections; HTTP: per keep-alive socket).
 */
export interface DriverTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** The gRPC client the load uses: grpc-js (what SDK exporters use) or the lean node:http2 one. */
export type GrpcClient = 'grpc-js' | 'h2';

export interface GrpcDriverOptions {
  /** host:port */
  address: string;
  /** mTLS instead of h2c. */
  tls?: DriverTls;
  /** gzip: grpc-js compresses every request itself, in this process; the h2 client sends bodies already gzipped. */
  gzip?: boolean;
  /** HTTP/2 connections to spread the calls over (default 1). */
  connections?: number;
}

export function createGrpcDriver(options: GrpcDriverOptions): Driver {
  const n = Math.max(1, options.connections ?? 1);
  const channelOptions: grpc.ChannelOptions = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 };
  if (options.gzip) channelOptions['grpc.default_compression_algorithm'] = grpc.compressionAlgorithms.gzip;
  // grpc-js shares one connection between clients with equal options unless each has its own pool.
  if (n > 1) channelOptions['grpc.use_local_subchannel_pool'] = 1;
  const tls = options.tls;
  if (tls) channelOptions['grpc.ssl_target_name_override'] = 'localhost';
  const credentials = (): grpc.ChannelCredentials => (tls ? grpc.credentials.createSsl(tls.ca, tls.key, tls.cert) : grpc.credentials.createInsecure());
  const clients = Array.from({ length: n }, () => new grpc.Client(options.address, credentials(), channelOptions));
  const path = SIGNAL_WIRE.traces.grpcPath;
  let next = 0;
  return {
    protocol: 'grpc',
    send(body) {
      const client = clients[next++ % n]!;
      return new Promise<SendResult>((resolve) => {
        client.makeUnaryRequest(path, identity, identity, body, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err) => {
          if (!err) resolve({ ok: true });
          else resolve({ ok: false, code: `grpc_${(grpc.status[err.code] ?? String(err.code)).toLowerCase()}` });
        });
      });
    },
    async close() {
      for (const c of clients) c.close();
    },
  };
}

/**
 * A lean OTLP/gRPC client on node:http2: the gRPC framing (a 5-byte prefix) written ahead of each
 * pre-encoded body, one stream per call, the status read from the trailers. It does what grpc-js does
 * on the wire for a unary call, at a fraction of its CPU and latency: on 2 cores grpc-js's own p99
 * (measured against the raw server at 90k spans/s) was ~25 ms, this client's ~13 ms, so latency figures
 * at a fixed --rate are mostly the target's. With `gzip` the bodies are already gzipped (prepareBodies)
 * and sent with the compressed flag and `grpc-encoding: gzip`.
 */
export function createH2GrpcDriver(options: GrpcDriverOptions): Driver {
  const n = Math.max(1, options.connections ?? 1);
  const tls = options.tls;
  const authority = `${tls ? 'https' : 'http'}://${options.address}`;
  // Windows large enough that a ~290 KB request is never held back by flow control on our side.
  const connect = (): http2.ClientHttp2Session => {
    const session = http2.connect(authority, {
      settings: { initialWindowSize: 8 * 1024 * 1024 },
      ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost' } : {}),
    });
    session.on('connect', () => session.setLocalWindowSize(16 * 1024 * 1024));
    session.on('error', () => {}); // every open stream fails with it; the next call reconnects
    return session;
  };
  const sessions: (http2.ClientHttp2Session | undefined)[] = Array.from({ length: n }, () => undefined);
  const headers = {
    ':method': 'POST',
    ':path': SIGNAL_WIRE.traces.grpcPath,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': `${CALL_TIMEOUT_MS}m`,
    ...(options.gzip ? { 'grpc-encoding': 'gzip' } : {}),
  };
  let next = 0;
  return {
    protocol: 'grpc',
    send(body) {
      const i = next++ % n;
      let session = sessions[i];
      if (!session || session.closed || session.destroyed) session = sessions[i] = connect();
      return new Promise<SendResult>((resolve) => {
        const settle = once(resolve);
        let status: string | undefined;
        const stream = session.request(headers);
        stream.setTimeout(CALL_TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
        // A trailers-only answer carries grpc-status in the headers.
        stream.on('response', (h) => {
          if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        });
        stream.on('trailers', (t) => {
          if (t['grpc-status'] !== undefined) status = String(t['grpc-status']);
        });
        stream.on('data', () => {}); // the answer is an empty message
        // A failed connection cancels its streams; the cause (ECONNREFUSED, ...) is the useful code.
        stream.on('error', (e: NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }) => settle({ ok: false, code: e.cause?.code ?? e.code ?? 'stream_error' }));
        stream.on('close', () => {
          if (status === '0') settle({ ok: true });
          else settle({ ok: false, code: status === undefined ? 'no_status' : `grpc_${(grpc.status[Number(status)] ?? status).toLowerCase()}` });
        });
        const prefix = Buffer.allocUnsafe(5);
        prefix[0] = options.gzip ? 1 : 0;
        prefix.writeUInt32BE(body.length, 1);
        stream.write(prefix);
        stream.end(body);
      });
    },
    async close() {
      for (const s of sessions) s?.close();
    },
  };
}

export interface HttpDriverOptions {
  /** Base URL, e.g. http://127.0.0.1:4318; requests go to `${baseUrl}/v1/traces`. */
  baseUrl: string;
  /** The bodies are gzipped (send Content-Encoding: gzip). */
  gzip?: boolean;
  /** Sockets to keep open: one per request in flight (HTTP/1.1 has no multiplexing). */
  maxSockets: number;
  /** HTTPS with a client certificate (the base URL's scheme is ignored). */
  tls?: DriverTls;
}

export function createHttpDriver(options: HttpDriverOptions): Driver {
  const url = new URL(SIGNAL_WIRE.traces.httpPath, options.baseUrl);
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets, keepAliveMsecs: 10_000 };
  const tls = options.tls;
  const agent = tls ? new https.Agent({ ...agentOptions, ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost' }) : new http.Agent(agentOptions);
  const request = tls ? https.request : http.request;
  const baseHeaders: Record<string, string> = { 'content-type': 'application/x-protobuf' };
  if (options.gzip) baseHeaders['content-encoding'] = 'gzip';
  return {
    protocol: 'http',
    send(body) {
      return new Promise<SendResult>((resolve) => {
        const settle = once(resolve);
        const req = request(
          { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...baseHeaders, 'content-length': String(body.length) } },
          (res) => {
            res.on('data', () => {}); // the answer is empty (or a small google.rpc.Status): read and drop
            res.on('end', () => settle(res.statusCode === 200 ? { ok: true } : { ok: false, code: `http_${res.statusCode}` }));
            res.on('error', (e: NodeJS.ErrnoException) => settle({ ok: false, code: e.code ?? 'response_error' }));
          },
        );
        req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
        req.on('error', (e: NodeJS.ErrnoException) => settle({ ok: false, code: e.code ?? 'request_error' }));
        req.end(body);
      });
    },
    async close() {
      agent.destroy();
    },
  };
}

/**
 * The bodies a driver sends: for HTTP or the lean h2 gRPC client with gzip, the pool gzipped once here
 * (a real client compresses too, but that cost belongs to the client, not to what is measured);
 * otherwise the pool itself (grpc-js compresses per message itself).
 */
export function prepareBodies(pool: readonly Buffer[], protocol: LoadProtocol, gzip: boolean, client: GrpcClient = 'grpc-js'): Buffer[] {
  if (gzip && (protocol === 'http' || client === 'h2')) return pool.map((b) => gzipSync(b));
  return [...pool];
}

/**
 * Latency histogram with bounded memory: log-spaced buckets 1% wide from 1 µs to ~100 s (1,853
 * counters), so percentiles are within 1% whatever the run length.
 */
export interface LatencyHistogram {
  record(micros: number): void;
  readonly count: number;
  /** The value at quantile q (0..1), in microseconds (the upper edge of its bucket); 0 when empty. */
  quantile(q: number): number;
  readonly maxMicros: number;
  readonly meanMicros: number;
}

const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(1e8) / LOG_GROWTH) + 2;

export function createLatencyHistogram(): LatencyHistogram {
  const counts = new Uint32Array(BUCKETS);
  let count = 0;
  let sum = 0;
  let max = 0;
  return {
    record(micros) {
      const v = micros < 1 ? 1 : micros;
      const i = Math.min(BUCKETS - 1, Math.ceil(Math.log(v) / LOG_GROWTH));
      counts[i]!++;
      count++;
      sum += micros;
      if (micros > max) max = micros;
    },
    get count() {
      return count;
    },
    quantile(q) {
      if (count === 0) return 0;
      const rank = Math.max(1, Math.ceil(q * count));
      let seen = 0;
      for (let i = 0; i < BUCKETS; i++) {
        seen += counts[i]!;
        if (seen >= rank) return Math.min(max, GROWTH ** i);
      }
      return max;
    },
    get maxMicros() {
      return max;
    },
    get meanMicros() {
      return count === 0 ? 0 : sum / count;
    },
  };
}

export interface LoadOptions {
  driver: Driver;
  /** Cycled through in order by all loops together. */
  bodies: readonly Buffer[];
  spansPerRequest: number;
  /** Requests in flight at once (at most). */
  concurrency: number;
  /**
   * Offered load: requests start at this fixed rate, at most `concurrency` in flight. Undefined = closed
   * loop (each loop sends again as soon as it is answered: the target runs saturated). Comparing two
   * configurations at the same offered rate compares their CPU per span at the same throughput.
   */
  requestsPerSecond?: number;
  warmupMs: number;
  durationMs: number;
  /** Called when the warm-up ends; the window opens when it resolves (snapshot the target's CPU here). */
  onWindowStart?: () => Promise<void>;
  /** Called when the window's duration has passed, load still running (second snapshot). */
  onWindowEnd?: () => Promise<void>;
  /** Called about every `tickMs` from start to end (e.g. to poll the target's RSS). */
  onTick?: () => void | Promise<void>;
  tickMs?: number;
  /** Stops the load early (SIGINT); the result covers what was measured so far. */
  signal?: AbortSignal;
}

export interface LoadResult {
  /** Length of the measured window (between the two snapshots). */
  windowSeconds: number;
  /** Requests and spans acknowledged inside the window. */
  requests: number;
  spans: number;
  spansPerSecond: number;
  /** Acknowledgement latency of the requests acknowledged inside the window, ms. */
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Non-acknowledged answers inside the window, by code. */
  errors: Record<string, number>;
  /** Whole run (warm-up and drain included). */
  totalRequests: number;
  totalFailed: number;
  /** CPU time of this (load generating) process over the window, seconds. */
  clientCpuSeconds: number;
  /** True when stopped by the abort signal. */
  aborted: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nowMs = (): number => performance.now();

/** Run the closed-loop load; resolves when the window has closed and every loop has drained. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { driver, bodies, concurrency, spansPerRequest } = options;
  if (bodies.length === 0) throw new Error('runLoad: no request bodies');
  const hist = createLatencyHistogram();
  const errors: Record<string, number> = {};
  let cursor = 0;
  let stopping = false;
  /** Window edges in performance.now() ms; an acknowledgement counts when it lands inside. */
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let requests = 0;
  let totalRequests = 0;
  let totalFailed = 0;
  const aborted = (): boolean => options.signal?.aborted === true;

  const interval = options.requestsPerSecond ? 1000 / options.requestsPerSecond : 0;
  let nextDue = nowMs();

  const loop = async (): Promise<void> => {
    while (!stopping && !aborted()) {
      if (interval > 0) {
        // Each request has its slot in the schedule; a loop that is behind it sends at once (the target
        // cannot keep up: the achieved rate, not the offered one, is what the result reports).
        const due = nextDue;
        nextDue += interval;
        const wait = due - nowMs();
        if (wait >= 1) await sleep(wait);
        if (stopping || aborted()) break;
      }
      const body = bodies[cursor++ % bodies.length]!;
      const t0 = nowMs();
      const r = await driver.send(body);
      const t1 = nowMs();
      totalRequests++;
      const inWindow = t1 >= windowStart && t1 <= windowEnd;
      if (r.ok) {
        if (inWindow) {
          requests++;
          hist.record((t1 - t0) * 1000);
        }
      } else {
        totalFailed++;
        if (inWindow) errors[r.code] = (errors[r.code] ?? 0) + 1;
        // A refusing or unreachable target answers at once: do not spin the CPU we are measuring with.
        await sleep(5);
      }
    }
  };

  const tickMs = options.tickMs ?? 250;
  const ticker = options.onTick
    ? setInterval(() => {
        void Promise.resolve(options.onTick!()).catch(() => {});
      }, tickMs)
    : undefined;
  ticker?.unref();

  const loops = Array.from({ length: Math.max(1, concurrency) }, loop);
  const abortable = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (aborted()) return resolve();
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        options.signal?.removeEventListener('abort', done);
        resolve();
      }
      options.signal?.addEventListener('abort', done, { once: true });
    });

  let clientCpu0 = process.cpuUsage();
  let clientCpu: NodeJS.CpuUsage | undefined;
  let tStart = nowMs();
  let tEnd = tStart;
  try {
    await abortable(options.warmupMs);
    // Window edges are the midpoints of the snapshot calls: the counter is read somewhere inside them.
    const a0 = nowMs();
    await options.onWindowStart?.();
    tStart = (a0 + nowMs()) / 2;
    windowStart = tStart;
    clientCpu0 = process.cpuUsage();
    await abortable(Math.max(0, options.durationMs - (nowMs() - tStart)));
    const b0 = nowMs();
    await options.onWindowEnd?.();
    tEnd = (b0 + nowMs()) / 2;
    windowEnd = tEnd;
    clientCpu = process.cpuUsage(clientCpu0);
  } finally {
    stopping = true;
    if (windowEnd === Infinity) windowEnd = tEnd = nowMs();
    clientCpu ??= process.cpuUsage(clientCpu0);
    await Promise.all(loops);
    if (ticker) clearInterval(ticker);
  }
  const cpu = clientCpu;
  const windowSeconds = Math.max(1e-9, (tEnd - tStart) / 1000);
  const spans = requests * spansPerRequest;
  const ms = (micros: number): number => micros / 1000;
  return {
    windowSeconds,
    requests,
    spans,
    spansPerSecond: spans / windowSeconds,
    latencyMs: {
      p50: ms(hist.quantile(0.5)),
      p90: ms(hist.quantile(0.9)),
      p99: ms(hist.quantile(0.99)),
      max: ms(hist.maxMicros),
      mean: ms(hist.meanMicros),
    },
    errors,
    totalRequests,
    totalFailed,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    aborted: aborted(),
  };
}
