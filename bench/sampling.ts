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
// micro: in-process, one thread, no sockets: the CPU per span of the worker's share (locating the traces,
//   locateTraces, plus cloning its layout to the main thread; and, for comparison, the former split by
//   trace) and of the sampler (offer, decisions, emit: regrouping the kept traces of partly kept
//   requests included) under the bench's request shape, with a simulated clock (one 500-span request
//   every 5 ms = 100,000 spans/s), for keep-all and the default policy, on located bodies (now) and on
//   bodies split by trace (before). Steadier than the process runs on a shared machine; it leaves out
//   what the pipeline does anyway (walk, transfer).
//
// Every request gets fresh trace ids (the pool's ids with a per-send counter in their first four bytes):
// a pool that repeated its ids would only exercise the decision cache. Uses the bench harness's pieces
// (generate.ts, load.ts, gateway-process.ts); results go to bench/results/<time>-sampling-<mode>.json.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { generateRequestPool } from './generate.js';
import { readProcMemory, startGatewayProcess, startRawServerProcess } from './gateway-process.js';
import { DEFAULT_SINK_WINDOW_BYTES } from './run.js';
import { manualClock } from '../test/helpers/manual-clock.js';
import { createGrpcDriver, runLoad, type Driver } from './load.js';
import { parseDuration } from './run.js';
import { median } from './report.js';
import { runAsScript } from './script.js';
import type { TraceSummary } from '../src/process/protocol.js';
import { locateTraces } from '../src/process/wire/locate-traces.js';
import { splitByTrace } from '../src/process/wire/write-traces.js';
import { summariesOf } from '../src/process/wire/trace-columns.js';
import { walkRequest, type WalkOk } from '../src/process/worker/walk.js';
import { compileSampling } from '../src/sample/policy.js';
import { DEFAULT_SAMPLING_FILE, validateSampling } from '../src/sample/policy-schema.js';
import { createSampler } from '../src/sample/sampler.js';
import { DEFAULT_SAMPLING } from '../src/config/sections/sampling.js';

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
  // Explicitly empty redaction and allowlists (a missing file would be the shipped defaults): the bench
  // measures the sampler, not redaction.
  for (const f of ['redaction.yaml', 'allowlists.yaml']) writeFileSync(join(policies, f), 'version: 1\n');
  if (policy !== undefined) writeFileSync(join(policies, 'sampling.yaml'), `${policy}${policy.endsWith('\n') ? '' : '\n'}version: 1\n`);
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
  /** Minor page faults of the gateway per 1,000 spans in the window (malloc settings show here first). */
  minorFaultsPerKSpans: number;
  exportedSpans: number;
  acceptedSpans: number;
  p99Ms: number;
}

/** Minor page faults of a process so far (/proc/<pid>/stat field 10); NaN when unreadable. */
function minorFaults(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
  } catch {
    return NaN;
  }
}

