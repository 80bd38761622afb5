// The processes the bench measures, each its own child so that its CPU and memory are its own: the
// gateway (`stella telemetry serve`, ready when its admin /readyz answers 200, measured through its
// /metrics) and the acknowledge-only raw server (baseline and null sink; measured over IPC).
// Every child is registered so that it is killed when the bench exits, however it exits.
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../src/cli/node-flags.js';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../src/paths.js';
import type { RawProtocol, RawServerCommand, RawServerMessage, RawServerStats } from './raw-server.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The compiled CLI and raw server (this file runs from dist/bench/). */
export const CLI_PATH = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
export const RAW_SERVER_PATH = join(here, 'raw-server.js');

// ---------------------------------------------------------------------------------------------------
// Child bookkeeping: SIGKILL whatever is still running when this process exits.

const children = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Kill every child still running (SIGKILL). Synchronous, so it is safe inside an 'exit' handler. */
export function killAllChildren(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}

process.once('exit', killAllChildren);

/** Children still running (for tests that check the bench cleans up). */
export function runningChildren(): number[] {
  return [...children].map((c) => c.pid ?? -1);
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. */
async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, graceMs))) {
    child.kill('SIGKILL');
    await waitExit(child, 2000);
  }
}

// ---------------------------------------------------------------------------------------------------
// Small helpers.

/** A port that was free a moment ago (listen on 0, read it, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** GET a URL on loopback; resolves with status and body (never follows redirects). */
export function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * Prometheus text exposition → metric name → sum of its samples over all label sets. Only the sample
 * lines count (`# HELP`/`# TYPE` skipped); histogram series keep their suffixed names (`_bucket`, `_sum`).
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */
export function parsePrometheusText(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    let name: string;
    let rest: string;
    if (brace >= 0 && brace < (line.indexOf(' ') === -1 ? Infinity : line.indexOf(' '))) {
      name = line.slice(0, brace);
      const close = line.lastIndexOf('}');
      rest = line.slice(close + 1).trim();
    } else {
      const sp = line.indexOf(' ');
      if (sp < 0) continue;
      name = line.slice(0, sp);
      rest = line.slice(sp + 1).trim();
    }
    const value = Number(rest.split(/\s+/)[0]);
    if (!Number.isFinite(value)) continue;
    out.set(name, (out.get(name) ?? 0) + value);
  }
  return out;
}

export interface ProcMemory {
  /** Current resident set size. */
  rssBytes: number;
  /** Peak resident set size since the process started ("high water mark"). */
  hwmBytes: number;
  /** Anonymous resident memory (heaps, malloc) and file-backed (code, shared libraries); 0 if unknown. */
  anonBytes: number;
  fileBytes: number;
  /** Threads of the process. */
  threads: number;
}

/** VmRSS and VmHWM from /proc/<pid>/status (Linux); undefined elsewhere or when the process is gone. */
export function readProcMemory(pid: number): ProcMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const rss = kb('VmRSS');
  const hwm = kb('VmHWM');
  if (rss === undefined || hwm === undefined) return undefined;
  const threads = /^Threads:\s+(\d+)/m.exec(text);
  return { rssBytes: rss, hwmBytes: hwm, anonBytes: kb('RssAnon') ?? 0, fileBytes: kb('RssFile') ?? 0, threads: threads ? Number(threads[1]) : 0 };
}

/** Keeps the last `max` characters of a stream (a child's stderr) for error messages; never blocks the child. */
function tail(max: number): { push(chunk: Buffer): void; text(): string } {
  let buf = '';
  return {
    push(chunk) {
      buf += chunk.toString('utf8');
      if (buf.length > max) buf = buf.slice(buf.length - max);
    },
    text: () => buf,
  };
}

// ---------------------------------------------------------------------------------------------------
// The gateway.

export type ExportProtocol = 'grpc' | 'http';

