// What TLS to the backend costs: the same bench load with the gateway exporting to the null sink in
// plaintext and over TLS (--sink-tls: otlp-grpcs:// or https://, the dev CA as tls.caFile; one
// long-lived connection per exporter as in production), alternating plain/TLS so both see the same
// drift in machine load, medians over --runs pairs.
//
//   node dist/bench/export-tls-compare.js [any bench/run.ts flag except --sink-tls/--baseline]
//
// Target (issue 19): TLS export ≤ ×1.3 the plaintext export's CPU per span. The export is not a
// separate process, so this prints the gateway's CPU per span both ways (the whole pipeline; the
// ratio the target is checked against) and the difference in µs per span (what TLS adds), plus the
// sink's CPU per span (the other end of the TLS connection).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { environment, writeReport, type RunRecord } from './report.js';
import { runBench } from './run.js';
import { comparePairs, parseCompareArgs, runAsScript } from './script.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(argv: string[]): Promise<number> {
  const options = parseCompareArgs('export-tls-compare', argv, 'node dist/bench/export-tls-compare.js [bench flags; see npm run bench -- --help]', {
    flags: '--sink-tls',
    used: (o) => Boolean(o.sinkTls) || o.export === 'none',
  });
  if (typeof options === 'number') return options;
  const dir = mkdtempSync(join(tmpdir(), 'stella-export-tls-compare-'));
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const plain: RunRecord[] = [];
  const tls: RunRecord[] = [];
  try {
    for (let i = 1; i <= options.runs && !controller.signal.aborted; i++) {
      for (const [label, on, into] of [['plain', false, plain], ['tls', true, tls]] as const) {
        log(`pair ${i}/${options.runs}: export ${label} …`);
        const one = await runBench({ ...options, runs: 1, sinkTls: on, name: `export-tls-${label}`, resultsDir: dir, quiet: true }, controller.signal);
        const r = one.report.runs[0];
        if (!r) throw new Error(`${label}: no run finished${one.report.error ? ` (${one.report.error})` : ''}`);
        into.push({ ...r, run: i });
        log(
          `  ${label}: ${r.cpuSecondsPerMillionSpans.toFixed(3)} CPU s/Mspans, ${Math.round(r.spansPerSecond)} spans/s, p99 ${r.latencyMs.p99.toFixed(1)} ms, ` +
            `failed ${r.failedRequests}, sink ${r.sink?.cpuSecondsPerMillionSpans.toFixed(3) ?? '?'} CPU s/Mspans`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { pairs, a: mp, b: mt, ratio, pairRatios, pairRatioMedian } = comparePairs(plain, tls);
  if (pairs === 0) return 1;
  const added = median(plain.slice(0, pairs).map((p, i) => tls[i]!.cpuSecondsPerMillionSpans - p.cpuSecondsPerMillionSpans));
  const sinkOf = (rs: RunRecord[]) => median(rs.slice(0, pairs).map((r) => r.sink?.cpuSecondsPerMillionSpans ?? NaN));
  const lines = [
    `export plain vs TLS, ${options.protocol} in, ${options.export} out, ${options.concurrency} in flight × ${options.spansPerRequest} spans, medians of ${pairs} alternating pairs:`,
    `  plain: ${mp.cpuSecondsPerMillionSpans.toFixed(3)} gateway CPU µs/span, ${Math.round(mp.spansPerSecond)} spans/s, p99 ${mp.p99Ms.toFixed(1)} ms; sink ${sinkOf(plain).toFixed(3)} µs/span`,
    `  TLS:   ${mt.cpuSecondsPerMillionSpans.toFixed(3)} gateway CPU µs/span, ${Math.round(mt.spansPerSecond)} spans/s, p99 ${mt.p99Ms.toFixed(1)} ms; sink ${sinkOf(tls).toFixed(3)} µs/span`,
    `  TLS ÷ plain: ×${ratio.toFixed(3)} gateway CPU per span (ratio of the medians; target ≤ ×1.3); TLS adds ${added.toFixed(3)} µs/span (median of the pairs' differences)`,
    `  per pair: ${pairRatios.map((x) => x.toFixed(3)).join(', ')}; their median ×${pairRatioMedian.toFixed(3)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const path = writeReport(
    {
      version: 1,
      name: `export-tls-compare-${options.protocol}-${options.export}`,
      startedAt: new Date().toISOString(),
      options: { ...options, config: options.config ?? null },
      environment: environment(),
      pool: { requests: options.poolSize, spansPerRequest: options.spansPerRequest, avgRequestBytes: NaN, bytesPerSpan: NaN },
      runs: [...plain.slice(0, pairs).map((r) => ({ ...r, target: 'baseline' as const })), ...tls.slice(0, pairs)],
      summary: {},
      exportTlsComparison: { medians: { plain: mp, tls: mt, ratio }, addedMicrosPerSpan: added, pairRatios, pairRatioMedian, note: "runs with target 'baseline' are the gateway exporting in plaintext" },
    } as Parameters<typeof writeReport>[0],
    options.resultsDir,
  );
  process.stdout.write(`  written: ${path}\n`);
  return 0;
}

runAsScript('export-tls-compare', import.meta.url, main);
