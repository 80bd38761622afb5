// The bench CLI: `npm run bench -- [flags]` (builds, then runs node dist/bench/run.js).
// Generates a deterministic pool of realistic trace requests, then for each run starts the target as a
// child process (the gateway with a null-sink exporter, or the raw acknowledge-only baseline), drives it
// with N concurrent requests for a warm-up and a measured window, reads the target's CPU at both edges
// of the window and its peak RSS, stops it, and finally prints medians and writes bench/results/*.json.
// See bench/README.md for the flags and for what each figure means.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { defaultPoolSize, generateRequestPool, type RequestPool } from './generate.js';
import { killAllChildren, readProcMemory, startGatewayProcess, startRawServerProcess, type GatewayProcess } from './gateway-process.js';
import { createGrpcDriver, createH2GrpcDriver, createHttpDriver, prepareBodies, runLoad, type Driver, type DriverTls, type LoadOptions, type LoadResult } from './load.js';
import { DEFAULT_TRUST_DOMAIN, writeDevCerts } from '../src/cli/commands/certs-init.js';
import type { RawServerStats } from './raw-server.js';
import { buildSummary, environment, formatReport, formatRunLine, writeReport, type BenchOptionsRecord, type BenchReport, type RunRecord } from './report.js';
import { runAsScript } from './script.js';

export interface BenchOptions extends BenchOptionsRecord {
  name: string;
  resultsDir: string;
  poolSize: number;
  quiet: boolean;
  /** Gateway runs with the forensic tee on (forensic.mode: always). */
  tee: boolean;
  /** The gateway's exporter keeps a persistent queue with this sync mode (null: in memory). */
  persistent?: 'batch' | 'always' | 'none' | null;
  /** Generate traces with dense personal data (generate.ts densePii: ~4–5 redacted strings per span). */
  densePii?: boolean;
  /** Gateway OTLP listeners with mTLS (a development PKI from certs init); the load keeps its connections. */
  tls?: boolean;
}

const USAGE = `usage: npm run bench -- [flags]
  --protocol grpc|http     OTLP protocol the load uses (default grpc)
  --concurrency N          requests in flight (default 8)
  --spans M                spans per request (default 500)
  --duration D             measured window, e.g. 10s, 500ms, 1m (default 10s)
  --warmup D               load before the window opens (default 2s)
  --gzip                   gzip-compress the requests
  --runs K                 runs per target; medians are reported (default 3)
  --baseline               also run the raw acknowledge-only server, alternating with the gateway
  --only-baseline          run only the raw server (no gateway needed)
  --workers N              gateway worker threads (--workers of stella telemetry serve)
  --export grpc|http|none  gateway → null sink protocol (default: same as --protocol; none = the
                           gateway's own default exporter, files under its data dir)
  --config FILE            gateway config file (--config of stella telemetry serve)
  --tee                    gateway with the forensic tee on (forensic.mode: always; not with --config;
                           node dist/bench/tee-compare.js alternates tee off and on)
  --persistent SYNC        the gateway's exporter keeps a persistent queue (queue.persistent: true) with
                           queue.sync SYNC: batch, always or none (not with --config/--tee;
                           node dist/bench/queue-compare.js alternates in-memory and persistent)
  --dense-pii              traces with ~4–5 strings per span the default policies redact
                           (node dist/bench/policy-compare.js alternates no policy and the defaults)
  --tls                    mTLS on the gateway's OTLP listeners (development PKI in a temp dir), long-lived
                           connections; not with --baseline (node dist/bench/tls-compare.js alternates
                           plain and TLS and measures the handshake cost)
  --sink-tls               the gateway exports to the null sink over TLS (otlp-grpcs:// or https://, the
                           dev CA as the exporter's tls.caFile); compare with bench/export-tls-compare.ts
  --sink-window BYTES      HTTP/2 stream window the gRPC null sink advertises, as grpc-go backends grow
                           theirs (default 1048576; 0 = grpc-js's 64 KiB defaults, export then stalls on
                           flow control); the raw baseline server always keeps the defaults
  --connections N          gRPC connections the load is spread over (default 1)
  --client grpc-js|h2      gRPC client of the load: grpc-js (default, what SDK exporters use) or a lean
                           node:http2 client with half grpc-js's latency floor (for latency at --rate)
  --rate SPANS             offered load in spans per second: requests start at fixed intervals, at most
                           --concurrency in flight (default: closed loop, the target runs saturated);
                           compares configurations at the same throughput
  --seed S                 PRNG seed of the generated traces (default 1)
  --pool P                 distinct requests to cycle through (default 64, fewer for large --spans)
  --name NAME              result name (default from the flags)
  --results-dir DIR        where the JSON goes (default bench/results)
  --quick                  CI smoke preset: 2s window, 0.5s warm-up, 1 run (explicit flags win)
  --quiet                  no per-run progress lines`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** `10s`, `500ms`, `1m`, `1.5s`, or a bare number of seconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: expected a duration such as 10s or 500ms (got "${text}")`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}

function positiveInt(flag: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer ≥ ${min} (got "${text}")`);
  return n;
}

