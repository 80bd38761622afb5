// What the forensic tee costs: the same bench load against the gateway with the tee off and on
// (forensic.mode: always, every span archived), alternating off/on so both see the same drift in machine
// load, medians over --runs pairs. Reports CPU µs per span (the target: the tee adds ≤ 1.5 µs) and
// throughput / p99 (the target: sustained ingest not slowed).
//
// Give --rate (e.g. --rate 100000, a load both sides sustain) for the figure to quote: saturated, the
// tee-on side runs at a lower throughput, and this machine's CPU per span rises as throughput falls
// (per-request wake-ups spread over fewer spans), which adds to the difference. At one offered rate those
// costs are the same on both sides and cancel in on − off.
//
//   node dist/bench/tee-compare.js [--runs 3] [--compression auto|zstd|brotli|deflate|none] [--gzip-level 1] [any bench/run.ts flag except --config/--tee/--baseline]
//
// --compression sets forensic.segment.compression of the tee-on runs (none: frames stored as they are,
// to separate the cost of compressing from the cost of writing); --gzip-level the level of `deflate`.
// The gateway child runs on this process's node (process.execPath): run the bench with Node >= 22.15 to
// measure zstd (`auto` resolves to zstd there, to brotli on Node 20).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSegmentCompression, SEGMENT_COMPRESSIONS, type SegmentCompression } from '../src/config/sections/forensic.js';
import { zstdAvailable } from '../src/tee/zstd-support.js';
import { runBench } from './run.js';
import { environment, median, writeReport, type RunRecord } from './report.js';
import { comparePairs, parseCompareArgs, runAsScript, type SeriesMedians } from './script.js';

export interface TeeComparison {
  off: RunRecord[];
  on: RunRecord[];
  medians: {
    off: SeriesMedians;
    on: SeriesMedians;
    /** on − off, µs of CPU per span. */
    deltaCpuMicrosPerSpan: number;
    /** on ÷ off. */
    throughputRatio: number;
  };
  /** Per pair: on − off, µs per span (the spread says how much to trust the median). */
  pairDeltas: number[];
  compression: SegmentCompression;
  gzipLevel: number;
}

