// What the worker timing histograms (worker_processing_seconds, policy_evaluation_seconds) cost on the
// hot path, in CPU per span. In one process, rounds alternate A (the worker's processRequest as before:
// no clock) and B (as the worker and the pool now run it: performance.now around the task and the
// rewrite, then two Histogram.observe calls), the order flipping each round so both see the same slow
// spells of a shared machine. Prints the medians of A and B and of the per-round difference B − A in
// CPU µs/span, for large requests and for one-span requests (the worst case: the cost is per request),
// and the cost of the added calls alone per request.
//   node dist/bench/histogram-cost.js [--rounds 10] [--spans 50]
import { Registry } from 'prom-client';
import { SignalHistogram } from '../src/telemetry/signal-histogram.js';
import { SIGNALS } from '../src/signals.js';
import { loadPolicy } from '../src/policy/load.js';
import { defaultPoliciesDir } from '../src/paths.js';
import { compileRules } from '../src/process/worker/policy-rules.js';
import { processRequest } from '../src/process/worker/process-request.js';
import type { ProcessTask } from '../src/process/protocol.js';
import { generateRequestPool } from './generate.js';
import { median } from './report.js';
import { runAsScript } from './script.js';

const USAGE = 'node dist/bench/histogram-cost.js [--rounds 10] [--spans 50]';

function flag(argv: string[], name: string, fallback: number): number {
  const at = argv.indexOf(name);
  const v = at >= 0 ? Number(argv[at + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw Object.assign(new Error(`${name}: expected an integer ≥ 1`), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
  return v;
}

async function main(argv: string[]): Promise<number> {
  const rounds = flag(argv, '--rounds', 10);
  const bigSpans = flag(argv, '--spans', 50);
  const loaded = loadPolicy(defaultPoliciesDir, 'default');
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const rules = compileRules(loaded.policy);
  const registry = new Registry();
  const buckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
  const processing = new SignalHistogram({ name: 'worker_processing_seconds', help: 'x', values: SIGNALS, buckets, registers: [registry] });
  const evaluation = new SignalHistogram({ name: 'policy_evaluation_seconds', help: 'x', values: SIGNALS, buckets, registers: [registry] });
  const now = performance.now.bind(performance);
  // As the pool does: one series per signal, looked up once.
  const processingTraces = processing.labels({ signal: 'traces' });
  const evaluationTraces = evaluation.labels({ signal: 'traces' });
  const task = (body: Uint8Array): ProcessTask => ({ signal: 'traces', encoding: 'protobuf', body, tenant: 'default', tenantAttribute: 'tenant.id', omitTraceSummaries: true });

  const a = (body: Uint8Array) => processRequest(task(body), rules);
  const b = (body: Uint8Array) => {
    const started = performance.now();
    const r = processRequest(task(body), rules, now);
    if (r.status !== 'ok') return r;
    r.processSeconds = (performance.now() - started) / 1000;
    processingTraces.observe(r.processSeconds);
    if (r.policySeconds !== undefined) evaluationTraces.observe(r.policySeconds);
    return r;
  };

  process.stdout.write(`Node ${process.versions.node}, ${rounds} rounds (A/B alternating), default policies, tenant stamping\n`);
  for (const spansPerRequest of [bigSpans, 1]) {
    const count = spansPerRequest === 1 ? 4000 : Math.max(16, Math.ceil(20_000 / spansPerRequest));
    const pool = generateRequestPool({ count, spansPerRequest, seed: 1, densePii: false });
    const spans = count * spansPerRequest;
    const samples = { A: [] as number[], B: [] as number[] };
    // Round 0 warms the JIT; it is not counted.
    for (let r = 0; r <= rounds; r++) {
      for (const k of r % 2 === 1 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
        const bodies = pool.requests.map((x) => x.slice());
        const run = k === 'A' ? a : b;
        const start = process.cpuUsage();
        for (const body of bodies) run(body);
        const used = process.cpuUsage(start);
        if (r > 0) samples[k].push((used.user + used.system) / spans);
      }
    }
    const diffs = samples.A.map((x, i) => samples.B[i]! - x);
    process.stdout.write(
      `${spansPerRequest} span(s)/request, ${spans} spans: A ${median(samples.A).toFixed(3)}, B ${median(samples.B).toFixed(3)} CPU µs/span; B − A per round: median ${median(diffs).toFixed(3)} µs/span (${diffs.map((d) => d.toFixed(3)).join(', ')})\n`,
    );
  }

  // The added calls alone: four clock reads and two observations per request.
  const n = 1_000_000;
  const samplesAlone: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      const p = now();
      const pe = (now() - p) / 1000;
      processingTraces.observe((performance.now() - s) / 1000);
      evaluationTraces.observe(pe);
    }
    const used = process.cpuUsage(start);
    samplesAlone.push(((used.user + used.system) * 1000) / n);
  }
  process.stdout.write(`the added calls alone: median ${median(samplesAlone).toFixed(0)} ns CPU per request (${samplesAlone.map((x) => x.toFixed(0)).join(', ')})\n`);
  return 0;
}

runAsScript('histogram-cost', import.meta.url, main, USAGE);