async function cpuMode(o: { runs: number; durationMs: number; warmupMs: number; spans: number; concurrency: number; nodeArgs: string[]; env: Record<string, string>; log: (s: string) => void }) {
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
      const sink = await startRawServerProcess('grpc', undefined, { windowBytes: DEFAULT_SINK_WINDOW_BYTES });
      const gw = await startGatewayProcess({ exportUrl: `otlp-grpc://127.0.0.1:${sink.port}`, configFile: target.config, nodeArgs: o.nodeArgs, env: o.env });
      try {
        const bodies = pool.requests.map((b) => Buffer.from(b));
        const driver = freshIds(createGrpcDriver({ address: gw.grpcAddress }), bodies);
        let cpu0 = NaN;
        let cpu1 = NaN;
        let flt0 = NaN;
        let flt1 = NaN;
        let peak = 0;
        const load = await runLoad({
          driver,
          bodies,
          spansPerRequest: o.spans,
          concurrency: o.concurrency,
          warmupMs: o.warmupMs,
          durationMs: o.durationMs,
          onWindowStart: async () => {
            flt0 = minorFaults(gw.pid);
            cpu0 = (await gw.metrics()).get('process_cpu_seconds_total')!;
          },
          onWindowEnd: async () => {
            flt1 = minorFaults(gw.pid);
            cpu1 = (await gw.metrics()).get('process_cpu_seconds_total')!;
          },
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
          minorFaultsPerKSpans: ((flt1 - flt0) / load.spans) * 1000,
          acceptedSpans: m.get('receiver_accepted_items_total') ?? 0,
          exportedSpans: m.get('exporter_sent_items_total') ?? 0,
          p99Ms: load.latencyMs.p99,
        };
        runs.push(r);
        o.log(`  ${r.spansPerSecond.toFixed(0)} spans/s, ${r.cpuSecondsPerMillionSpans.toFixed(2)} CPU s/Mspans, ${r.minorFaultsPerKSpans.toFixed(1)} minor faults/kspan, exported ${r.exportedSpans}/${r.acceptedSpans}, peak RSS ${((r.peakRssBytes ?? 0) / MiB).toFixed(0)} MiB`);
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

async function memoryMode(o: {
  traces: number;
  maxBytes: number;
  spansPerTrace: number;
  concurrency: number;
  churnMs: number;
  /** Extra node flags and environment for the gateway, and a file for its output (measuring: --trace-gc). */
  nodeArgs: string[];
  env: Record<string, string>;
  outputFile?: string;
  /** Copies /proc/<gateway>/smaps here at the end of the churn, and to <file>.filled once filled (where the resident memory sits). */
  smapsFile?: string;
  log: (s: string) => void;
}) {
  const dir = mkdtempSync(join(tmpdir(), 'stella-sampling-bench-'));
  // The default policy (errors, slow, 10 %): what the early decisions keep is exported, as in production.
  const config = configFile(dir, 'memory', { enabled: true, decisionWait: '10m', rootGrace: '10m', maxTraces: o.traces, maxBytes: o.maxBytes });
  const pool = generateRequestPool({ count: 64, spansPerRequest: 500, spansPerTrace: o.spansPerTrace, seed: 2 });
  const sink = await startRawServerProcess('grpc', undefined, { windowBytes: DEFAULT_SINK_WINDOW_BYTES });
  const output = o.outputFile;
  if (output) writeFileSync(output, '');
  const gw = await startGatewayProcess({
    exportUrl: `otlp-grpc://127.0.0.1:${sink.port}`,
    configFile: config,
    nodeArgs: o.nodeArgs,
    env: o.env,
    ...(output ? { onOutput: (c: Buffer) => appendFileSync(output, c) } : {}),
  });
  const bodies = pool.requests.map((b) => Buffer.from(b));
  const driver = freshIds(createGrpcDriver({ address: gw.grpcAddress }), bodies);
  try {
    const rssAtStart = readProcMemory(gw.pid)?.rssBytes ?? 0;
    // Besides RSS (what an operator sees), the main thread's V8 heap and external memory (ArrayBuffers:
    // request bodies, including those waiting for a GC) tell where the overhead sits.
    const samples: Array<{
      phase: string;
      atMs: number;
      traces: number;
      bytes: number;
      rssBytes: number;
      anonBytes: number;
      fileBytes: number;
      heapUsedBytes: number;
      heapTotalBytes: number;
      externalBytes: number;
      earlyDecisions: number;
      /** Bodies in flight elsewhere: admitted requests (receive → sampler) and the exporters' queues. */
      admitInflightBytes: number;
      exporterQueueBytes: number;
    }> = [];
    const t0 = Date.now();
    let peakRss = 0;
    const sample = async (phase: string) => {
      const m = await gw.metrics();
      const proc = readProcMemory(gw.pid);
      const rss = proc?.rssBytes ?? 0;
      peakRss = Math.max(peakRss, rss);
      const s = {
        phase,
        atMs: Date.now() - t0,
        traces: m.get('sampling_buffered_traces') ?? 0,
        bytes: m.get('sampling_buffered_bytes') ?? 0,
        rssBytes: rss,
        anonBytes: proc?.anonBytes ?? 0,
        fileBytes: proc?.fileBytes ?? 0,
        heapUsedBytes: m.get('nodejs_heap_size_used_bytes') ?? 0,
        heapTotalBytes: m.get('nodejs_heap_size_total_bytes') ?? 0,
        externalBytes: m.get('nodejs_external_memory_bytes') ?? 0,
        earlyDecisions: m.get('sampling_early_decisions_total') ?? 0,
        admitInflightBytes: m.get('admit_inflight_bytes') ?? 0,
        exporterQueueBytes: m.get('exporter_queue_size_bytes') ?? 0,
      };
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
    if (o.smapsFile) writeFileSync(`${o.smapsFile}.filled`, readFileSync(`/proc/${gw.pid}/smaps`));
    const m1 = await gw.metrics();
    // Phase 2: keep sending: the bounds hold by deciding the oldest traces early (kept and exported here).
    await runLoad({ driver, bodies, spansPerRequest: 500, concurrency: o.concurrency, warmupMs: 0, durationMs: o.churnMs, tickMs: 250, onTick: async () => void (await sample('churn')) });
    const churned = await sample('after-churn');
    if (o.smapsFile) writeFileSync(o.smapsFile, readFileSync(`/proc/${gw.pid}/smaps`));
    const m2 = await gw.metrics();
    const hwm = readProcMemory(gw.pid)?.hwmBytes ?? 0;
    const result = {
      tracesTarget: o.traces,
      maxBytes: o.maxBytes,
      filled: {
        bufferedTraces: filled.traces,
        bufferedMiB: filled.bytes / MiB,
        rssMiB: filled.rssBytes / MiB,
        heapUsedMiB: filled.heapUsedBytes / MiB,
        externalMiB: filled.externalBytes / MiB,
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

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}


/**
 * CPU µs per span of each of `steps` (one request each), run in turns of 32 requests for `seconds`, so
 * that all of them see the same machine load.
 */
function alternate(seconds: number, spansPerRequest: number, steps: Array<() => unknown>): number[] {
  const cpu = steps.map(() => 0);
  let turns = 0;
  const wallEnd = Date.now() + seconds * 1000;
  while (Date.now() < wallEnd) {
    for (let i = 0; i < steps.length; i++) {
      const c0 = cpuMicros();
      for (let k = 0; k < 32; k++) steps[i]!();
      cpu[i]! += cpuMicros() - c0;
    }
    turns++;
  }
  return cpu.map((c) => c / (turns * 32 * spansPerRequest));
}

/** The walk of a request the bench generated (always valid). */
function walkOk(body: Uint8Array, summarise: boolean | 'columns'): WalkOk {
  const w = walkRequest('traces', body, summarise);
  if (!w.ok) throw new Error(w.message);
  return w;
}

async function microMode(o: { seconds: number; spans: number; log: (s: string) => void }) {
  const pool = generateRequestPool({ count: 64, spansPerRequest: o.spans, seed: 1 });
  const walked = pool.requests.map((b) => ({ body: b, traces: walkOk(b, true).traces! }));
  const copyTraces = (ts: readonly TraceSummary[]): TraceSummary[] => ts.map((t) => ({ ...t }));
  // The worker's share (every request, whatever the policy decides): now locate (+ the layout's clone to
  // the main thread), before split.
  let n = 0;
  const next = () => walked[n++ % walked.length]!;
  const [locate, split] = alternate(o.seconds, o.spans, [
    () => {
      const r = next();
      const layout = locateTraces(r.body, r.traces);
      if (layout) structuredClone(layout);
    },
    () => {
      const r = next();
      splitByTrace(r.body, copyTraces(r.traces));
    },
  ]);
  o.log(`worker share: locate ${locate.toFixed(3)} µs/span (now), split ${split.toFixed(3)} µs/span (before)`);
  // The summaries' way to the main thread, the walk that builds them included: objects (hex strings and
  // bigints, serialised by postMessage), before; columns (arrays of numbers), made objects on the main
  // thread by summariesOf, now.
  const [objects, columns] = alternate(o.seconds, o.spans, [
    () => structuredClone(walkOk(next().body, true).traces),
    () => summariesOf(structuredClone(walkOk(next().body, 'columns').traceColumns!)),
  ]);
  const handOff = { objects, columns };
  o.log(`walk + summaries to the main thread: as objects ${handOff.objects.toFixed(3)} µs/span (before), as columns ${handOff.columns.toFixed(3)} µs/span (now)`);
  const located = walked.map((r) => ({ body: r.body as Uint8Array, traces: r.traces, layout: locateTraces(r.body, r.traces) }));
  const splitReqs = walked.map((r) => {
    const traces = copyTraces(r.traces);
    return { body: splitByTrace(r.body, traces) as Uint8Array, traces, layout: null as Int32Array | null };
  });
  const requestBytes = walked.reduce((a, r) => a + r.body.length, 0);
  const splitBytes = splitReqs.reduce((a, r) => a + r.body.length, 0);
  o.log(`split body / request: ${(splitBytes / requestBytes).toFixed(3)}`);

  const run = (name: string, policyYaml: string | null, reqs: typeof located) => {
    const file = policyYaml === null ? DEFAULT_SAMPLING_FILE : (() => {
      const v = validateSampling(JSON.parse(policyYaml));
      if (!v.ok) throw new Error('bad policy');
      return v.value;
    })();
    const compiled = compileSampling(file, 'default');
    const clock = manualClock();
    let emittedSpans = 0;
    let emittedBytes = 0;
    const sampler = createSampler(DEFAULT_SAMPLING, {
      emit: (_t, body, items) => {
        emittedSpans += items;
        emittedBytes += body.length;
        return { status: 'ok' };
      },
      policy: () => compiled,
      clock,
    });
    let seq = 0;
    let offered = 0;
    // Fresh ids: the first 8 hex digits carry a counter (the probabilistic rule reads the last 14). Made
    // flat strings through a Buffer, as the worker's summaries arrive (a concatenation would be a cons
    // string that the first map lookup must flatten: a cost the gateway does not have).
    const fresh = (ts: readonly TraceSummary[]): TraceSummary[] =>
      ts.map((t) => {
        const c = (seq++ >>> 0).toString(16).padStart(8, '0');
        return { ...t, traceId: t.traceId === '' ? '' : Buffer.from(c + t.traceId.slice(8), 'latin1').toString('latin1') };
      });
    // Warm-up (fills the buffer to its steady state: 2 s of rootGrace at 100,000 spans/s).
    for (let i = 0; i < 600; i++) {
      const r = reqs[i % reqs.length]!;
      sampler.offer('bench', r.body, fresh(r.traces), r.layout);
      clock.advance(5);
    }
    // Id freshening is outside the measured share: measured alone below and subtracted.
    const batches: TraceSummary[][] = [];
    const t0 = cpuMicros();
    let cpu = 0;
    const end = Date.now() + o.seconds * 1000;
    let i = 0;
    while (Date.now() < end) {
      for (let k = 0; k < 64; k++) batches[k] = fresh(reqs[k]!.traces);
      const c0 = cpuMicros();
      for (let k = 0; k < 64; k++) {
        sampler.offer('bench', reqs[k]!.body, batches[k]!, reqs[k]!.layout);
        offered += o.spans;
        clock.advance(5);
      }
      cpu += cpuMicros() - c0;
      i++;
    }
    void t0;
    const stats = sampler.stats();
    sampler.drain();
    sampler.close();
    const perSpan = cpu / offered;
    o.log(`sampler ${name}: ${perSpan.toFixed(3)} µs/span (${offered} spans, kept ${((emittedSpans / (offered + 600 * o.spans)) * 100).toFixed(0)} %, buffered at end ${stats.traces} traces / ${(stats.bytes / MiB).toFixed(0)} MiB, emitted ${(emittedBytes / MiB).toFixed(0)} MiB)`);
    return { microsPerSpan: perSpan, spans: offered, keptShare: emittedSpans / (offered + 600 * o.spans), bufferedTraces: stats.traces, bufferedBytes: stats.bytes, emittedBytes };
  };
  const KEEP_ALL = '{"rules":[],"otherwise":"keep"}';
  const keepAll = run('keep-all (located)', KEEP_ALL, located);
  const defaults = run('default-policy (located)', null, located);
  const keepAllSplit = run('keep-all (split, before)', KEEP_ALL, splitReqs);
  const defaultsSplit = run('default-policy (split, before)', null, splitReqs);
  const totals = {
    keepAll: locate + keepAll.microsPerSpan,
    defaultPolicy: locate + defaults.microsPerSpan,
    keepAllBefore: split + keepAllSplit.microsPerSpan,
    defaultPolicyBefore: split + defaultsSplit.microsPerSpan,
  };
  o.log(`totals (worker share + sampler), µs/span: keep-all ${totals.keepAll.toFixed(3)} (before ${totals.keepAllBefore.toFixed(3)}), default ${totals.defaultPolicy.toFixed(3)} (before ${totals.defaultPolicyBefore.toFixed(3)})`);
  return { locateMicrosPerSpan: locate, splitMicrosPerSpan: split, handOffMicrosPerSpan: handOff, splitInflation: splitBytes / requestBytes, keepAll, defaultPolicy: defaults, keepAllSplit, defaultPolicySplit: defaultsSplit, totals };
}

/** `--env NAME=VALUE` flags as an environment. */
function envOf(pairs: string[] | undefined): Record<string, string> {
  return Object.fromEntries((pairs ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

const USAGE = [
  'usage: node dist/bench/sampling.js cpu [--runs 3 --duration 8s --warmup 3s --spans 500 --concurrency 8] [--node-arg FLAG]... [--env NAME=VALUE]...',
  '       node dist/bench/sampling.js micro [--seconds 5 --spans 500]',
  '       node dist/bench/sampling.js memory [--traces 100000 --max-bytes 268435456 --spans-per-trace 2 --concurrency 4 --churn 15s]',
  '              [--node-arg FLAG]... [--env NAME=VALUE]... [--output FILE] [--smaps FILE]   (measuring: e.g. --node-arg=--trace-gc --output gc.log)',
].join('\n');

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
      seconds: { type: 'string' },
      'node-arg': { type: 'string', multiple: true },
      env: { type: 'string', multiple: true },
      output: { type: 'string' },
      smaps: { type: 'string' },
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
      nodeArgs: values['node-arg'] ?? [],
      env: envOf(values.env),
      log,
    });
  } else if (mode === 'micro') {
    result = await microMode({ seconds: Number(values.seconds ?? 5), spans: Number(values.spans ?? 500), log });
  } else if (mode === 'memory') {
    result = await memoryMode({
      traces: Number(values.traces ?? 100_000),
      maxBytes: Number(values['max-bytes'] ?? 256 * MiB),
      spansPerTrace: Number(values['spans-per-trace'] ?? 2),
      concurrency: Number(values.concurrency ?? 4),
      churnMs: parseDuration('--churn', values.churn ?? '15s'),
      nodeArgs: values['node-arg'] ?? [],
      env: envOf(values.env),
      ...(values.output ? { outputFile: values.output } : {}),
      ...(values.smaps ? { smapsFile: values.smaps } : {}),
      log,
    });
  } else {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const path = join(packageRoot, 'bench', 'results', `${stamp}-sampling-${mode}.json`);
  writeFileSync(path, `${JSON.stringify({ mode, startedAt: new Date().toISOString(), result }, null, 2)}\n`);
  const { samples: _s, runs: _r, ...brief } = result as Record<string, unknown>;
  process.stdout.write(`${JSON.stringify(brief, null, 2)}\n${path}\n`);
  return 0;
}

runAsScript('sampling', import.meta.url, main, USAGE);
