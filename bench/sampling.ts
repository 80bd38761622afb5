// The tail sampler's bench: `node dist/bench/sampling.js cpu|memory [flags]` (after `npm run build`).
//
// cpu: the same gRPC load against the gateway with sampling off, on with a keep-everything policy (the
//   sampler's own cost: the same spans are exported) and on with the default policy (errors, slow, 10%),
//   alternating in one run; medians of CPU s/Mspans. CPU seconds per million spans read as µs per span,
//   so the difference to "off" is the sampler's cost per span (target ≤ 1 µs).
// memory: the gateway with sampling on and decisions held back (decisionWait 10 min) is fed fresh small
//   traces until `--traces` are buffered, then its resident memory is read: it must stay within
//   sampling.maxBytes + 150 MiB.
//
// Every request gets fresh trace ids (the pool's ids with a per-send counter in their first four bytes):
// a pool that repeated its ids would only exercise the decision cache. Uses the bench harness's pieces
// (generate.ts, load.ts, gateway-process.ts); results go to bench/results/<time>-sampling-<mode>.json.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { generateRequestPool } from './generate.js';
import { readProcMemory, startGatewayProcess, startRawServerProcess } from './gateway-process.js';
import { createGrpcDriver, runLoad, type Driver } from './load.js';
import { parseDuration } from './run.js';
import { median } from './report.js';
import { runAsScript } from './script.js';

const MiB = 1024 * 1024;

/** Where each span's 16-byte trace id starts in an encoded ExportTraceServiceRequest (field paths 1.2.2.1). */
export function traceIdOffsets(body: Uint8Array): number[] {
  const out: number[] = [];
  const varint = (p: number): [number, number] => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = body[p++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return [v, p];
      shift += 7;
    }
  };
  const fields = (start: number, end: number, fn: (field: number, wt: number, s: number, e: number) => void): void => {
    let p = start;
    while (p < end) {
      const [tag, q] = varint(p);
      const wt = tag & 7;
      let s = q;
      let e: number;
      if (wt === 2) {
        const [len, r] = varint(q);
        s = r;
        e = r + len;
      } else if (wt === 0) e = varint(q)[1];
      else if (wt === 1) e = q + 8;
      else if (wt === 5) e = q + 4;
      else throw new Error(`wire type ${wt}`);
      fn(tag >>> 3, wt, s, e);
      p = e;
    }
  };
  fields(0, body.length, (f, wt, s, e) => {
    if (f !== 1 || wt !== 2) return;
    fields(s, e, (f2, wt2, s2, e2) => {
      if (f2 !== 2 || wt2 !== 2) return;
      fields(s2, e2, (f3, wt3, s3, e3) => {
        if (f3 !== 2 || wt3 !== 2) return;
        fields(s3, e3, (f4, wt4, s4, e4) => {
          if (f4 === 1 && wt4 === 2 && e4 - s4 === 16) out.push(s4);
        });
      });
    });
  });
  return out;
}

/** A driver that gives every request fresh trace ids before sending it (in place: the pool is cycled). */
export function freshIds(inner: Driver, bodies: readonly Buffer[]): Driver {
  const offsets = new Map<Buffer, number[]>(bodies.map((b) => [b, traceIdOffsets(b)]));
  let counter = 0;
  return {
    protocol: inner.protocol,
    send(body) {
      const n = ++counter;
      for (const o of offsets.get(body) ?? []) body.writeUInt32LE(n >>> 0, o);
      return inner.send(body);
    },
    close: () => inner.close(),
  };
}