/** Parse the command line; throws UsageError with a message naming the flag. Returns undefined for --help. */
export function parseBenchArgs(argv: string[]): BenchOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        protocol: { type: 'string' },
        concurrency: { type: 'string' },
        spans: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        gzip: { type: 'boolean' },
        runs: { type: 'string' },
        baseline: { type: 'boolean' },
        'only-baseline': { type: 'boolean' },
        workers: { type: 'string' },
        export: { type: 'string' },
        config: { type: 'string' },
        tee: { type: 'boolean' },
        persistent: { type: 'string' },
        'dense-pii': { type: 'boolean' },
        tls: { type: 'boolean' },
        connections: { type: 'string' },
        client: { type: 'string' },
        rate: { type: 'string' },
        'sink-window': { type: 'string' },
        'sink-tls': { type: 'boolean' },
        seed: { type: 'string' },
        pool: { type: 'string' },
        name: { type: 'string' },
        'results-dir': { type: 'string' },
        quick: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const v = parsed.values;
  if (v.help) return undefined;
  const protocol = v.protocol ?? 'grpc';
  if (protocol !== 'grpc' && protocol !== 'http') throw new UsageError(`--protocol: expected grpc or http (got "${protocol}")`);
  const exp = v.export ?? protocol;
  if (exp !== 'grpc' && exp !== 'http' && exp !== 'none') throw new UsageError(`--export: expected grpc, http or none (got "${exp}")`);
  if (v.tee && v.config !== undefined) throw new UsageError('--tee and --config exclude each other (put forensic.mode: always in the file)');
  const persistent = v.persistent ?? null;
  if (persistent !== null && persistent !== 'batch' && persistent !== 'always' && persistent !== 'none') {
    throw new UsageError(`--persistent: expected batch, always or none (got "${persistent}")`);
  }
  if (persistent !== null && (v.config !== undefined || v.tee)) throw new UsageError('--persistent excludes --config and --tee (put exporterDefaults.queue in the file)');
  if (persistent !== null && exp === 'none') throw new UsageError('--persistent needs a network exporter (--export grpc or http)');
  if (v.baseline && v['only-baseline']) throw new UsageError('--baseline and --only-baseline exclude each other');
  if (v.tls && (v.baseline || v['only-baseline'])) throw new UsageError('--tls is for the gateway only (the raw baseline server has no TLS)');
  if (v['sink-tls'] && (exp === 'none' || v.config !== undefined || v.tee)) {
    throw new UsageError('--sink-tls needs the null sink (not --export none) and writes its own config (not with --config or --tee)');
  }
  const client = v.client ?? 'grpc-js';
  if (client !== 'grpc-js' && client !== 'h2') throw new UsageError(`--client: expected grpc-js or h2 (got "${client}")`);
  if (v.client !== undefined && protocol !== 'grpc') throw new UsageError('--client is for --protocol grpc');
  const quick = v.quick === true;
  const concurrency = positiveInt('--concurrency', v.concurrency ?? '8');
  const spansPerRequest = positiveInt('--spans', v.spans ?? '500');
  const durationMs = parseDuration('--duration', v.duration ?? (quick ? '2s' : '10s'));
  if (durationMs < 100) throw new UsageError('--duration: at least 100ms');
  const warmupMs = parseDuration('--warmup', v.warmup ?? (quick ? '0.5s' : '2s'));
  const runs = positiveInt('--runs', v.runs ?? (quick ? '1' : '3'));
  const gzip = v.gzip === true;
  const mode: BenchOptions['mode'] = v['only-baseline'] ? 'baseline' : v.baseline ? 'gateway+baseline' : 'gateway';
  const defaultName = quick ? `quick-${protocol}` : `${protocol}${gzip ? '-gzip' : ''}-c${concurrency}-s${spansPerRequest}`;
  return {
    protocol,
    concurrency,
    spansPerRequest,
    durationMs,
    warmupMs,
    gzip,
    runs,
    mode,
    workers: v.workers === undefined ? null : positiveInt('--workers', v.workers, 0),
    export: exp,
    config: v.config ?? null,
    tee: v.tee === true,
    persistent,
    densePii: v['dense-pii'] === true,
    tls: v.tls === true,
    connections: positiveInt('--connections', v.connections ?? '1'),
    client,
    rate: v.rate === undefined ? null : positiveInt('--rate', v.rate),
    sinkWindowBytes: sinkWindow(v['sink-window']),
    sinkTls: v['sink-tls'] === true,
    seed: positiveInt('--seed', v.seed ?? '1', 0),
    name: v.name ?? (mode === 'baseline' ? `baseline-${defaultName}` : v.tls ? `${defaultName}-tls` : persistent ? `${defaultName}-persistent-${persistent}` : defaultName),
    resultsDir: v['results-dir'] ?? join(packageRoot, 'bench', 'results'),
    poolSize: v.pool === undefined ? defaultPoolSize(spansPerRequest) : positiveInt('--pool', v.pool),
    quiet: v.quiet === true,
  };
}

