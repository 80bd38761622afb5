// The bench's gateway mode against a stand-in gateway (fake-gateway.ts, via STELLA_BENCH_CLI): the
// command line it is started with, readiness polling, CPU and counters read from /metrics, the null
// sink, baseline/gateway alternation and the ratio, clean-up of every child, and a clear failure when
// the gateway does not start.
import { GATEWAY_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const RUN = join(packageRoot, 'dist', 'bench', 'run.js');
const FAKE = join(packageRoot, 'dist', 'test', 'bench', 'fake-gateway.js');

function bench(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STELLA_BENCH_CLI: FAKE, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test('--baseline --protocol http: alternates targets, reads the gateway figures, cleans up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-bench-gw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const record = join(dir, 'fake.json');
  const config = join(dir, 'extra.yaml');
  writeFileSync(config, 'log:\n  level: warn\n');
  const results = join(dir, 'results');
  const r = await bench(
    ['--baseline', '--protocol', 'http', '--runs', '2', '--duration', '700ms', '--warmup', '200ms', '--concurrency', '2', '--spans', '50', '--workers', '3', '--config', config, '--name', 'fake', '--results-dir', results],
    { FAKE_SPANS: '50', FAKE_RECORD: record },
  );
  t.equal(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(results, readdirSync(results)[0]!), 'utf8'));
  t.same(
    report.runs.map((x: { target: string; run: number }) => `${x.target}#${x.run}`),
    ['baseline#1', 'gateway#1', 'baseline#2', 'gateway#2'],
    'baseline and gateway runs alternate',
  );

  // The command line the gateway got (the last run's, recorded by the fake).
  const { pid, argv } = JSON.parse(readFileSync(record, 'utf8')) as { pid: number; argv: string[] };
  t.same(argv.slice(0, 2), ['telemetry', 'serve']);
  for (const f of ['--grpc', '--http', '--admin']) t.match(argv[argv.indexOf(f) + 1], /^127\.0\.0\.1:\d+$/, `${f} on a loopback port`);
  t.ok(argv.includes('--data-dir'));
  t.equal(argv[argv.indexOf('--workers') + 1], '3');
  t.equal(argv[argv.indexOf('--config') + 1], config);
  t.match(argv[argv.indexOf('--export') + 1], /^otlp-http:\/\/127\.0\.0\.1:\d+$/, 'exports to the null sink over the input protocol');
  t.same(report.gatewayCommand.slice(1, GATEWAY_NODE_FLAGS.length + 4), [...GATEWAY_NODE_FLAGS, FAKE, 'telemetry', 'serve'], 'node flags as npm start passes them, then the CLI');
  t.equal(alive(pid), false, 'the gateway process is gone after the bench');

  for (const run of report.runs.filter((x: { target: string }) => x.target === 'gateway')) {
    t.ok(run.spans > 0 && run.cpuSeconds > 0, 'CPU delta from process_cpu_seconds_total');
    t.ok(run.peakRssBytes > 10 * 1024 * 1024);
    t.match(run.gateway, { refusedRequests: 3, refusedItems: 5, exporterDroppedItems: 3, exporterRefusedItems: 4, refusedAndDropped: 10 });
    t.ok(run.gateway.acceptedSpans >= run.spans, 'accepted counted over the whole run');
    t.equal(run.gateway.exportedSpans, run.gateway.acceptedSpans, 'everything reached the sink before the counters were read');
    t.equal(run.sink.requests * 50, run.gateway.exportedSpans, 'the null sink saw every export');
    t.ok(run.sink.cpuSeconds > 0);
  }
  t.match(report.summary, { gateway: { runs: 2, refusedAndDropped: 20 }, baseline: { runs: 2, refusedAndDropped: null }, ratio: { cpuSecondsPerMillionSpans: Number } });
  t.ok(Math.abs(report.summary.ratio.cpuSecondsPerMillionSpans - report.summary.gateway.cpuSecondsPerMillionSpans / report.summary.baseline.cpuSecondsPerMillionSpans) < 1e-9);
  t.match(r.stdout, /^gateway\s+2\s+[\d,]+.*\s20\s+0$/m, 'table row with refused+dropped and failed');
  t.match(r.stdout, /gateway\/baseline: CPU per span ×[\d.]+, throughput ×[\d.]+/);
});

t.test('a gateway that exits at start-up fails the bench with its log', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-bench-gw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await bench(['--quick', '--protocol', 'http', '--spans', '10', '--results-dir', dir], { FAKE_MODE: 'crash' });
  t.equal(r.code, 1);
  t.match(r.stderr, /the gateway exited before it was ready \(code 1/);
  t.match(r.stderr, /boom: cannot start/, 'the tail of its log is shown');
  t.same(readdirSync(dir), [], 'no result file for a bench that measured nothing');
});