function configFile(dir: string, name: string, sampling: Record<string, unknown> | null, policy?: string): string {
  const policies = join(dir, `policies-${name}`);
  const lines = [`policiesDir: ${policies}`];
  if (sampling) {
    lines.push('sampling:');
    for (const [k, v] of Object.entries(sampling)) lines.push(`  ${k}: ${v}`);
  }
  mkdirSync(policies, { recursive: true });
  if (policy !== undefined) writeFileSync(join(policies, 'sampling.yaml'), policy);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

interface CpuRun {
  target: string;
  run: number;
  spans: number;
  spansPerSecond: number;
  cpuSecondsPerMillionSpans: number;
  peakRssBytes: number | null;
  exportedSpans: number;
  acceptedSpans: number;
  p99Ms: number;
}

async function cpuMode(o: { runs: number; durationMs: number; warmupMs: number; spans: number; concurrency: number; log: (s: string) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'stella-sampling-bench-'));
  const targets: Array<{ name: string; config: string }> = [
    { name: 'off', config: configFile(dir, 'off', null) },
    { name: 'keep-all', config: configFile(dir, 'keep-all', { enabled: true }, 'rules: []\notherwise: keep\n') },
    { name: 'default-policy', config: configFile(dir, 'default-policy', { enabled: true }) },
  ];
  const pool = generateRequestPool({ count: 64, spansPerRequest: o.spans, seed: 1 });
  const runs: CpuRun[] = [];
  for (let i = 1; i <= o.runs; i++) {
    for (const target of targets) {
      o.log(`${target.name} #${i}: ${o.warmupMs / 1000} s warm-up + ${o.durationMs / 1000} s …`);
      const sink = await startRawServerProcess('grpc');
      const gw = await startGatewayProcess({ exportUrl: `otlp-grpc://127.0.0.1:${sink.port}`, configFile: target.config });
      try {
        const bodies = pool.requests.map((b) => Buffer.from(b));
        const driver = freshIds(createGrpcDriver({ address: gw.grpcAddress }), bodies);
        let cpu0 = NaN;
        let cpu1 = NaN;
        let peak = 0;
        const load = await runLoad({
          driver,
          bodies,
          spansPerRequest: o.spans,
          concurrency: o.concurrency,
          warmupMs: o.warmupMs,
          durationMs: o.durationMs,
          onWindowStart: async () => void (cpu0 = (await gw.metrics()).get('process_cpu_seconds_total')!),
          onWindowEnd: async () => void (cpu1 = (await gw.metrics()).get('process_cpu_seconds_total')!),
          onTick: () => void (peak = Math.max(peak, readProcMemory(gw.pid)?.rssBytes ?? 0)),
        }).finally(() => driver.close());
        await new Promise((r) => setTimeout(r, 3000));
        const m = await gw.metrics();
        const r: CpuRun = {
          target: target.name,
          run: i,
          spans: load.spans,
          spansPerSecond: load.spansPerSecond,
          cpuSecondsPerMillionSpans: ((cpu1 - cpu0) / load.spans) * 1e6,
          peakRssBytes: readProcMemory(gw.pid)?.hwmBytes ?? peak,
          acceptedSpans: m.get('receiver_accepted_items_total') ?? 0,
          exportedSpans: m.get('exporter_sent_items_total') ?? 0,
          p99Ms: load.latencyMs.p99,
        };
        runs.push(r);
        o.log(`  ${r.spansPerSecond.toFixed(0)} spans/s, ${r.cpuSecondsPerMillionSpans.toFixed(2)} CPU s/Mspans, exported ${r.exportedSpans}/${r.acceptedSpans}, peak RSS ${((r.peakRssBytes ?? 0) / MiB).toFixed(0)} MiB`);
      } finally {
        await gw.stop();
        await sink.stop();
      }
    }
  }
  const summary = Object.fromEntries(
    targets.map((t) => {
      const rs = runs.filter((r) => r.target === t.name);
      return [t.name, { cpuSecondsPerMillionSpans: median(rs.map((r) => r.cpuSecondsPerMillionSpans)), spansPerSecond: median(rs.map((r) => r.spansPerSecond)), peakRssMiB: Math.max(...rs.map((r) => (r.peakRssBytes ?? 0) / MiB)) }];
    }),
  ) as Record<string, { cpuSecondsPerMillionSpans: number; spansPerSecond: number; peakRssMiB: number }>;
  const off = summary.off!.cpuSecondsPerMillionSpans;
  const overhead = {
    keepAllMicrosPerSpan: summary['keep-all']!.cpuSecondsPerMillionSpans - off,
    defaultPolicyMicrosPerSpan: summary['default-policy']!.cpuSecondsPerMillionSpans - off,
  };
  return { runs, summary, overhead };
}

