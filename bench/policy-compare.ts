// What the policy engine costs, on traces with dense personal data (generate.ts densePii: ~4–5
// strings per span that the shipped default policies redact):
//
// 1. In process, same pool, same run: CPU µs per span of the worker's fast path with the default
//    policies (walk + wire rewrite + tenant stamp), of the pass-through (walk only), and of the
//    reference path (protobufjs decode ─▶ the same policy on objects ─▶ encode). Target: the fast path
//    ≥ 5× faster than the reference.
// 2. The gateway under the bench load (bench/run.ts runBench), alternating runs with no policy (an
//    explicitly empty policies dir: pass-through apart from tenant stamping, which the gateway always does) and
//    with the default policies; medians of CPU s per million spans (= CPU µs per span) over --runs
//    pairs. Target: policies ≤ 3× pass-through.
//
//   node dist/bench/policy-compare.js [--micro-only] [--rounds 5] [--micro-requests 16] [any bench/run.ts flag except --config/--tee/--baseline]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPoliciesDir } from '../src/paths.js';
import { loadPolicy } from '../src/policy/load.js';
import type { ProcessTask } from '../src/process/protocol.js';
import { referenceProcess } from '../src/process/reference/reference.js';
import { compileRules } from '../src/process/worker/policy-rules.js';
import { processRequest } from '../src/process/worker/process-request.js';
import { generateRequestPool } from './generate.js';
import { environment, median, writeReport, type RunRecord } from './report.js';
import { runBench } from './run.js';
import { comparePairs, parseCompareArgs, runAsScript } from './script.js';

/** Explicitly empty policies (`version: 1` alone): a missing file would be the shipped default. */
function writeEmptyPolicies(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const f of ['redaction.yaml', 'allowlists.yaml']) writeFileSync(join(dir, f), 'version: 1\n');
}

export interface MicroFigures {
  spans: number;
  redactionsPerSpan: number;
  /** CPU µs per span, medians over rounds. */
  passThrough: number;
  /**
   * Walk + tenant stamping under an empty policy: what the gateway's worker does with no policy (the
   * gateway always stamps), so fastPath − stampOnly is what the policy adds in the worker.
   */
  stampOnly: number;
  fastPath: number;
  reference: number;
  /** reference ÷ fastPath. */
  speedup: number;
}

/** In-process CPU per span of the three paths on the same dense-PII pool. */
export function microBench(options: { rounds: number; requests: number; spansPerRequest: number; seed: number }): MicroFigures {
  const loaded = loadPolicy(defaultPoliciesDir, 'default');
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const rules = compileRules(loaded.policy);
  const pool = generateRequestPool({ count: options.requests, spansPerRequest: options.spansPerRequest, seed: options.seed, densePii: true });
  const spans = pool.requests.length * options.spansPerRequest;
  // The task as the gateway builds it with its default config (gateway.ts: sampling off, so the worker
  // does not group spans by trace).
  const task = (body: Uint8Array): ProcessTask => ({ signal: 'traces', encoding: 'protobuf', body, tenant: 'default', tenantAttribute: 'tenant.id', omitTraceSummaries: true });
  let redactions = 0;
  for (const b of pool.requests) {
    const r = processRequest(task(b.slice()), rules);
    if (r.status !== 'ok') throw new Error(r.message);
    redactions += Object.values(r.redactions ?? {}).reduce((a, n) => a + n, 0);
  }
  const ruleSet = rules.forTenant('default');
  const emptyDir = mkdtempSync(join(tmpdir(), 'stella-policy-micro-'));
  writeEmptyPolicies(emptyDir);
  const empty = loadPolicy(emptyDir, 'default');
  rmSync(emptyDir, { recursive: true, force: true });
  if (!empty.ok) throw new Error(empty.errors.join('\n'));
  const noRules = compileRules(empty.policy);
  const paths: Record<'passThrough' | 'stampOnly' | 'fastPath' | 'reference', (b: Uint8Array) => unknown> = {
    passThrough: (b) => processRequest({ signal: 'traces', encoding: 'protobuf', body: b, tenant: 'default', omitTraceSummaries: true }),
    stampOnly: (b) => processRequest(task(b), noRules),
    fastPath: (b) => processRequest(task(b), rules),
    reference: (b) => referenceProcess('traces', b, { policy: { rules: ruleSet, tenant: 'default', tenantAttribute: 'tenant.id' } }),
  };
  const samples: Record<keyof typeof paths, number[]> = { passThrough: [], stampOnly: [], fastPath: [], reference: [] };
  const copies = pool.requests.map((b) => b.slice());
  for (let round = 0; round <= options.rounds; round++) {
    for (const name of Object.keys(paths) as (keyof typeof paths)[]) {
      const fn = paths[name];
      // Bodies are copied outside the measured section (the worker owns what it is given).
      const bodies = copies.map((b) => b.slice());
      const start = process.cpuUsage();
      for (const b of bodies) fn(b);
      const used = process.cpuUsage(start);
      // Round 0 warms the JIT and the rule memos; it is not counted.
      if (round > 0) samples[name].push((used.user + used.system) / spans);
    }
  }
  const fastPath = median(samples.fastPath);
  const reference = median(samples.reference);
  return { spans, redactionsPerSpan: redactions / spans, passThrough: median(samples.passThrough), stampOnly: median(samples.stampOnly), fastPath, reference, speedup: reference / fastPath };
}

