// What a bench run reports: one record per measured run, medians per target (the machine is shared
// and noisy, so a single run proves little), the gateway/baseline ratio, a JSON file under
// bench/results/ and a table on stdout. The meaning of every figure is in bench/README.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import type { GrpcClient } from './load.js';

export type Target = 'gateway' | 'baseline';

export interface RunRecord {
  target: Target;
  /** 1-based index among the runs of this target. */
  run: number;
  windowSeconds: number;
  /** Requests and spans acknowledged inside the measured window. */
  requests: number;
  spans: number;
  spansPerSecond: number;
  /** Acknowledgement latency seen by the load generator, ms. */
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** CPU seconds (user + system, all threads) the target process used over the window. */
  cpuSeconds: number;
  cpuSecondsPerMillionSpans: number;
  /** Peak resident set size of the target process over its life (start-up, warm-up and run). */
  peakRssBytes: number | null;
  /** CPU of the bench process itself over the window (the load generator; a saturated client caps throughput). */
  clientCpuSeconds: number;
  /** Answers other than an acknowledgement inside the window, by code. */
  errors: Record<string, number>;
  /** Requests not acknowledged over the whole run (warm-up and drain included). */
  failedRequests: number;
  /** Gateway only, from its /metrics at the end of the run (whole run, after exports settled). */
  gateway?: {
    acceptedSpans: number;
    exportedSpans: number;
    refusedRequests: number;
    refusedItems: number;
    exporterDroppedItems: number;
    exporterRefusedItems: number;
    /** refusedRequests + exporterDroppedItems + exporterRefusedItems. */
    refusedAndDropped: number;
    /** Forensic tee (runs with it on): requests archived and shed (tee_*_records_total), whole run. */
    teeWrittenRecords?: number;
    teeShedRecords?: number;
  };
  /** The null sink the gateway exported to (gateway runs with an OTLP export): requests and bytes over
   *  the whole run, CPU over the window (per million spans the load generator had acknowledged). */
  sink?: { requests: number; bytes: number; cpuSeconds: number; cpuSecondsPerMillionSpans: number };
}

export interface TargetSummary {
  runs: number;
  /** Medians over the runs. */
  spansPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuSecondsPerMillionSpans: number;
  /** Largest peak RSS of any run. */
  peakRssBytes: number | null;
  /** Sums over the runs. */
  failedRequests: number;
  refusedAndDropped: number | null;
}

export interface BenchOptionsRecord {
  protocol: 'grpc' | 'http';
  concurrency: number;
  spansPerRequest: number;
  durationMs: number;
  warmupMs: number;
  gzip: boolean;
  runs: number;
  mode: 'gateway' | 'gateway+baseline' | 'baseline';
  workers: number | null;
  export: 'grpc' | 'http' | 'none';
  config: string | null;
  connections: number;
  /** gRPC client of the load (--client); absent = grpc-js. */
  client?: GrpcClient;
  seed: number;
  /** Offered load in spans per second (--rate); null = closed loop, as fast as the target answers. */
  rate?: number | null;
  /**
   * HTTP/2 window per stream the gRPC null sink advertises (the connection gets 4×); null = grpc-js's
   * 64 KiB defaults. The raw baseline server always keeps the defaults.
   */
  sinkWindowBytes?: number | null;
  /** The gateway exports to the null sink over TLS (otlp-grpcs:// / https://, the dev CA as tls.caFile). */
  sinkTls?: boolean;
  /** Persistent export queue of the gateway's exporter (--persistent): its sync mode; null/absent = in memory. */
  persistent?: 'batch' | 'always' | 'none' | null;
}

export interface BenchReport {
  /** Format version of this file. */
  version: 1;
  name: string;
  /** ISO time the bench started. */
  startedAt: string;
  options: BenchOptionsRecord;
  environment: { node: string; platform: string; arch: string; cpus: number; cpuModel: string; loadAvg1m: number; totalMemBytes: number };
  pool: { requests: number; spansPerRequest: number; avgRequestBytes: number; bytesPerSpan: number };
  /** The gateway command line of the first gateway run (ports and data dir vary per run). */
  gatewayCommand?: string[];
  runs: RunRecord[];
  summary: {
    gateway?: TargetSummary;
    baseline?: TargetSummary;
    /** gateway ÷ baseline, from the medians. */
    ratio?: { cpuSecondsPerMillionSpans: number; spansPerSecond: number; p99Ms: number };
  };
  /** Why the bench stopped before its last run (the runs above were completed). */
  error?: string;
  /** Stopped by SIGINT/SIGTERM; the interrupted run is not included. */
  interrupted?: true;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(runs: readonly RunRecord[]): TargetSummary | undefined {
  if (runs.length === 0) return undefined;
  const rss = runs.map((r) => r.peakRssBytes).filter((v): v is number => v !== null);
  const gw = runs.map((r) => r.gateway).filter((g) => g !== undefined);
  return {
    runs: runs.length,
    spansPerSecond: median(runs.map((r) => r.spansPerSecond)),
    p50Ms: median(runs.map((r) => r.latencyMs.p50)),
    p99Ms: median(runs.map((r) => r.latencyMs.p99)),
    cpuSecondsPerMillionSpans: median(runs.map((r) => r.cpuSecondsPerMillionSpans)),
    peakRssBytes: rss.length ? Math.max(...rss) : null,
    failedRequests: runs.reduce((n, r) => n + r.failedRequests, 0),
    refusedAndDropped: gw.length ? gw.reduce((n, g) => n + g.refusedAndDropped, 0) : null,
  };
}

export function buildSummary(runs: readonly RunRecord[]): BenchReport['summary'] {
  const gateway = summarize(runs.filter((r) => r.target === 'gateway'));
  const baseline = summarize(runs.filter((r) => r.target === 'baseline'));
  const summary: BenchReport['summary'] = {};
  if (gateway) summary.gateway = gateway;
  if (baseline) summary.baseline = baseline;
  if (gateway && baseline) {
    summary.ratio = {
      cpuSecondsPerMillionSpans: gateway.cpuSecondsPerMillionSpans / baseline.cpuSecondsPerMillionSpans,
      spansPerSecond: gateway.spansPerSecond / baseline.spansPerSecond,
      p99Ms: gateway.p99Ms / baseline.p99Ms,
    };
  }
  return summary;
}

export function environment(): BenchReport['environment'] {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    loadAvg1m: os.loadavg()[0] ?? 0,
    totalMemBytes: os.totalmem(),
  };
}