async function memoryMode(o: { traces: number; maxBytes: number; spansPerTrace: number; concurrency: number; churnMs: number; log: (s: string) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'stella-sampling-bench-'));
  // The default policy (errors, slow, 10 %): what the early decisions keep is exported, as in production.
  const config = configFile(dir, 'memory', { enabled: true, decisionWait: '10m', rootGrace: '10m', maxTraces: o.traces, maxBytes: o.maxBytes });
  const pool = generateRequestPool({ count: 64, spansPerRequest: 500, spansPerTrace: o.spansPerTrace, seed: 2 });
  const sink = await startRawServerProcess('grpc');
  const gw = await startGatewayProcess({ exportUrl: `otlp-grpc://127.0.0.1:${sink.port}`, configFile: config });
  const bodies = pool.requests.map((b) => Buffer.from(b));
  const driver = freshIds(createGrpcDriver({ address: gw.grpcAddress }), bodies);
  try {
    const rssAtStart = readProcMemory(gw.pid)?.rssBytes ?? 0;
    const samples: Array<{ phase: string; traces: number; bytes: number; rssBytes: number }> = [];
    let peakRss = 0;
    const sample = async (phase: string) => {
      const m = await gw.metrics();
      const rss = readProcMemory(gw.pid)?.rssBytes ?? 0;
      peakRss = Math.max(peakRss, rss);
      const s = { phase, traces: m.get('sampling_buffered_traces') ?? 0, bytes: m.get('sampling_buffered_bytes') ?? 0, rssBytes: rss };
      samples.push(s);
      return s;
    };
    // Phase 1: fill the buffer up to the trace target (decisions are 10 minutes away), then stop sending.
    const fill = new AbortController();
    await runLoad({
      driver,
      bodies,
      spansPerRequest: 500,
      concurrency: o.concurrency,
      warmupMs: 0,
      durationMs: 300_000,
      signal: fill.signal,
      tickMs: 200,
      onTick: async () => {
        const s = await sample('fill');
        if (s.traces >= o.traces) fill.abort();
      },
    });
    await new Promise((r) => setTimeout(r, 3000));
    const filled = await sample('filled');
    const m1 = await gw.metrics();
    // Phase 2: keep sending: the bounds hold by deciding the oldest traces early (kept and exported here).
    await runLoad({ driver, bodies, spansPerRequest: 500, concurrency: o.concurrency, warmupMs: 0, durationMs: o.churnMs, tickMs: 250, onTick: async () => void (await sample('churn')) });
    const churned = await sample('after-churn');
    const m2 = await gw.metrics();
    const hwm = readProcMemory(gw.pid)?.hwmBytes ?? 0;
    const result = {
      tracesTarget: o.traces,
      maxBytes: o.maxBytes,
      filled: {
        bufferedTraces: filled.traces,
        bufferedMiB: filled.bytes / MiB,
        rssMiB: filled.rssBytes / MiB,
        earlyDecisions: m1.get('sampling_early_decisions_total') ?? 0,
      },
      churn: {
        seconds: o.churnMs / 1000,
        bufferedTraces: churned.traces,
        bufferedMiB: churned.bytes / MiB,
        earlyDecisions: (m2.get('sampling_early_decisions_total') ?? 0) - (m1.get('sampling_early_decisions_total') ?? 0),
        peakRssMiB: Math.max(...samples.filter((x) => x.phase === 'churn' || x.phase === 'after-churn').map((x) => x.rssBytes)) / MiB,
      },
      rssAtStartMiB: rssAtStart / MiB,
      peakRssMiB: Math.max(peakRss, hwm) / MiB,
      boundMiB: o.maxBytes / MiB + 150,
      samples,
    };
    o.log(
      `filled: ${result.filled.bufferedTraces} traces, ${result.filled.bufferedMiB.toFixed(1)} MiB buffered, RSS ${result.filled.rssMiB.toFixed(0)} MiB ` +
        `(at start ${result.rssAtStartMiB.toFixed(0)} MiB); churn ${result.churn.seconds} s: ${result.churn.earlyDecisions} early decisions, ` +
        `peak RSS ${result.churn.peakRssMiB.toFixed(0)} MiB; target ≤ ${result.boundMiB.toFixed(0)} MiB (maxBytes + 150 MiB)`,
    );
    return result;
  } finally {
    await driver.close();
    await gw.stop(30_000);
    await sink.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      spans: { type: 'string' },
      concurrency: { type: 'string' },
      traces: { type: 'string' },
      'max-bytes': { type: 'string' },
      'spans-per-trace': { type: 'string' },
      churn: { type: 'string' },
    },
  });
  const mode = positionals[0];
  const log = (s: string) => process.stderr.write(`${s}\n`);
  let result: unknown;
  if (mode === 'cpu') {
    result = await cpuMode({
      runs: Number(values.runs ?? 3),
      durationMs: parseDuration('--duration', values.duration ?? '8s'),
      warmupMs: parseDuration('--warmup', values.warmup ?? '3s'),
      spans: Number(values.spans ?? 500),
      concurrency: Number(values.concurrency ?? 8),
      log,
    });
  } else if (mode === 'memory') {
    result = await memoryMode({
      traces: Number(values.traces ?? 100_000),
      maxBytes: Number(values['max-bytes'] ?? 256 * MiB),
      spansPerTrace: Number(values['spans-per-trace'] ?? 2),
      concurrency: Number(values.concurrency ?? 4),
      churnMs: parseDuration('--churn', values.churn ?? '15s'),
      log,
    });
  } else {
    process.stderr.write('usage: node dist/bench/sampling.js cpu [--runs 3 --duration 8s --warmup 3s --spans 500 --concurrency 8]\n' + '       node dist/bench/sampling.js memory [--traces 100000 --max-bytes 268435456 --spans-per-trace 2 --concurrency 4 --churn 15s]\n');
    return 2;
  }
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const path = join(packageRoot, 'bench', 'results', `${stamp}-sampling-${mode}.json`);
  writeFileSync(path, `${JSON.stringify({ mode, startedAt: new Date().toISOString(), result }, null, 2)}\n`);
  const { samples: _s, runs: _r, ...brief } = result as Record<string, unknown>;
  process.stdout.write(`${JSON.stringify(brief, null, 2)}\n${path}\n`);
  return 0;
}

runAsScript('bench', import.meta.url, main);