/** The null sink's default: a window that lets one 290 KB export request go out without a stall. */
export const DEFAULT_SINK_WINDOW_BYTES = 1024 * 1024;

function sinkWindow(value: string | undefined): number | null {
  if (value === undefined) return DEFAULT_SINK_WINDOW_BYTES;
  const n = positiveInt('--sink-window', value, 0);
  if (n === 0) return null;
  if (n < 65_535 || n > 2 ** 31 - 1) throw new UsageError(`--sink-window: expected 0 or bytes from 65535 to 2147483647 (got "${value}")`);
  return n;
}

// ---------------------------------------------------------------------------------------------------

interface RunContext {
  options: BenchOptions;
  bodies: Buffer[];
  signal: AbortSignal;
  gatewayCommand?: string[];
}

function makeDriver(o: BenchOptions, grpcAddress: string, httpUrl: string, tls?: DriverTls): Driver {
  const grpcOptions = { address: grpcAddress, gzip: o.gzip, connections: o.connections, ...(tls ? { tls } : {}) };
  return o.protocol === 'grpc'
    ? o.client === 'h2'
      ? createH2GrpcDriver(grpcOptions)
      : createGrpcDriver(grpcOptions)
    : createHttpDriver({ baseUrl: httpUrl, gzip: o.gzip, maxSockets: o.concurrency, ...(tls ? { tls } : {}) });
}

/** A development PKI (certs init's generator) for --tls runs: made once per bench process. */
let benchPki: Promise<{ args: string[]; client: DriverTls }> | undefined;
let benchPkiFiles: { server: string; serverKey: string; ca: string } | undefined;
export function tlsMaterial(): Promise<{ args: string[]; client: DriverTls }> {
  benchPki ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stella-bench-pki-'));
    const r = await writeDevCerts({ out: dir, tenants: ['bench'], days: 2, trustDomain: DEFAULT_TRUST_DOMAIN, force: false });
    if (!r.ok) throw new Error(`bench --tls: ${r.error}`);
    const f = r.files;
    const client = f.clients.bench!;
    benchPkiFiles = { server: f.server, serverKey: f.serverKey, ca: f.ca };
    return {
      args: ['--tls-cert', f.server, '--tls-key', f.serverKey, '--tls-client-ca', f.ca],
      client: { ca: readFileSync(f.ca), cert: readFileSync(client.cert), key: readFileSync(client.key) },
    };
  })();
  return benchPki;
}

/** Peak RSS of a child: the kernel's high-water mark, else the largest sample polled during the run. */
function rssTracker(pid: number, fallback?: () => Promise<number | undefined>) {
  let polled = 0;
  return {
    async tick(): Promise<void> {
      const m = readProcMemory(pid);
      const v = m ? m.rssBytes : await fallback?.();
      if (v !== undefined && v > polled) polled = v;
    },
    peak(extra?: number): number | null {
      const hwm = readProcMemory(pid)?.hwmBytes ?? 0;
      const p = Math.max(hwm, polled, extra ?? 0);
      return p > 0 ? p : null;
    },
  };
}

