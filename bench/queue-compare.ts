// What the persistent export queue costs: the same bench load against the gateway with the exporter's
// queue in memory and on disk (queue.persistent, --sync batch|always|none), alternating memory/persistent
// so both see the same drift in machine load, medians over --runs pairs. Reports CPU µs per span (the
// target for sync batch: ≤ +1.5 µs) and the acknowledgement latency (p99; the target at half of
// saturation, i.e. with --rate at half the saturated throughput: ≤ 25 ms).
//
//   node dist/bench/queue-compare.js [--sync batch|always|none] [--runs 3] [--rate SPANS] [any bench/run.ts flag except --config/--tee/--persistent/--baseline]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBench } from './run.js';
import { environment, median, writeReport, type RunRecord } from './report.js';
import { comparePairs, parseCompareArgs, runAsScript } from './script.js';

const signed = (x: number, digits: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

async function main(argv: string[]): Promise<number> {
  const syncAt = argv.indexOf('--sync');
  let sync: 'batch' | 'always' | 'none' = 'batch';
  if (syncAt >= 0) {
    const v = argv[syncAt + 1];
    if (v !== 'batch' && v !== 'always' && v !== 'none') {
      process.stderr.write('queue-compare: --sync: expected batch, always or none\n');
      return 2;
    }
    sync = v;
    argv = [...argv.slice(0, syncAt), ...argv.slice(syncAt + 2)];
  }
  const options = parseCompareArgs('queue-compare', argv, 'node dist/bench/queue-compare.js [--sync batch|always|none] [bench flags; see npm run bench -- --help]', {
    flags: '--config, --tee, --persistent',
    used: (o) => Boolean(o.config || o.tee || o.persistent),
  });
  if (typeof options === 'number') return options;
  if (options.export === 'none') {
    process.stderr.write('queue-compare: needs a network exporter (--export grpc or http)\n');
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'stella-queue-compare-'));
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const memory: RunRecord[] = [];
  const disk: RunRecord[] = [];
  try {
    for (let i = 1; i <= options.runs && !controller.signal.aborted; i++) {
      for (const [label, persistent, into] of [['memory', null, memory], [`persistent (sync ${sync})`, sync, disk]] as const) {
        log(`pair ${i}/${options.runs}: ${label} …`);
        const one = await runBench({ ...options, runs: 1, persistent, name: `queue-${persistent ?? 'memory'}`, resultsDir: dir, quiet: true }, controller.signal);
        const r = one.report.runs[0];
        if (!r) throw new Error(`${label}: no run finished${one.report.error ? ` (${one.report.error})` : ''}`);
        into.push({ ...r, run: i });
        log(
          `  ${label}: ${r.cpuSecondsPerMillionSpans.toFixed(3)} CPU µs/span, ${Math.round(r.spansPerSecond)} spans/s, p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms` +
            (r.gateway ? `, refused ${r.gateway.refusedRequests}, dropped ${r.gateway.exporterDroppedItems}` : ''),
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { pairs, a: mm, b: md, pairDeltas } = comparePairs(memory, disk);
  if (pairs === 0) return 1;
  const delta = md.cpuSecondsPerMillionSpans - mm.cpuSecondsPerMillionSpans;
  const lines = [
    `export queue in memory vs persistent (sync ${sync}), Node ${process.versions.node}, ${options.protocol}, ${options.concurrency} in flight × ${options.spansPerRequest} spans${options.rate ? `, offered ${options.rate} spans/s` : ', saturated'}, medians of ${pairs} alternating pairs:`,
    `  memory:     ${mm.cpuSecondsPerMillionSpans.toFixed(3)} CPU µs/span, ${Math.round(mm.spansPerSecond)} spans/s, p99 ${mm.p99Ms.toFixed(1)} ms`,
    `  persistent: ${md.cpuSecondsPerMillionSpans.toFixed(3)} CPU µs/span, ${Math.round(md.spansPerSecond)} spans/s, p99 ${md.p99Ms.toFixed(1)} ms`,
    `  queue cost: ${signed(delta, 3)} CPU µs/span (pairs: ${pairDeltas.map((d) => d.toFixed(2)).join(', ')}; median pair ${signed(median(pairDeltas), 2)}), throughput ×${(md.spansPerSecond / mm.spansPerSecond).toFixed(3)} (targets: ≤ +1.5 µs; p99 ≤ 25 ms at half of saturation)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const path = writeReport(
    {
      version: 1,
      name: `queue-compare-${sync}-${options.protocol}${options.rate ? `-rate${options.rate}` : ''}`,
      startedAt: new Date().toISOString(),
      options: { ...options, config: null },
      environment: environment(),
      pool: { requests: options.poolSize, spansPerRequest: options.spansPerRequest, avgRequestBytes: NaN, bytesPerSpan: NaN },
      runs: [...memory.slice(0, pairs).map((r) => ({ ...r, target: 'baseline' as const })), ...disk.slice(0, pairs)],
      summary: {},
      queueComparison: { sync, memory: mm, persistent: md, deltaCpuMicrosPerSpan: delta, pairDeltas, note: "runs with target 'baseline' are the gateway with the in-memory queue" },
    } as Parameters<typeof writeReport>[0],
    options.resultsDir,
  );
  process.stdout.write(`  written: ${path}\n`);
  return 0;
}

runAsScript('queue-compare', import.meta.url, main);
