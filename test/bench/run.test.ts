// End to end: the bench CLI as users run it (a child process), in baseline-only quick mode, writes a
// JSON result with every documented field and prints the table; bad flags exit 2 with the flag named.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const RUN = join(packageRoot, 'dist', 'bench', 'run.js');

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

for (const protocol of ['grpc', 'http'] as const) {
  t.test(`--only-baseline --quick over ${protocol} writes a complete result file`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'stella-bench-test-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const r = await bench(['--only-baseline', '--quick', '--protocol', protocol, '--duration', '1s', '--warmup', '300ms', '--concurrency', '2', '--spans', '100', '--name', `e2e ${protocol}`, '--results-dir', dir]);
    t.equal(r.code, 0, r.stderr);
    const files = readdirSync(dir);
    t.equal(files.length, 1);
    t.match(files[0]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\dZ-e2e_${protocol}\\.json$`));
    const report = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8'));
    t.match(report, {
      version: 1,
      name: `e2e ${protocol}`,
      startedAt: String,
      options: { protocol, concurrency: 2, spansPerRequest: 100, durationMs: 1000, warmupMs: 300, gzip: false, runs: 1, mode: 'baseline', seed: 1 },
      environment: { node: process.version, cpus: Number },
      pool: { requests: 64, spansPerRequest: 100, avgRequestBytes: Number, bytesPerSpan: Number },
    });
    t.notOk('gatewayCommand' in report, 'no gateway was started');
    t.equal(report.runs.length, 1);
    const run = report.runs[0];
    t.match(run, { target: 'baseline', run: 1, errors: {}, failedRequests: 0 });
    t.ok(run.windowSeconds > 0.9 && run.windowSeconds < 1.6, `window ${run.windowSeconds}`);
    t.ok(run.requests > 10, `${run.requests} requests acknowledged`);
    t.equal(run.spans, run.requests * 100);
    t.ok(run.spansPerSecond > 0);
    t.ok(run.latencyMs.p50 > 0 && run.latencyMs.p99 >= run.latencyMs.p50 && run.latencyMs.max >= run.latencyMs.p99);
    t.ok(run.cpuSeconds > 0 && run.cpuSecondsPerMillionSpans > 0, 'the server reported its CPU');
    t.ok(Math.abs(run.cpuSecondsPerMillionSpans - (run.cpuSeconds / run.spans) * 1e6) < 1e-9);
    t.ok(run.peakRssBytes > 10 * 1024 * 1024, `peak RSS ${run.peakRssBytes}`);
    t.ok(run.clientCpuSeconds > 0);
    t.match(report.summary, { baseline: { runs: 1, spansPerSecond: run.spansPerSecond, cpuSecondsPerMillionSpans: run.cpuSecondsPerMillionSpans, peakRssBytes: run.peakRssBytes } });
    t.notOk(report.summary.gateway);
    t.notOk(report.summary.ratio);
    t.match(r.stdout, /target\s+runs\s+spans\/s\s+p50 ms\s+p99 ms\s+CPU s\/Mspans\s+peak RSS/);
    t.match(r.stdout, /^baseline\s+1\s+[\d,]+/m);
    t.match(r.stdout, `results: ${join(dir, files[0]!)}`);
    t.match(r.stderr, /baseline #1: .* spans\/s/, 'per-run progress on stderr');
  });
}

t.test('bad flags exit 2 and name the flag; --help prints the usage', async (t) => {
  const bad = await bench(['--protocol', 'carrier-pigeon']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--protocol: expected grpc or http \(got "carrier-pigeon"\)/);
  const window = await bench(['--sink-window', '1000']);
  t.equal(window.code, 2);
  t.match(window.stderr, /--sink-window: expected 0 or bytes from 65535/);
  const help = await bench(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--only-baseline/);
});