function record(target: RunRecord['target'], run: number, load: LoadResult, cpuSeconds: number, peakRssBytes: number | null): RunRecord {
  return {
    target,
    run,
    windowSeconds: load.windowSeconds,
    requests: load.requests,
    spans: load.spans,
    spansPerSecond: load.spansPerSecond,
    latencyMs: load.latencyMs,
    cpuSeconds,
    cpuSecondsPerMillionSpans: load.spans > 0 ? (cpuSeconds / load.spans) * 1e6 : NaN,
    peakRssBytes,
    clientCpuSeconds: load.clientCpuSeconds,
    errors: load.errors,
    failedRequests: load.totalFailed,
  };
}

const cpuOf = (s: RawServerStats): number => (s.cpuUserMicros + s.cpuSystemMicros) / 1e6;

/** The measured load against one target, with the run's options; the driver is closed whatever happens. */
async function driveLoad(
  ctx: RunContext,
  driver: Driver,
  hooks: Pick<LoadOptions, 'onWindowStart' | 'onWindowEnd' | 'onTick'>,
): Promise<LoadResult> {
  const o = ctx.options;
  try {
    return await runLoad({
      driver,
      bodies: ctx.bodies,
      spansPerRequest: o.spansPerRequest,
      concurrency: o.concurrency,
      ...(o.rate ? { requestsPerSecond: o.rate / o.spansPerRequest } : {}),
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      signal: ctx.signal,
      ...hooks,
    });
  } finally {
    await driver.close();
  }
}

async function baselineRun(ctx: RunContext, run: number): Promise<RunRecord | undefined> {
  const o = ctx.options;
  const server = await startRawServerProcess(o.protocol);
  try {
    const driver = makeDriver(o, server.address, server.address);
    let s0: RawServerStats | undefined;
    let s1: RawServerStats | undefined;
    const rss = rssTracker(server.pid, async () => (await server.stats()).rssBytes);
    const load = await driveLoad(ctx, driver, {
      onWindowStart: async () => void (s0 = await server.stats()),
      onWindowEnd: async () => void (s1 = await server.stats()),
      onTick: () => rss.tick(),
    });
    if (load.aborted) return undefined; // an interrupted run measured an arbitrary stretch: not a sample
    const final = await server.stats();
    const cpu = s0 && s1 ? cpuOf(s1) - cpuOf(s0) : NaN;
    return record('baseline', run, load, cpu, rss.peak(final.maxRssBytes));
  } finally {
    await server.stop();
  }
}

const sumOf = (m: Map<string, number>, name: string): number => m.get(name) ?? 0;

/** Wait (up to `ms`) until the gateway's exporters hold nothing, so the exported count is final. */
async function settleExports(gw: GatewayProcess, ms: number): Promise<Map<string, number>> {
  const deadline = Date.now() + ms;
  let m = await gw.metrics();
  while (Date.now() < deadline && m.has('exporter_queue_size_bytes') && sumOf(m, 'exporter_queue_size_bytes') > 0) {
    await new Promise((r) => setTimeout(r, 100));
    m = await gw.metrics();
  }
  return m;
}

/** A config file that gives every exporter a persistent queue with this sync mode (under the run's data dir). */
function persistentConfigFile(sync: string): string {
  const file = join(tmpdir(), `stella-bench-queue-${sync}-${process.pid}.yaml`);
  writeFileSync(file, `exporterDefaults:\n  queue:\n    persistent: true\n    sync: ${sync}\n`);
  return file;
}

/** A config file that turns the forensic tee on for every tenant (archive under the run's data dir). */
/** The dev PKI's server certificate for the TLS null sink and its CA for the exporter (made once). */
async function sinkTlsFiles(): Promise<{ server: string; serverKey: string; ca: string }> {
  await tlsMaterial();
  return benchPkiFiles!;
}

function sinkTlsConfigFile(endpoint: string, caFile: string): string {
  const file = join(tmpdir(), `stella-bench-sink-tls-${process.pid}.yaml`);
  writeFileSync(file, `exporters:\n  - endpoint: ${JSON.stringify(endpoint)}\n    tls: { caFile: ${JSON.stringify(caFile)} }\n`);
  return file;
}

