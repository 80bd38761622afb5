// A real gateway process (`node dist/src/cli/main.js telemetry serve --config FILE`) that can be
// SIGKILLed and started again on the same ports and data dir, and a trace load that remembers exactly
// which spans the gateway acknowledged. Used by the fault-injection suite (test/faults) and the kill
// loop (bench/kill-loop.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { packageRoot } from '../../src/paths.js';
import { varint } from './wire-builder.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Prometheus text → `name{labels}` and `name` (summed over label sets) → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    out.set(m[1]! + (m[2] ?? ''), v);
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + v);
  }
  return out;
}

export interface GatewayChildOptions {
  /** The `exporters` list of the config file. */
  exporters: unknown[];
  /** More top-level config keys. */
  extra?: Record<string, unknown>;
  workers?: number;
}

export interface GatewayChild {
  readonly httpUrl: string;
  readonly adminUrl: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** Start (again, on the same ports and data dir) and wait for /readyz. */
  start(): Promise<void>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (drain) and wait for the exit. */
  stop(): Promise<void>;
  /** The current process's metrics. */
  metrics(): Promise<Map<string, number>>;
  /** Everything every run wrote to stderr/stdout (JSON log lines). */
  log(): string;
}

export async function createGatewayChild(options: GatewayChildOptions): Promise<GatewayChild> {
  const dataDir = mkdtempSync(join(tmpdir(), 'stella-fault-'));
  const [grpc, httpPort, admin] = [await freePort(), await freePort(), await freePort()];
  const configFile = join(dataDir, 'gateway.yaml');
  const config = {
    dataDir,
    receivers: { grpc: { endpoint: `127.0.0.1:${grpc}` }, http: { endpoint: `127.0.0.1:${httpPort}` } },
    admin: { endpoint: `127.0.0.1:${admin}` },
    process: { workers: options.workers ?? 1 },
    log: { level: 'info' },
    exporters: options.exporters,
    ...options.extra,
  };
  // JSON is YAML.
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const adminUrl = `http://127.0.0.1:${admin}`;
  let child: ChildProcess | undefined;
  let output = '';

  const exited = (c: ChildProcess): Promise<void> =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((resolve) => c.once('exit', () => resolve()));

  return {
    httpUrl: `http://127.0.0.1:${httpPort}`,
    adminUrl,
    dataDir,
    get pid() {
      return child?.pid;
    },
    async start() {
      const c = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, CLI, 'telemetry', 'serve', '--config', configFile], {
        cwd: packageRoot,
        env: { ...process.env, ...GATEWAY_ENV },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      children.add(c);
      c.once('exit', () => children.delete(c));
      c.stdout!.on('data', (b: Buffer) => (output += b.toString('utf8')));
      c.stderr!.on('data', (b: Buffer) => (output += b.toString('utf8')));
      const deadline = Date.now() + 60_000;
      // What the last readiness probe got, for the error when the gateway never becomes ready.
      let lastProbe = 'no probe answered';
      for (;;) {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`the gateway exited at start-up (code ${c.exitCode}):\n${output.slice(-4000)}`);
        if (Date.now() > deadline) {
          throw new Error(`the gateway (pid ${c.pid}, ports grpc ${grpc} http ${httpPort} admin ${admin}) was not ready within 60 s; last /readyz: ${lastProbe}:\n${output.slice(-4000)}`);
        }
        const ready = await httpGet(`${adminUrl}/readyz`, 1000).then(
          (r) => {
            lastProbe = `${r.status} ${r.body.slice(0, 200)}`;
            return r.status === 200;
          },
          (err: Error) => {
            lastProbe = err.message;
            return false;
          },
        );
        if (ready) return;
        // Polling a child process's readiness (no event to wait for across processes).
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async kill() {
      if (!child) return;
      child.kill('SIGKILL');
      await exited(child);
    },
    async stop() {
      if (!child) return;
      child.kill('SIGTERM');
      await exited(child);
    },
    async metrics() {
      const r = await httpGet(`${adminUrl}/metrics`);
      return parseMetrics(r.body);
    },
    log: () => output,
  };
}

// ---- load ----------------------------------------------------------------------------------------

const TRACE_ID = Buffer.alloc(16, 7);

function field(num: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(varint((num << 3) | 2)), Buffer.from(varint(payload.length)), payload]);
}

const RESOURCE = field(1, field(1, Buffer.concat([field(1, Buffer.from('service.name')), field(2, field(1, Buffer.from('fault-load')))])));

