// What mTLS costs: the same bench load against the gateway with plain listeners and with mTLS
// (development PKI, long-lived connections), alternating plain/TLS so both see the same drift in machine
// load, medians over --runs pairs; then the handshake cost, measured apart: a TLS gateway takes
// --handshakes new mTLS connections (each a full handshake with a client certificate plus one tiny
// request, 8 at a time), and the gateway's CPU over them divided by their number is the CPU per handshake.
//
//   node dist/bench/tls-compare.js [--handshakes 500] [any bench/run.ts flag except --tls/--baseline]
//
// Target (issue 3): TLS CPU per span ≤ 1.3 × plain. Tenant stamping is on in both series (it is always on).
import { mkdtempSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess } from './gateway-process.js';
import { environment, writeReport, type RunRecord } from './report.js';
import { runBench, tlsMaterial } from './run.js';
import { comparePairs, parseCompareArgs, runAsScript } from './script.js';

export interface HandshakeCost {
  handshakes: number;
  wallSeconds: number;
  handshakesPerSecond: number;
  gatewayCpuSeconds: number;
  cpuMillisPerHandshake: number;
}

/** `n` fresh mTLS connections (agent: false), `parallel` at a time, each with one GET to a 404 path. */
async function measureHandshakes(n: number, parallel = 8): Promise<HandshakeCost> {
  const tls = await tlsMaterial();
  const gw = await startGatewayProcess({ extraArgs: tls.args });
  try {
    const port = Number(new URL(gw.httpUrl).port);
    const one = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = https.get(
          { host: '127.0.0.1', port, path: '/handshake', servername: 'localhost', agent: false, ca: tls.client.ca, cert: tls.client.cert, key: tls.client.key },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
      });
    // Warm up (JIT, session caches are off by agent: false), then measure.
    for (let i = 0; i < 20; i++) await one();
    const cpu = async (): Promise<number> => (await gw.metrics()).get('process_cpu_seconds_total') ?? NaN;
    const c0 = await cpu();
    const t0 = performance.now();
    let started = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (started < n) {
          started++;
          await one();
        }
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    const c1 = await cpu();
    return { handshakes: n, wallSeconds: wall, handshakesPerSecond: n / wall, gatewayCpuSeconds: c1 - c0, cpuMillisPerHandshake: ((c1 - c0) / n) * 1000 };
  } finally {
    await gw.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  const at = argv.indexOf('--handshakes');
  let handshakes = 500;
  if (at >= 0) {
    handshakes = Number(argv[at + 1]);
    if (!Number.isInteger(handshakes) || handshakes < 10) {
      process.stderr.write('tls-compare: --handshakes: expected an integer ≥ 10\n');
      return 2;
    }
    argv = [...argv.slice(0, at), ...argv.slice(at + 2)];
  }
  const options = parseCompareArgs('tls-compare', argv, 'node dist/bench/tls-compare.js [--handshakes N] [bench flags; see npm run bench -- --help]', {
    flags: '--tls',
    used: (o) => Boolean(o.tls),
  });
  if (typeof options === 'number') return options;
  const dir = mkdtempSync(join(tmpdir(), 'stella-tls-compare-'));
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const plain: RunRecord[] = [];
  const tls: RunRecord[] = [];
  try {
    for (let i = 1; i <= options.runs && !controller.signal.aborted; i++) {
      for (const [label, on, into] of [['plain', false, plain], ['tls', true, tls]] as const) {
        log(`pair ${i}/${options.runs}: ${label} …`);
        const one = await runBench({ ...options, runs: 1, tls: on, name: `tls-${label}`, resultsDir: dir, quiet: true }, controller.signal);
        const r = one.report.runs[0];
        if (!r) throw new Error(`${label}: no run finished${one.report.error ? ` (${one.report.error})` : ''}`);
        into.push({ ...r, run: i });
        log(`  ${label}: ${r.cpuSecondsPerMillionSpans.toFixed(3)} CPU s/Mspans, ${Math.round(r.spansPerSecond)} spans/s, p99 ${r.latencyMs.p99.toFixed(1)} ms, failed ${r.failedRequests}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { pairs, a: mp, b: mt, ratio, pairRatios, pairRatioMedian } = comparePairs(plain, tls);
  if (pairs === 0) return 1;
  log(`handshakes: ${handshakes} new mTLS connections …`);
  const hs = await measureHandshakes(handshakes);
  const lines = [
    `plain vs mTLS, ${options.protocol}, ${options.concurrency} in flight × ${options.spansPerRequest} spans${options.protocol === 'grpc' ? `, ${options.connections} connection(s)` : ''}, medians of ${pairs} alternating pairs:`,
    `  plain: ${mp.cpuSecondsPerMillionSpans.toFixed(3)} CPU s/Mspans, ${Math.round(mp.spansPerSecond)} spans/s, p99 ${mp.p99Ms.toFixed(1)} ms`,
    `  mTLS:  ${mt.cpuSecondsPerMillionSpans.toFixed(3)} CPU s/Mspans, ${Math.round(mt.spansPerSecond)} spans/s, p99 ${mt.p99Ms.toFixed(1)} ms`,
    `  mTLS ÷ plain: ×${ratio.toFixed(3)} CPU per span (ratio of the medians; target ≤ ×1.3)`,
    `  per pair: ${pairRatios.map((x) => x.toFixed(3)).join(', ')}; their median ×${pairRatioMedian.toFixed(3)}`,
    `  handshakes: ${hs.handshakesPerSecond.toFixed(0)}/s (8 at a time), gateway CPU ${hs.cpuMillisPerHandshake.toFixed(2)} ms per handshake (${hs.handshakes} handshakes)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const path = writeReport(
    {
      version: 1,
      name: `tls-compare-${options.protocol}`,
      startedAt: new Date().toISOString(),
      options: { ...options, config: options.config ?? null },
      environment: environment(),
      pool: { requests: options.poolSize, spansPerRequest: options.spansPerRequest, avgRequestBytes: NaN, bytesPerSpan: NaN },
      runs: [...plain.slice(0, pairs).map((r) => ({ ...r, target: 'baseline' as const })), ...tls.slice(0, pairs)],
      summary: {},
      tlsComparison: { medians: { plain: mp, tls: mt, ratio }, pairRatios, pairRatioMedian, handshakes: hs, note: "runs with target 'baseline' are the gateway without TLS" },
    } as Parameters<typeof writeReport>[0],
    options.resultsDir,
  );
  process.stdout.write(`  written: ${path}\n`);
  return 0;
}

runAsScript('tls-compare', import.meta.url, main);