function teeConfigFile(): string {
  const file = join(tmpdir(), `stella-bench-tee-${process.pid}.yaml`);
  writeFileSync(file, 'forensic:\n  mode: always\n');
  return file;
}

async function gatewayRun(ctx: RunContext, run: number): Promise<RunRecord | undefined> {
  const o = ctx.options;
  const sinkPki = o.sinkTls ? await sinkTlsFiles() : undefined;
  const sink =
    o.export === 'none'
      ? undefined
      : await startRawServerProcess(o.export, undefined, {
          ...(o.sinkWindowBytes ? { windowBytes: o.sinkWindowBytes } : {}),
          ...(sinkPki ? { tls: { certFile: sinkPki.server, keyFile: sinkPki.serverKey } } : {}),
        });
  try {
    // --sink-tls: the same exporter over TLS, in a config file (the CA is not a --export URL's business).
    const sinkTlsConfig = sink && sinkPki ? sinkTlsConfigFile(o.export === 'grpc' ? `otlp-grpcs://127.0.0.1:${sink.port}` : `https://127.0.0.1:${sink.port}`, sinkPki.ca) : undefined;
    const exportUrl = sink && !sinkTlsConfig ? `${o.export === 'grpc' ? 'otlp-grpc' : 'otlp-http'}://127.0.0.1:${sink.port}` : undefined;
    const tls = o.tls ? await tlsMaterial() : undefined;
    const gw = await startGatewayProcess({
      ...(tls ? { extraArgs: tls.args } : {}),
      ...(exportUrl ? { exportUrl } : {}),
      ...(o.workers !== null ? { workers: o.workers } : {}),
      ...(sinkTlsConfig ? { configFile: sinkTlsConfig } : o.config ? { configFile: o.config } : o.tee ? { configFile: teeConfigFile() } : o.persistent ? { configFile: persistentConfigFile(o.persistent) } : {}),
    });
    ctx.gatewayCommand ??= gw.argv;
    try {
      const driver = makeDriver(o, gw.grpcAddress, gw.httpUrl, tls?.client);
      let cpu0 = NaN;
      let cpu1 = NaN;
      let sink0: RawServerStats | undefined;
      let sink1: RawServerStats | undefined;
      const cpuFrom = (m: Map<string, number>): number => {
        const v = m.get('process_cpu_seconds_total');
        if (v === undefined) throw new Error(`the gateway's /metrics has no process_cpu_seconds_total`);
        return v;
      };
      const rss = rssTracker(gw.pid, async () => (await gw.metrics()).get('process_resident_memory_bytes'));
      const load = await driveLoad(ctx, driver, {
        onWindowStart: async () => {
          const [m, s] = await Promise.all([gw.metrics(), sink?.stats()]);
          cpu0 = cpuFrom(m);
          sink0 = s;
        },
        onWindowEnd: async () => {
          const [m, s] = await Promise.all([gw.metrics(), sink?.stats()]);
          cpu1 = cpuFrom(m);
          sink1 = s;
        },
        onTick: () => rss.tick(),
      });
      if (load.aborted) return undefined;
      const m = await settleExports(gw, 5000);
      const peak = rss.peak(m.get('process_resident_memory_bytes'));
      const r = record('gateway', run, load, cpu1 - cpu0, peak);
      const refusedRequests = sumOf(m, 'receiver_refused_requests_total');
      const exporterDroppedItems = sumOf(m, 'exporter_dropped_items_total');
      const exporterRefusedItems = sumOf(m, 'exporter_refused_items_total');
      r.gateway = {
        acceptedSpans: sumOf(m, 'receiver_accepted_items_total'),
        exportedSpans: sumOf(m, 'exporter_sent_items_total'),
        refusedRequests,
        refusedItems: sumOf(m, 'receiver_refused_items_total'),
        exporterDroppedItems,
        exporterRefusedItems,
        refusedAndDropped: refusedRequests + exporterDroppedItems + exporterRefusedItems,
        ...(m.has('tee_written_records_total') ? { teeWrittenRecords: sumOf(m, 'tee_written_records_total') } : {}),
        ...(m.has('tee_shed_records_total') ? { teeShedRecords: sumOf(m, 'tee_shed_records_total') } : {}),
      };
      if (sink && sink0 && sink1) {
        // Requests and bytes over the whole run (after the exports settled); CPU over the window.
        const final = await sink.stats();
        const c = cpuOf(sink1) - cpuOf(sink0);
        r.sink = { requests: final.requests, bytes: final.bytes, cpuSeconds: c, cpuSecondsPerMillionSpans: load.spans > 0 ? (c / load.spans) * 1e6 : NaN };
      }
      return r;
    } finally {
      await gw.stop();
    }
  } finally {
    await sink?.stop();
  }
}