/** An ExportTraceServiceRequest whose spans have the ids first … first+count-1 (8-byte big-endian). */
export function traceRequestWithIds(first: number, count: number): Buffer {
  const spans: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = Buffer.alloc(8);
    id.writeBigUInt64BE(BigInt(first + i));
    spans.push(field(2, Buffer.concat([field(1, TRACE_ID), field(2, id), field(5, Buffer.from('checkout'))])));
  }
  const scopeSpans = field(2, Buffer.concat(spans));
  return field(1, Buffer.concat([RESOURCE, scopeSpans]));
}

export const spanIdHex = (n: number): string => n.toString(16).padStart(16, '0');

export interface TraceLoadResult {
  /** Span ids (numbers) the gateway acknowledged with 200. */
  acked: number[];
  /** Requests answered per HTTP status, or `error` (connection failed or reset, e.g. the gateway died). */
  answers: Record<string, number>;
  /** Retry-After values (seconds) of 503 answers. */
  retryAfter: string[];
}

export interface TraceLoad {
  /** Stop sending; resolves once every request in flight has its answer (or error). */
  stop(): Promise<TraceLoadResult>;
  /** Resolves once `maxRequests` were sent and answered (or stop() was called). */
  finished(): Promise<TraceLoadResult>;
  readonly result: TraceLoadResult;
  /** Resolves once `n` more spans were acknowledged. */
  ackedAtLeast(n: number, timeoutMs: number): Promise<void>;
}

/**
 * Sends OTLP/HTTP trace requests of `spansPerRequest` spans with `concurrency` in flight, each span with an
 * id never used before (from `firstId` on), until stopped (or `maxRequests` sent). A refused or failed
 * request is not retried here: its spans are simply not acknowledged (a real client would retry; the
 * accounting only needs to know what was acknowledged).
 */
export function startTraceLoad(
  url: string,
  o: { firstId: number; spansPerRequest: number; concurrency: number; maxRequests?: number; pauseMs?: number; /** Spans per second at most (paced by the clock). */ rate?: number },
): TraceLoad {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const result: TraceLoadResult = { acked: [], answers: {}, retryAfter: [] };
  let next = o.firstId;
  let sent = 0;
  let stopped = false;
  const ackWaiters = new Set<() => void>();
  const loops: Promise<void>[] = [];

  function send(first: number): Promise<void> {
    const body = traceRequestWithIds(first, o.spansPerRequest);
    return new Promise<void>((resolve) => {
      const req = http.request(`${url}/v1/traces`, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length }, timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          const status = String(res.statusCode);
          result.answers[status] = (result.answers[status] ?? 0) + 1;
          if (res.statusCode === 200) {
            for (let i = 0; i < o.spansPerRequest; i++) result.acked.push(first + i);
            for (const w of [...ackWaiters]) w();
          } else if (res.statusCode === 503) result.retryAfter.push(String(res.headers['retry-after'] ?? ''));
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        result.answers.error = (result.answers.error ?? 0) + 1;
        resolve();
      });
      req.end(body);
    });
  }

  // With a rate, each sender has its slots on the clock: one request every `period` ms.
  const period = o.rate ? (o.concurrency * o.spansPerRequest * 1000) / o.rate : 0;
  for (let c = 0; c < o.concurrency; c++) {
    loops.push(
      (async () => {
        let slot = performance.now() + (period * c) / o.concurrency;
        while (!stopped && (o.maxRequests === undefined || sent < o.maxRequests)) {
          if (period > 0) {
            const wait = slot - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            slot += period;
            if (stopped) break;
          }
          sent++;
          const first = next;
          next += o.spansPerRequest;
          const before = result.answers.error ?? 0;
          await send(first);
          // After a connection failure (the gateway is down), do not spin: the next try waits a little.
          if ((result.answers.error ?? 0) > before || o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs ?? 20));
        }
      })(),
    );
  }

  return {
    result,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
    async finished() {
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
    ackedAtLeast(n, timeoutMs) {
      const target = result.acked.length + n;
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (result.acked.length < target) return;
          ackWaiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          ackWaiters.delete(check);
          reject(new Error(`load: ${n} more acknowledged spans not reached within ${timeoutMs} ms (answers ${JSON.stringify(result.answers)})`));
        }, timeoutMs);
        ackWaiters.add(check);
        check();
      });
    },
  };
}

/** Acknowledged spans the backend never received (the number that must be 0). */
export function missingAtBackend(acked: readonly number[], spans: ReadonlyMap<string, number>): number[] {
  return acked.filter((id) => !spans.has(spanIdHex(id)));
}

/** Spans the backend received more than once (extra copies). */
export function duplicatesAtBackend(spans: ReadonlyMap<string, number>): number {
  let d = 0;
  for (const n of spans.values()) if (n > 1) d += n - 1;
  return d;
}