/** `2025-01-31T12-04-05Z`: sortable, and valid in a file name everywhere. */
export function fileTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
}

/** A name reduced to file-name-safe characters. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || 'bench';
}

/** Write the report as `<dir>/<timestamp>-<name>.json`; returns the path. */
export function writeReport(report: BenchReport, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${fileTimestamp(new Date(report.startedAt))}-${safeName(report.name)}.json`);
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

// ---------------------------------------------------------------------------------------------------
// Text output.

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fix = (n: number, d: number): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
const mib = (b: number | null): string => (b === null ? '-' : `${(b / 1048576).toFixed(0)} MiB`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/** One line per finished run (progress output). */
export function formatRunLine(r: RunRecord): string {
  const errs = Object.entries(r.errors)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const parts = [
    `${r.target} #${r.run}:`,
    `${int(r.spansPerSecond)} spans/s`,
    `p50 ${fix(r.latencyMs.p50, 1)} ms`,
    `p99 ${fix(r.latencyMs.p99, 1)} ms`,
    `${fix(r.cpuSecondsPerMillionSpans, 2)} CPU s/Mspans`,
    `peak RSS ${mib(r.peakRssBytes)}`,
    `client CPU ${fix((r.clientCpuSeconds / r.windowSeconds) * 100, 0)}%`,
  ];
  if (r.gateway) parts.push(`refused+dropped ${int(r.gateway.refusedAndDropped)}`, `exported ${int(r.gateway.exportedSpans)}/${int(r.gateway.acceptedSpans)} spans`);
  if (r.sink) parts.push(`sink ${fix(r.sink.cpuSecondsPerMillionSpans, 2)} CPU s/Mspans`);
  if (errs) parts.push(`errors: ${errs}`);
  return parts.join('  ');
}

export function formatReport(report: BenchReport, path?: string): string {
  const o = report.options;
  const lines: string[] = [];
  lines.push(
    `bench "${report.name}": ${o.protocol}${o.gzip ? '+gzip' : ''}${o.client === 'h2' ? ' (h2 client)' : ''}, ${o.concurrency} in flight × ${o.spansPerRequest} spans${o.rate ? ` at ${o.rate} spans/s offered` : ''}, ` +
      `${o.durationMs / 1000} s measured after ${o.warmupMs / 1000} s warm-up, ${o.runs} run(s), export ${o.export}` +
      `${o.workers !== null ? `, ${o.workers} workers` : ''}` +
      `${o.export === 'grpc' && o.mode !== 'baseline' ? `, sink window ${o.sinkWindowBytes ? `${Math.round(o.sinkWindowBytes / 1024)} KiB` : 'grpc-js default'}` : ''}`,
  );
  lines.push(`pool: ${report.pool.requests} requests, ${int(report.pool.avgRequestBytes)} bytes each (${fix(report.pool.bytesPerSpan, 0)} bytes/span); node ${report.environment.node}, ${report.environment.cpus} CPUs`);
  const rows: string[][] = [['target', 'runs', 'spans/s', 'p50 ms', 'p99 ms', 'CPU s/Mspans', 'peak RSS', 'refused+dropped', 'failed']];
  for (const t of ['baseline', 'gateway'] as const) {
    const s = report.summary[t];
    if (!s) continue;
    rows.push([t, String(s.runs), int(s.spansPerSecond), fix(s.p50Ms, 1), fix(s.p99Ms, 1), fix(s.cpuSecondsPerMillionSpans, 2), mib(s.peakRssBytes), s.refusedAndDropped === null ? '-' : int(s.refusedAndDropped), int(s.failedRequests)]);
  }
  lines.push('', table(rows), '');
  const r = report.summary.ratio;
  if (r) lines.push(`gateway/baseline: CPU per span ×${fix(r.cpuSecondsPerMillionSpans, 2)}, throughput ×${fix(r.spansPerSecond, 2)}, p99 ×${fix(r.p99Ms, 2)} (medians)`);
  if (path) lines.push(`results: ${path}`);
  return lines.join('\n');
}