export interface BenchOutcome {
  report: BenchReport;
  /** The JSON file written; undefined when no run finished (interrupted during the first). */
  path?: string;
  /** False when a run acknowledged no span at all (a broken target). */
  ok: boolean;
}

/** Run the whole bench; progress lines go to `log`. */
export async function runBench(options: BenchOptions, signal: AbortSignal, log: (line: string) => void = () => {}): Promise<BenchOutcome> {
  const startedAt = new Date();
  log(`generating ${options.poolSize} requests × ${options.spansPerRequest} spans (seed ${options.seed}) …`);
  const pool: RequestPool = generateRequestPool({ count: options.poolSize, spansPerRequest: options.spansPerRequest, seed: options.seed, densePii: options.densePii === true });
  const ctx: RunContext = { options, bodies: prepareBodies(pool.requests, options.protocol, options.gzip, options.client), signal };

  const plan: Array<RunRecord['target']> = [];
  for (let i = 0; i < options.runs; i++) {
    if (options.mode !== 'gateway') plan.push('baseline');
    if (options.mode !== 'baseline') plan.push('gateway');
  }
  const runs: RunRecord[] = [];
  const counts = { gateway: 0, baseline: 0 };
  let error: string | undefined;
  for (const target of plan) {
    if (signal.aborted) break;
    const n = ++counts[target];
    log(`${target} #${n}: ${options.warmupMs / 1000} s warm-up + ${options.durationMs / 1000} s …`);
    try {
      const r = target === 'baseline' ? await baselineRun(ctx, n) : await gatewayRun(ctx, n);
      if (!r) break; // interrupted
      runs.push(r);
      log(formatRunLine(r));
    } catch (err) {
      // Nothing measured: nothing to report. Otherwise keep the runs done so far, and say why it stopped.
      if (runs.length === 0) throw err;
      error = `${target} #${n}: ${err instanceof Error ? err.message : String(err)}`;
      log(`bench: ${error}`);
      break;
    }
  }

  const { name, resultsDir: _d, poolSize: _p, quiet: _q, ...recorded } = options;
  const report: BenchReport = {
    version: 1,
    name,
    startedAt: startedAt.toISOString(),
    options: recorded,
    environment: environment(),
    pool: { requests: pool.requests.length, spansPerRequest: pool.spansPerRequest, avgRequestBytes: pool.totalBytes / pool.requests.length, bytesPerSpan: pool.bytesPerSpan },
    ...(ctx.gatewayCommand ? { gatewayCommand: ctx.gatewayCommand } : {}),
    runs,
    summary: buildSummary(runs),
    ...(error ? { error } : {}),
    ...(signal.aborted ? { interrupted: true } : {}),
  };
  const path = runs.length > 0 ? writeReport(report, options.resultsDir) : undefined;
  return { report, ...(path ? { path } : {}), ok: error === undefined && runs.length > 0 && runs.every((r) => r.spans > 0) };
}

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // First signal: stop the load, write what was measured, stop the children. Second: leave now.
    if (++interrupts > 1) {
      killAllChildren();
      process.exit(130);
    }
    process.stderr.write(`\nbench: ${sig}, stopping …\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const log = options.quiet ? () => {} : (line: string) => process.stderr.write(`${line}\n`);
  const outcome = await runBench(options, controller.signal, log);
  if (outcome.path) process.stdout.write(`\n${formatReport(outcome.report, outcome.path)}\n`);
  if (controller.signal.aborted) {
    if (!outcome.path) process.stderr.write('bench: interrupted before any run finished; nothing written\n');
    return 130;
  }
  if (!outcome.ok) {
    process.stderr.write(outcome.report.error ? `bench: stopped early: ${outcome.report.error}\n` : 'bench: a run acknowledged no spans (see the errors above)\n');
    return 1;
  }
  return 0;
}

runAsScript('bench', import.meta.url, main);
