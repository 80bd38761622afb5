// Two builds of the worker's fast path compared in one process: loads `processRequest` and the default
// policies from each build's dist/ (separate module instances, so each keeps its own memos and JIT
// state), then times both on the same request pool, rounds interleaved and the order alternating, so
// that both builds see the same slow spells of a shared machine. Prints CPU µs per span (medians) of
// the fast path with the default policies and of stamping only, and the median of the per-round ratios
// (B ÷ A), the steadier figure. A typical use: A = a temporary worktree of main, B = your branch.
//   node dist/bench/fastpath-ab.js A_DIST B_DIST [--rounds 30] [--plain]   (--plain: no dense PII)
import { median } from './report.js';
import { generateRequestPool } from './generate.js';
import { runAsScript } from './script.js';

interface Build {
  processRequest: (task: unknown, rules?: unknown) => { status: string };
  rules: unknown;
}

async function loadBuild(dist: string): Promise<Build> {
  const { loadPolicy } = (await import(`${dist}/src/policy/load.js`)) as typeof import('../src/policy/load.js');
  const { compileRules } = (await import(`${dist}/src/process/worker/policy-rules.js`)) as typeof import('../src/process/worker/policy-rules.js');
  const { processRequest } = (await import(`${dist}/src/process/worker/process-request.js`)) as { processRequest: Build['processRequest'] };
  const { defaultPoliciesDir } = (await import(`${dist}/src/paths.js`)) as typeof import('../src/paths.js');
  const loaded = loadPolicy(defaultPoliciesDir, 'default');
  if (!loaded.ok) throw new Error(`${dist}: ${loaded.errors.join('\n')}`);
  return { processRequest, rules: compileRules(loaded.policy) };
}

async function main(argv: string[]): Promise<number> {
  const dists = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--rounds');
  if (dists.length !== 2) {
    process.stderr.write('usage: node dist/bench/fastpath-ab.js A_DIST B_DIST [--rounds 30] [--plain]\n');
    return 2;
  }
  const at = argv.indexOf('--rounds');
  const rounds = at >= 0 ? Number(argv[at + 1]) : 30;
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write('fastpath-ab: --rounds: expected an integer ≥ 1\n');
    return 2;
  }
  const dense = !argv.includes('--plain');
  const builds = { A: await loadBuild(dists[0]!), B: await loadBuild(dists[1]!) };
  const spansPerRequest = 500;
  const pool = generateRequestPool({ count: 16, spansPerRequest, seed: 1, densePii: dense });
  const spans = pool.requests.length * spansPerRequest;
  const task = (body: Uint8Array) => ({ signal: 'traces', encoding: 'protobuf', body, tenant: 'default', tenantAttribute: 'tenant.id', omitTraceSummaries: true });
  const samples = { A: { fast: [] as number[], stamp: [] as number[] }, B: { fast: [] as number[], stamp: [] as number[] } };
  // Round 0 warms the JIT and the memos; it is not counted.
  for (let r = 0; r <= rounds; r++) {
    const order = r % 2 === 1 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    for (const kind of ['fast', 'stamp'] as const) {
      for (const k of order) {
        const b = builds[k];
        // Copied outside the measured section (the worker owns what it is given).
        const bodies = pool.requests.map((x) => x.slice());
        const start = process.cpuUsage();
        for (const body of bodies) b.processRequest(task(body), kind === 'fast' ? b.rules : undefined);
        const used = process.cpuUsage(start);
        if (r > 0) samples[k][kind].push((used.user + used.system) / spans);
      }
    }
  }
  process.stdout.write(`${dense ? 'dense PII' : 'plain'} pool, ${spans} spans, ${rounds} rounds, Node ${process.versions.node}\n`);
  for (const kind of ['fast', 'stamp'] as const) {
    const a = samples.A[kind];
    const b = samples.B[kind];
    const ratios = a.map((x, i) => b[i]! / x);
    process.stdout.write(
      `${kind === 'fast' ? 'fast path, default policies' : 'stamping only'}: A ${median(a).toFixed(2)}, B ${median(b).toFixed(2)} CPU µs/span; B ÷ A per round: median ×${median(ratios).toFixed(3)}\n`,
    );
  }
  return 0;
}

runAsScript('fastpath-ab', import.meta.url, main, 'node dist/bench/fastpath-ab.js A_DIST B_DIST [--rounds 30] [--plain]');