const signed = (x: number, digits: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

async function main(argv: string[]): Promise<number> {
  const levelAt = argv.indexOf('--gzip-level');
  let gzipLevel = 1;
  if (levelAt >= 0) {
    gzipLevel = Number(argv[levelAt + 1]);
    if (!Number.isInteger(gzipLevel) || gzipLevel < 0 || gzipLevel > 9) {
      process.stderr.write('tee-compare: --gzip-level: expected 0..9\n');
      return 2;
    }
    argv = [...argv.slice(0, levelAt), ...argv.slice(levelAt + 2)];
  }
  const codecAt = argv.indexOf('--compression');
  let compression: SegmentCompression = 'auto';
  if (codecAt >= 0) {
    compression = argv[codecAt + 1] as SegmentCompression;
    if (!SEGMENT_COMPRESSIONS.includes(compression)) {
      process.stderr.write(`tee-compare: --compression: expected ${SEGMENT_COMPRESSIONS.join(', ')}\n`);
      return 2;
    }
    argv = [...argv.slice(0, codecAt), ...argv.slice(codecAt + 2)];
  }
  if (compression === 'zstd' && !zstdAvailable()) {
    process.stderr.write(`tee-compare: --compression zstd: this Node (${process.version}) has no zstd in node:zlib\n`);
    return 2;
  }
  // What the gateway child (same node binary) resolves `auto` to.
  const codec = resolveSegmentCompression(compression);
  const codecName = `${codec === 'deflate' ? `deflate level ${gzipLevel}` : codec}${compression === 'auto' ? ' (auto)' : ''}, Node ${process.versions.node}`;
  const options = parseCompareArgs('tee-compare', argv, 'node dist/bench/tee-compare.js [--compression C] [--gzip-level N] [bench flags; see npm run bench -- --help]', {
    flags: '--config, --tee',
    used: (o) => Boolean(o.config || o.tee),
  });
  if (typeof options === 'number') return options;
  const dir = mkdtempSync(join(tmpdir(), 'stella-tee-compare-'));
  const offFile = join(dir, 'off.yaml');
  const onFile = join(dir, 'on.yaml');
  writeFileSync(offFile, 'forensic:\n  mode: "off"\n');
  writeFileSync(onFile, `forensic:\n  mode: always\n  segment:\n    compression: ${compression}\n    gzipLevel: ${gzipLevel}\n`);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const off: RunRecord[] = [];
  const on: RunRecord[] = [];
  try {
    for (let i = 1; i <= options.runs && !controller.signal.aborted; i++) {
      for (const [label, file, into] of [['off', offFile, off], ['on', onFile, on]] as const) {
        log(`pair ${i}/${options.runs}: tee ${label} …`);
        const one = await runBench({ ...options, runs: 1, config: file, name: `tee-${label}`, resultsDir: dir, quiet: true }, controller.signal);
        const r = one.report.runs[0];
        if (!r) throw new Error(`tee ${label}: no run finished${one.report.error ? ` (${one.report.error})` : ''}`);
        into.push({ ...r, run: i });
        log(
          `  ${label}: ${(r.cpuSecondsPerMillionSpans).toFixed(3)} CPU µs/span, ${Math.round(r.spansPerSecond)} spans/s, p99 ${r.latencyMs.p99.toFixed(1)} ms` +
            (r.gateway?.teeWrittenRecords !== undefined ? `, archived ${r.gateway.teeWrittenRecords} requests` : '') +
            (r.gateway?.teeShedRecords ? `, SHED ${r.gateway.teeShedRecords}` : ''),
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { pairs, a: mo, b: mn, pairDeltas } = comparePairs(off, on);
  if (pairs === 0) return 1;
  const result: TeeComparison = {
    off: off.slice(0, pairs),
    on: on.slice(0, pairs),
    medians: { off: mo, on: mn, deltaCpuMicrosPerSpan: mn.cpuSecondsPerMillionSpans - mo.cpuSecondsPerMillionSpans, throughputRatio: mn.spansPerSecond / mo.spansPerSecond },
    pairDeltas,
    compression,
    gzipLevel,
  };
  const lines = [
    `tee off vs on (${codecName}), ${options.protocol}, ${options.concurrency} in flight × ${options.spansPerRequest} spans, medians of ${pairs} alternating pairs:`,
    `  off: ${mo.cpuSecondsPerMillionSpans.toFixed(3)} CPU µs/span, ${Math.round(mo.spansPerSecond)} spans/s, p99 ${mo.p99Ms.toFixed(1)} ms`,
    `  on:  ${mn.cpuSecondsPerMillionSpans.toFixed(3)} CPU µs/span, ${Math.round(mn.spansPerSecond)} spans/s, p99 ${mn.p99Ms.toFixed(1)} ms`,
    `  tee cost: ${signed(result.medians.deltaCpuMicrosPerSpan, 3)} CPU µs/span (pairs: ${result.pairDeltas.map((d) => d.toFixed(2)).join(', ')}; median pair ${signed(median(result.pairDeltas), 2)}), throughput ×${result.medians.throughputRatio.toFixed(3)} (target: ≤ +1.5 µs)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  // One JSON for the pair of series, next to the other results (CPU s per Mspans = CPU µs per span).
  const path = writeReport(
    {
      version: 1,
      name: `tee-compare-${codec === 'deflate' ? `deflate${gzipLevel}` : codec}-${options.protocol}`,
      startedAt: new Date().toISOString(),
      options: { ...options, config: null },
      environment: environment(),
      pool: { requests: options.poolSize, spansPerRequest: options.spansPerRequest, avgRequestBytes: NaN, bytesPerSpan: NaN },
      runs: [...result.off.map((r) => ({ ...r, target: 'baseline' as const })), ...result.on],
      summary: {},
      teeComparison: { medians: result.medians, pairDeltas: result.pairDeltas, compression, gzipLevel, note: "runs with target 'baseline' are the gateway with the tee off" },
    } as Parameters<typeof writeReport>[0],
    options.resultsDir,
  );
  process.stdout.write(`  written: ${path}\n`);
  return 0;
}

runAsScript('tee-compare', import.meta.url, main);
