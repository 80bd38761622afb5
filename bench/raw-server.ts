// The acknowledge-only OTLP server: the cheapest thing that can answer an OTLP export correctly.
// It serves two roles in the bench: the *baseline* (the same load sent to it instead of the gateway
// gives the floor cost of receiving the bytes in Node.js) and the *null sink* the gateway exports to.
//   gRPC: grpc-js with identity serializers; every Export is answered with an empty message (an empty
//         Export*ServiceResponse is zero bytes). grpc-js inflates gzip requests itself.
//   HTTP: plain node:http; reads the whole body (and gunzips it when Content-Encoding says gzip, as any
//         real receiver must), then answers 200 with an empty protobuf body (or `{}` for JSON).
//         https://opentelemetry.io/docs/specs/otlp/#otlphttp-response
// It never decodes protobuf. Run as a child process (the bench forks it, so CPU and memory are its own):
//   node dist/bench/raw-server.js --protocol grpc|http [--port 0] [--host 127.0.0.1] [--window BYTES]
//                                 [--tls-cert FILE --tls-key FILE]   (TLS, the null sink of --sink-tls)
// It prints one JSON line with its address on stdout and, when forked, answers {type:'stats'} IPC
// messages with its process.cpuUsage(), RSS and request counts (see RawServerStats).
import type { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import { otlpExportService } from '../src/receive/otlp-grpc-service.js';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzip } from 'node:zlib';
import { SIGNALS, SIGNAL_WIRE } from '../src/signals.js';

export type RawProtocol = 'grpc' | 'http';

const MiB = 1024 * 1024;
/** Bodies larger than this are refused (413): bounded like everything else; far above any batch. */
const MAX_BODY_BYTES = 64 * MiB;
const EMPTY = Buffer.alloc(0);

export interface RawServerStats {
  protocol: RawProtocol;
  /** Export requests acknowledged. */
  requests: number;
  /** Request bytes as received on the wire (before gunzip). */
  bytes: number;
  /** Requests answered with an error (bad path, too large, bad gzip). */
  errors: number;
  /** process.cpuUsage() of the server process, microseconds. */
  cpuUserMicros: number;
  cpuSystemMicros: number;
  rssBytes: number;
  /** Peak resident set size of the process so far (process.resourceUsage().maxRSS). */
  maxRssBytes: number;
}

export interface RawServer {
  protocol: RawProtocol;
  host: string;
  port: number;
  /** `host:port` for gRPC clients, `http://host:port` for HTTP clients. */
  address: string;
  stats(): RawServerStats;
  close(): Promise<void>;
}

export interface RawServerOptions {
  protocol: RawProtocol;
  host?: string;
  /** 0 (default) lets the OS choose. */
  port?: number;
  /**
   * gRPC only: the HTTP/2 flow-control window per stream to advertise (the connection gets 4×), as
   * backends built on grpc-go (the OpenTelemetry Collector, Tempo, Mimir) grow theirs with BDP
   * estimation. Absent: grpc-js's 64 KiB defaults, the baseline's setting.
   */
  windowBytes?: number;
  /** Serve TLS with this certificate and key (PEM), as a TLS backend would (the bench's --sink-tls). */
  tls?: { cert: Buffer; key: Buffer };
}

