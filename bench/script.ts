// What every bench script shares: its entry point (exit codes, no gateway child left behind) and, for
// the comparison scripts, the bench harness's flags with the script's own usage line.
import { pathToFileURL } from 'node:url';
import { killAllChildren } from './gateway-process.js';
import { median, type RunRecord } from './report.js';
import { parseBenchArgs, UsageError, type BenchOptions } from './run.js';

/**
 * Runs `main` when the module at `moduleUrl` is the process's entry point; exits with its code. With a
 * `usage`, `--help`/`-h` prints it (exit 0), and a flag node:util's parseArgs refuses prints the reason
 * and the usage (exit 2) instead of a stack trace.
 */
export function runAsScript(name: string, moduleUrl: string, main: (argv: string[]) => Promise<number>, usage?: string): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const argv = process.argv.slice(2);
  if (usage !== undefined && (argv.includes('--help') || argv.includes('-h'))) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  main(argv).then(
    (code) => {
      killAllChildren();
      process.exit(code);
    },
    (err: unknown) => {
      const badFlag = usage !== undefined && err instanceof Error && String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_');
      process.stderr.write(badFlag ? `${name}: ${err.message}\n${usage}\n` : `${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      killAllChildren();
      process.exit(badFlag ? 2 : 1);
    },
  );
}

/**
 * The harness's flags for a script that compares gateway runs: the options, or the exit code when
 * there is nothing to run (0 after printing `usage` for --help, 2 after a usage error). `refused`
 * names flags the script sets itself and checks whether the options use them.
 */
export function parseCompareArgs(
  name: string,
  argv: string[],
  usage: string,
  refused: { flags: string; used: (o: BenchOptions) => boolean },
): BenchOptions | number {
  let options: BenchOptions | undefined;
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (!options) {
    process.stdout.write(`usage: ${usage}\n`);
    return 0;
  }
  if (refused.used(options) || options.mode !== 'gateway') {
    process.stderr.write(`${name}: ${refused.flags}, --baseline and --only-baseline are not for this script\n`);
    return 2;
  }
  return options;
}

/** Medians of one series of runs (CPU s per million spans = CPU µs per span). */
export interface SeriesMedians {
  cpuSecondsPerMillionSpans: number;
  spansPerSecond: number;
  p99Ms: number;
}

/**
 * Two series run in alternation (`a` without the feature, `b` with it), cut to the pairs both finished:
 * their medians and, per pair, b's CPU per span over a's (ratio) and minus a's (delta). The median of
 * the pair ratios is the steadier figure: the two runs of a pair are seconds apart, so the machine's
 * slow spells (up to 1.7× for minutes here) mostly hit both, while the ratio of the series' medians can
 * take its two medians from different spells.
 */
export function comparePairs(a: RunRecord[], b: RunRecord[]) {
  const pairs = Math.min(a.length, b.length);
  const medians = (rs: RunRecord[]): SeriesMedians => ({
    cpuSecondsPerMillionSpans: median(rs.map((r) => r.cpuSecondsPerMillionSpans)),
    spansPerSecond: median(rs.map((r) => r.spansPerSecond)),
    p99Ms: median(rs.map((r) => r.latencyMs.p99)),
  });
  const cpu = (i: number) => [a[i]!.cpuSecondsPerMillionSpans, b[i]!.cpuSecondsPerMillionSpans] as const;
  const ma = medians(a.slice(0, pairs));
  const mb = medians(b.slice(0, pairs));
  const pairRatios = Array.from({ length: pairs }, (_, i) => cpu(i)[1] / cpu(i)[0]);
  return {
    pairs,
    a: ma,
    b: mb,
    ratio: mb.cpuSecondsPerMillionSpans / ma.cpuSecondsPerMillionSpans,
    pairRatios,
    pairRatioMedian: median(pairRatios),
    pairDeltas: Array.from({ length: pairs }, (_, i) => cpu(i)[1] - cpu(i)[0]),
  };
}