export interface GatewayProcessOptions {
  /** `otlp-grpc://host:port` / `otlp-http://host:port`; omitted = the gateway's own default exporter. */
  exportUrl?: string;
  /** `--workers N` (worker threads). */
  workers?: number;
  /** `--config FILE`. */
  configFile?: string;
  /** More CLI arguments, appended last. */
  extraArgs?: string[];
  /** How long to wait for /readyz (default 30 s). */
  readyTimeoutMs?: number;
  /** The compiled CLI (default: $STELLA_BENCH_CLI, else dist/src/cli/main.js of this package). */
  cliPath?: string;
  /** More node flags, after GATEWAY_NODE_FLAGS (e.g. `--trace-gc` while measuring). */
  nodeArgs?: string[];
  /** More environment variables for the gateway (on top of this process's environment and GATEWAY_ENV). */
  env?: Record<string, string>;
  /** Sees everything the gateway writes to stdout and stderr (e.g. to keep a --trace-gc log). */
  onOutput?: (chunk: Buffer) => void;
}

export interface GatewayProcess {
  pid: number;
  /** host:port of the OTLP/gRPC listener. */
  grpcAddress: string;
  /** http://host:port of the OTLP/HTTP listener. */
  httpUrl: string;
  /** http://host:port of the admin listener. */
  adminUrl: string;
  dataDir: string;
  /** The exact command line, for the report. */
  argv: string[];
  /** Scrape /metrics: name → sum over label sets. */
  metrics(): Promise<Map<string, number>>;
  /** The last lines the gateway wrote to stderr (its JSON log). */
  logTail(): string;
  /** SIGTERM (the gateway drains), SIGKILL after `graceMs` (default 10 s); removes the data dir. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawn `node dist/src/cli/main.js telemetry serve` on free loopback ports with a fresh data dir, and
 * wait until its admin /readyz answers 200. Rejects (after killing it) when it exits or is not ready in
 * time, with the tail of its log in the message.
 */
export async function startGatewayProcess(options: GatewayProcessOptions = {}): Promise<GatewayProcess> {
  const host = '127.0.0.1';
  // Free ports picked here rather than port 0: the bench then needs nothing from the gateway's log.
  // Another process can grab a port between our close and the gateway's bind; one retry covers that.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(host, options);
    } catch (err) {
      if (attempt >= 2 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

async function startOnce(host: string, options: GatewayProcessOptions): Promise<GatewayProcess> {
  const [grpcPort, httpPort, adminPort] = [await freePort(host), await freePort(host), await freePort(host)];
  const dataDir = mkdtempSync(join(tmpdir(), 'stella-bench-'));
  // The same V8 flags as `npm start` and the bin, so the bench measures the gateway as it is run.
  const args = [
    ...GATEWAY_NODE_FLAGS,
    ...(options.nodeArgs ?? []),
    options.cliPath ?? process.env.STELLA_BENCH_CLI ?? CLI_PATH,
    'telemetry',
    'serve',
    '--grpc',
    `${host}:${grpcPort}`,
    '--http',
    `${host}:${httpPort}`,
    '--admin',
    `${host}:${adminPort}`,
    '--data-dir',
    dataDir,
  ];
  if (options.configFile) args.push('--config', options.configFile);
  if (options.exportUrl) args.push('--export', options.exportUrl);
  if (options.workers !== undefined) args.push('--workers', String(options.workers));
  if (options.extraArgs) args.push(...options.extraArgs);

  // The same environment as the bin, npm start and the Dockerfile (malloc settings), then the caller's.
  const env = { ...process.env, ...GATEWAY_ENV, ...options.env };
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: packageRoot, env });
  track(child);
  const log = tail(16_384);
  child.stdout!.on('data', (c: Buffer) => log.push(c));
  child.stderr!.on('data', (c: Buffer) => log.push(c));
  if (options.onOutput) {
    child.stdout!.on('data', options.onOutput);
    child.stderr!.on('data', options.onOutput);
  }
  const adminUrl = `http://${host}:${adminPort}`;
  const cleanup = (): void => rmSync(dataDir, { recursive: true, force: true });

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    if (exited) {
      cleanup();
      throw new Error(`the gateway exited before it was ready (code ${child.exitCode}, signal ${child.signalCode}):\n  ${process.execPath} ${args.join(' ')}\n${log.text()}`);
    }
    if (Date.now() > deadline) {
      await terminate(child, 2000);
      cleanup();
      throw new Error(`the gateway was not ready in ${options.readyTimeoutMs ?? 30_000} ms (GET ${adminUrl}/readyz):\n${log.text()}`);
    }
    const ready = await httpGet(`${adminUrl}/readyz`, 1000).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    pid: child.pid!,
    grpcAddress: `${host}:${grpcPort}`,
    httpUrl: `http://${host}:${httpPort}`,
    adminUrl,
    dataDir,
    argv: [process.execPath, ...args],
    async metrics() {
      const r = await httpGet(`${adminUrl}/metrics`);
      if (r.status !== 200) throw new Error(`GET ${adminUrl}/metrics answered ${r.status}`);
      return parsePrometheusText(r.body);
    },
    logTail: () => log.text(),
    async stop(graceMs = 10_000) {
      await terminate(child, graceMs);
      cleanup();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The raw acknowledge-only server as a child (baseline and null sink).

export interface RawServerProcess {
  pid: number;
  protocol: RawProtocol;
  /** host:port (gRPC) or http://host:port (HTTP). */
  address: string;
  port: number;
  /** Its own CPU, memory and request counts, asked over IPC. */
  stats(): Promise<RawServerStats>;
  stop(): Promise<void>;
}

export async function startRawServerProcess(
  protocol: RawProtocol,
  readyTimeoutMs = 15_000,
  options: { windowBytes?: number; tls?: { certFile: string; keyFile: string } } = {},
): Promise<RawServerProcess> {
  const args = ['--protocol', protocol, '--port', '0'];
  if (options.windowBytes !== undefined && protocol === 'grpc') args.push('--window', String(options.windowBytes));
  if (options.tls) args.push('--tls-cert', options.tls.certFile, '--tls-key', options.tls.keyFile);
  const child = fork(RAW_SERVER_PATH, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  track(child);
  const log = tail(8192);
  child.stderr!.on('data', (c: Buffer) => log.push(c));
  const pending = new Map<number, (s: RawServerStats) => void>();
  let nextId = 1;
  const ready = await new Promise<Extract<RawServerMessage, { type: 'ready' }>>((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`raw ${protocol} server not ready in ${readyTimeoutMs} ms\n${log.text()}`));
    }, readyTimeoutMs);
    child.on('message', (m: RawServerMessage) => {
      if (m.type === 'ready') {
        clearTimeout(t);
        resolve(m);
      } else if (m.type === 'stats') {
        pending.get(m.id)?.(m.stats);
        pending.delete(m.id);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      reject(new Error(`raw ${protocol} server exited (code ${code}, signal ${signal})\n${log.text()}`));
    });
  });
  return {
    pid: child.pid!,
    protocol,
    address: ready.address,
    port: ready.port,
    stats() {
      return new Promise<RawServerStats>((resolve, reject) => {
        if (!child.connected) return reject(new Error(`raw ${protocol} server is gone`));
        const id = nextId++;
        const t = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`raw ${protocol} server: no stats answer in 5 s`));
        }, 5000);
        pending.set(id, (s) => {
          clearTimeout(t);
          resolve(s);
        });
        child.send({ type: 'stats', id } satisfies RawServerCommand);
      });
    },
    async stop() {
      if (child.connected) child.send({ type: 'close' } satisfies RawServerCommand);
      if (!(await waitExit(child, 3000))) await terminate(child, 2000);
    },
  };
}