function baseStats(protocol: RawProtocol, counts: { requests: number; bytes: number; errors: number }): RawServerStats {
  const cpu = process.cpuUsage();
  return {
    protocol,
    requests: counts.requests,
    bytes: counts.bytes,
    errors: counts.errors,
    cpuUserMicros: cpu.user,
    cpuSystemMicros: cpu.system,
    rssBytes: process.memoryUsage.rss(),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}


async function startGrpc(host: string, port: number, windowBytes?: number, tls?: { cert: Buffer; key: Buffer }): Promise<RawServer> {
  const counts = { requests: 0, bytes: 0, errors: 0 };
  const server = new grpc.Server({
    // The gateway's export batches can be several MiB; grpc-js's 4 MiB default would refuse them.
    'grpc.max_receive_message_length': MAX_BODY_BYTES,
    'grpc.max_concurrent_streams': 1000,
  });
  for (const signal of SIGNALS) {
    server.addService(otlpExportService(signal), {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        counts.requests++;
        counts.bytes += call.request.length;
        callback(null, EMPTY);
      },
    });
  }
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${host}:${port}`,
      tls ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false) : grpc.ServerCredentials.createInsecure(),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
  if (windowBytes !== undefined && !advertiseWideWindows(server, windowBytes, 4 * windowBytes)) {
    throw new Error('--window: this grpc-js version does not expose its HTTP/2 servers');
  }
  return {
    protocol: 'grpc',
    host,
    port: bound,
    address: `${host}:${bound}`,
    stats: () => baseStats('grpc', counts),
    close: () =>
      new Promise<void>((resolve) => {
        // Give in-flight calls a moment, then cut the rest: a null sink has nothing to drain.
        const timer = setTimeout(() => server.forceShutdown(), 1000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

const HTTP_PATHS = new Set(SIGNALS.map((s) => SIGNAL_WIRE[s].httpPath));

async function startHttp(host: string, port: number, tls?: { cert: Buffer; key: Buffer }): Promise<RawServer> {
  const counts = { requests: 0, bytes: 0, errors: 0 };
  const answer = (res: http.ServerResponse, status: number, json: boolean): void => {
    const body = json ? '{}' : EMPTY;
    res.writeHead(status, { 'content-type': json ? 'application/json' : 'application/x-protobuf', 'content-length': body.length });
    res.end(body);
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const json = (req.headers['content-type'] ?? '').startsWith('application/json');
    if (req.method !== 'POST' || !HTTP_PATHS.has((req.url ?? '').split('?')[0]!)) {
      counts.errors++;
      req.resume();
      answer(res, req.method !== 'POST' ? 405 : 404, json);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      if (tooLarge) {
        counts.errors++;
        answer(res, 413, json);
        return;
      }
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      const done = (ok: boolean): void => {
        if (ok) {
          counts.requests++;
          counts.bytes += size;
        } else counts.errors++;
        answer(res, ok ? 200 : 400, json);
      };
      if (req.headers['content-encoding'] === 'gzip') gunzip(body, { maxOutputLength: MAX_BODY_BYTES }, (err) => done(!err));
      else done(true);
    });
    req.on('error', () => {
      counts.errors++;
      res.destroy();
    });
  };
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  // Longer than any client's keep-alive, so the server never closes a socket the client is about to reuse.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    protocol: 'http',
    host,
    port: bound,
    address: `${tls ? 'https' : 'http'}://${host}:${bound}`,
    stats: () => baseStats('http', counts),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Start an acknowledge-only server in this process. */
export async function startRawServer(options: RawServerOptions): Promise<RawServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  return options.protocol === 'grpc' ? startGrpc(host, port, options.windowBytes, options.tls) : startHttp(host, port, options.tls);
}

/** Messages a forked raw server sends to its parent. */
export type RawServerMessage =
  | { type: 'ready'; protocol: RawProtocol; host: string; port: number; address: string }
  | { type: 'stats'; id: number; stats: RawServerStats };

/** Messages the parent sends. */
export type RawServerCommand = { type: 'stats'; id: number } | { type: 'close' };

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      protocol: { type: 'string', default: 'grpc' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      window: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
    },
  });
  const protocol = values.protocol;
  if (protocol !== 'grpc' && protocol !== 'http') throw new Error(`--protocol: expected grpc or http (got "${protocol}")`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected 0..65535 (got "${values.port}")`);
  const windowBytes = values.window === undefined ? undefined : Number(values.window);
  if (windowBytes !== undefined && (!Number.isInteger(windowBytes) || windowBytes < 65_535 || windowBytes > 2 ** 31 - 1)) {
    throw new Error(`--window: expected bytes from 65535 to 2147483647 (got "${values.window}")`);
  }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new Error('--tls-cert and --tls-key go together');
  const tls = values['tls-cert'] && values['tls-key'] ? { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) } : undefined;
  const server = await startRawServer({ protocol, host: values.host, port, ...(windowBytes !== undefined ? { windowBytes } : {}), ...(tls ? { tls } : {}) });
  const ready: RawServerMessage = { type: 'ready', protocol, host: server.host, port: server.port, address: server.address };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (process.send) {
    process.send(ready);
    process.on('message', (m: RawServerCommand) => {
      if (m.type === 'stats') process.send!({ type: 'stats', id: m.id, stats: server.stats() } satisfies RawServerMessage);
      else if (m.type === 'close') stop();
    });
    // The parent is gone (crashed, killed): do not linger as an orphan holding a port.
    process.on('disconnect', stop);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`raw-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

/**
 * grpc-js has no option for the HTTP/2 windows, so they are set on each new session of the servers a
 * bound grpc.Server created (its private `http2Servers` map, grpc-js 1.14). Returns whether it could.
 * (The gateway's own receiver speaks node:http2 directly and advertises its windows itself.)
 */
function advertiseWideWindows(server: grpc.Server, streamBytes: number, connectionBytes: number): boolean {
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