function takeFlag(argv: string[], name: string, withValue: boolean): [string[], string | boolean | undefined] {
  const at = argv.indexOf(name);
  if (at < 0) return [argv, undefined];
  return withValue ? [[...argv.slice(0, at), ...argv.slice(at + 2)], argv[at + 1]] : [[...argv.slice(0, at), ...argv.slice(at + 1)], true];
}

async function main(argv: string[]): Promise<number> {
  let microOnly: string | boolean | undefined;
  let roundsText: string | boolean | undefined;
  let requestsText: string | boolean | undefined;
  [argv, microOnly] = takeFlag(argv, '--micro-only', false);
  [argv, roundsText] = takeFlag(argv, '--rounds', true);
  [argv, requestsText] = takeFlag(argv, '--micro-requests', true);
  const rounds = roundsText === undefined ? 5 : Number(roundsText);
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write('policy-compare: --rounds: expected an integer ≥ 1\n');
    return 2;
  }
  // 16 requests by default (the figures of earlier rounds); the gateway runs cycle --pool (default 64)
  // distinct requests (--micro-requests 64 measures the same working set).
  const microRequests = requestsText === undefined ? 16 : Number(requestsText);
  if (!Number.isInteger(microRequests) || microRequests < 1) {
    process.stderr.write('policy-compare: --micro-requests: expected an integer ≥ 1\n');
    return 2;
  }
  const options = parseCompareArgs('policy-compare', argv, 'node dist/bench/policy-compare.js [--micro-only] [--rounds N] [--micro-requests N] [bench flags; see npm run bench -- --help]', {
    flags: '--config, --tee',
    used: (o) => Boolean(o.config || o.tee),
  });
  if (typeof options === 'number') return options;
  const log = (line: string) => process.stderr.write(`${line}\n`);

  log(`in process: ${rounds} rounds over ${microRequests} requests × ${options.spansPerRequest} spans (dense PII) …`);
  const micro = microBench({ rounds, requests: microRequests, spansPerRequest: options.spansPerRequest, seed: options.seed });
  const lines = [
    `in process (one thread), ${micro.spans} spans, ${micro.redactionsPerSpan.toFixed(2)} redactions per span, medians of ${rounds} rounds:`,
    `  pass-through (walk only):        ${micro.passThrough.toFixed(2)} CPU µs/span`,
    `  stamping only (no policy):       ${micro.stampOnly.toFixed(2)} CPU µs/span (the gateway's worker with no policy)`,
    `  fast path, default policies:     ${micro.fastPath.toFixed(2)} CPU µs/span`,
    `  reference path (protobufjs):     ${micro.reference.toFixed(2)} CPU µs/span`,
    `  fast path is ${micro.speedup.toFixed(1)}× faster than the reference (target ≥ 5×); the policy adds ${(micro.fastPath - micro.stampOnly).toFixed(2)} µs/span to stamping`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (microOnly) return 0;

  const dir = mkdtempSync(join(tmpdir(), 'stella-policy-compare-'));
  const emptyPolicies = join(dir, 'no-policies');
  writeEmptyPolicies(emptyPolicies);
  const offFile = join(dir, 'off.yaml');
  const onFile = join(dir, 'on.yaml');
  writeFileSync(offFile, `policiesDir: ${JSON.stringify(emptyPolicies)}\n`);
  writeFileSync(onFile, `policiesDir: ${JSON.stringify(defaultPoliciesDir)}\n`);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const off: RunRecord[] = [];
  const on: RunRecord[] = [];
  try {
    for (let i = 1; i <= options.runs && !controller.signal.aborted; i++) {
      for (const [label, file, into] of [['no policy', offFile, off], ['default policies', onFile, on]] as const) {
        log(`pair ${i}/${options.runs}: ${label} …`);
        const one = await runBench({ ...options, densePii: true, runs: 1, config: file, name: `policy-${into === on ? 'on' : 'off'}`, resultsDir: dir, quiet: true }, controller.signal);
        const r = one.report.runs[0];
        if (!r) throw new Error(`${label}: no run finished${one.report.error ? ` (${one.report.error})` : ''}`);
        into.push({ ...r, run: i });
        log(`  ${label}: ${r.cpuSecondsPerMillionSpans.toFixed(2)} CPU µs/span, ${Math.round(r.spansPerSecond)} spans/s, p99 ${r.latencyMs.p99.toFixed(1)} ms`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { pairs, a: mo, b: mn, ratio, pairRatios, pairRatioMedian } = comparePairs(off, on);
  if (pairs === 0) return 1;
  process.stdout.write(
    [
      `gateway, ${options.protocol}, ${options.concurrency} in flight × ${options.spansPerRequest} spans (dense PII), medians of ${pairs} alternating pairs:`,
      `  no policy:        ${mo.cpuSecondsPerMillionSpans.toFixed(2)} CPU s/Mspans, ${Math.round(mo.spansPerSecond)} spans/s, p99 ${mo.p99Ms.toFixed(1)} ms`,
      `  default policies: ${mn.cpuSecondsPerMillionSpans.toFixed(2)} CPU s/Mspans, ${Math.round(mn.spansPerSecond)} spans/s, p99 ${mn.p99Ms.toFixed(1)} ms`,
      `  policies ÷ no policy: ${ratio.toFixed(2)}× CPU per span (ratio of the medians; target ≤ 3×)`,
      `  per pair: ${pairRatios.map((x) => x.toFixed(2)).join(', ')}; their median ${pairRatioMedian.toFixed(2)}×`,
    ].join('\n') + '\n',
  );
  const path = writeReport(
    {
      version: 1,
      name: `policy-compare-${options.protocol}`,
      startedAt: new Date().toISOString(),
      options: { ...options, config: null },
      environment: environment(),
      pool: { requests: options.poolSize, spansPerRequest: options.spansPerRequest, avgRequestBytes: NaN, bytesPerSpan: NaN },
      runs: [...off.slice(0, pairs).map((r) => ({ ...r, target: 'baseline' as const })), ...on.slice(0, pairs)],
      summary: {},
      policyComparison: { micro, medians: { off: mo, on: mn, ratio }, pairRatios, pairRatioMedian, note: "runs with target 'baseline' are the gateway with no policy" },
    } as Parameters<typeof writeReport>[0],
    options.resultsDir,
  );
  process.stdout.write(`  written: ${path}\n`);
  return 0;
}

runAsScript('policy-compare', import.meta.url, main);
