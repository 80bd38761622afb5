// The pieces of the harness that compute figures: latency histogram, closed-loop load and its window,
// Prometheus text parsing, medians and ratios, flag parsing.
import t from 'tap';
import { parsePrometheusText } from '../../bench/gateway-process.js';
import { createLatencyHistogram, runLoad, type Driver } from '../../bench/load.js';
import { buildSummary, fileTimestamp, median, safeName, type RunRecord } from '../../bench/report.js';
import { comparePairs } from '../../bench/script.js';
import { parseBenchArgs, parseDuration } from '../../bench/run.js';

t.test('latency histogram: percentiles within 1%, bounded, exact max and mean', async (t) => {
  const h = createLatencyHistogram();
  t.equal(h.quantile(0.5), 0, 'empty');
  for (let v = 1; v <= 10_000; v++) h.record(v * 10); // 10 µs .. 100 ms, uniform
  t.equal(h.count, 10_000);
  const near = (got: number, want: number): boolean => Math.abs(got - want) / want <= 0.011;
  t.ok(near(h.quantile(0.5), 50_000), `p50 ${h.quantile(0.5)}`);
  t.ok(near(h.quantile(0.99), 99_000), `p99 ${h.quantile(0.99)}`);
  t.equal(h.quantile(1), 100_000, 'p100 is the exact max');
  t.equal(h.maxMicros, 100_000);
  t.ok(Math.abs(h.meanMicros - 50_005) < 1e-6);
  h.record(1e12); // beyond the last bucket: clamped, not lost
  t.equal(h.count, 10_001);
  t.equal(h.maxMicros, 1e12);
});

/** A fake target answering after `ms`, failing every `failEvery`-th request. */
function fakeDriver(ms: number, failEvery = 0): Driver & { sent: number; inFlight: number; maxInFlight: number } {
  const d = {
    protocol: 'http' as const,
    sent: 0,
    inFlight: 0,
    maxInFlight: 0,
    async send() {
      const n = ++d.sent;
      d.inFlight++;
      d.maxInFlight = Math.max(d.maxInFlight, d.inFlight);
      await new Promise((r) => setTimeout(r, ms));
      d.inFlight--;
      return failEvery && n % failEvery === 0 ? ({ ok: false, code: 'http_503' } as const) : ({ ok: true } as const);
    },
    async close() {},
  };
  return d;
}

t.test('runLoad keeps N requests in flight, measures only the window, counts errors', async (t) => {
  const driver = fakeDriver(10, 5);
  const events: string[] = [];
  let ticks = 0;
  const started = performance.now();
  const r = await runLoad({
    driver,
    bodies: [Buffer.from('a'), Buffer.from('b')],
    spansPerRequest: 100,
    concurrency: 4,
    warmupMs: 200,
    durationMs: 500,
    tickMs: 50,
    onTick: () => void ticks++,
    onWindowStart: async () => void events.push(`start@${Math.round(performance.now() - started)}`),
    onWindowEnd: async () => void events.push(`end@${Math.round(performance.now() - started)}`),
  });
  t.equal(driver.maxInFlight, 4, 'exactly --concurrency in flight');
  t.equal(driver.inFlight, 0, 'drained before resolving');
  t.equal(events.length, 2);
  t.ok(r.windowSeconds > 0.45 && r.windowSeconds < 0.75, `window ${r.windowSeconds}s`);
  t.equal(r.spans, r.requests * 100);
  t.ok(r.requests > 50 && r.requests < driver.sent, `window requests ${r.requests} < all ${driver.sent}`);
  t.ok(Math.abs(r.spansPerSecond - r.spans / r.windowSeconds) < 1e-6);
  t.ok(r.latencyMs.p50 >= 9 && r.latencyMs.p50 < 100, `p50 ${r.latencyMs.p50} ms`);
  t.ok(r.latencyMs.p99 >= r.latencyMs.p50);
  t.ok((r.errors.http_503 ?? 0) > 0, 'errors inside the window, by code');
  t.ok(r.totalFailed >= (r.errors.http_503 ?? 0));
  t.equal(r.totalRequests, driver.sent);
  t.ok(ticks >= 5, `ticked ${ticks} times`);
  t.equal(r.aborted, false);
});

t.test('runLoad with a rate paces the requests; a target slower than the rate is driven as fast as it answers', async (t) => {
  // A target answering in 2 ms could take ~2,000 requests/s with 4 in flight: offered 100/s, it gets 100/s.
  const paced = await runLoad({ driver: fakeDriver(2), bodies: [Buffer.from('x')], spansPerRequest: 10, concurrency: 4, requestsPerSecond: 100, warmupMs: 100, durationMs: 1000 });
  t.ok(paced.requests >= 75 && paced.requests <= 125, `${paced.requests} requests in ${paced.windowSeconds.toFixed(2)} s at 100/s offered`);
  t.ok(paced.spansPerSecond >= 750 && paced.spansPerSecond <= 1250, `${paced.spansPerSecond.toFixed(0)} spans/s`);
  // A target answering in 50 ms with 2 in flight takes at most ~40 requests/s: offered 1,000/s, it gets ~40/s.
  const slow = fakeDriver(50);
  const saturated = await runLoad({ driver: slow, bodies: [Buffer.from('x')], spansPerRequest: 1, concurrency: 2, requestsPerSecond: 1000, warmupMs: 0, durationMs: 500 });
  t.equal(slow.maxInFlight, 2, 'never more than --concurrency in flight');
  t.ok(saturated.requests >= 10 && saturated.requests <= 25, `${saturated.requests} requests in 0.5 s`);
});

t.test('runLoad stops early on abort', async (t) => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const t0 = performance.now();
  const r = await runLoad({ driver: fakeDriver(5), bodies: [Buffer.from('x')], spansPerRequest: 1, concurrency: 2, warmupMs: 0, durationMs: 10_000, signal: ac.signal });
  t.ok(performance.now() - t0 < 2000, 'returned long before the duration');
  t.equal(r.aborted, true);
});

t.test('Prometheus text: samples summed over label sets, comments skipped', async (t) => {
  const text = [
    '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
    '# TYPE process_cpu_seconds_total counter',
    'process_cpu_seconds_total 1.25',
    'receiver_refused_requests_total{signal="traces",tenant="default",protocol="grpc",reason="OVERLOADED"} 3',
    'receiver_refused_requests_total{signal="traces",tenant="a b{}",protocol="http",reason="RATE_LIMITED"} 4 1700000000000',
    'exporter_dropped_items_total{exporter="x",signal="traces",reason="permanent"} 0',
    'process_resident_memory_bytes 123456789',
    'weird_value NaN',
    '',
  ].join('\n');
  const m = parsePrometheusText(text);
  t.equal(m.get('process_cpu_seconds_total'), 1.25);
  t.equal(m.get('receiver_refused_requests_total'), 7);
  t.equal(m.get('exporter_dropped_items_total'), 0);
  t.equal(m.get('process_resident_memory_bytes'), 123456789);
  t.notOk(m.has('weird_value'));
});

const run = (target: RunRecord['target'], sps: number, cpu: number, p99: number, rss: number | null): RunRecord => ({
  target,
  run: 1,
  windowSeconds: 1,
  requests: 1,
  spans: sps,
  spansPerSecond: sps,
  latencyMs: { p50: p99 / 2, p90: p99, p99, max: p99, mean: p99 / 2 },
  cpuSeconds: cpu,
  cpuSecondsPerMillionSpans: cpu,
  peakRssBytes: rss,
  clientCpuSeconds: 0,
  errors: {},
  failedRequests: 1,
});

t.test('summary: medians per target, max RSS, gateway/baseline ratio', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
  const s = buildSummary([
    run('baseline', 100, 1, 10, 50),
    run('gateway', 40, 5, 30, 200),
    run('baseline', 120, 2, 12, 60),
    run('gateway', 50, 4, 20, null),
    run('baseline', 110, 9, 11, 55),
    run('gateway', 45, 6, 25, 210),
  ]);
  t.equal(s.baseline?.runs, 3);
  t.equal(s.baseline?.spansPerSecond, 110);
  t.equal(s.baseline?.cpuSecondsPerMillionSpans, 2, 'the median, not the mean (an outlier run of 9)');
  t.equal(s.gateway?.cpuSecondsPerMillionSpans, 5);
  t.equal(s.gateway?.peakRssBytes, 210);
  t.equal(s.gateway?.failedRequests, 3);
  t.equal(s.ratio?.cpuSecondsPerMillionSpans, 2.5);
  t.equal(s.ratio?.spansPerSecond, 45 / 110);
  t.equal(s.ratio?.p99Ms, 25 / 11);
  t.same(Object.keys(buildSummary([run('baseline', 1, 1, 1, null)])), ['baseline'], 'no ratio without a gateway');
});

t.test('file names', async (t) => {
  t.equal(fileTimestamp(new Date('2025-03-04T05:06:07.890Z')), '2025-03-04T05-06-07Z');
  t.equal(safeName('grpc c8/s500 ../x'), 'grpc_c8_s500_.._x');
  t.equal(safeName('///'), 'bench');
});

t.test('flags: defaults, --quick preset, explicit flags win, errors name the flag', async (t) => {
  const d = parseBenchArgs([])!;
  t.match(d, { protocol: 'grpc', concurrency: 8, spansPerRequest: 500, durationMs: 10_000, warmupMs: 2000, runs: 3, gzip: false, mode: 'gateway', export: 'grpc', workers: null, poolSize: 64 });
  t.match(parseBenchArgs(['--quick'])!, { durationMs: 2000, warmupMs: 500, runs: 1, name: 'quick-grpc' });
  t.match(parseBenchArgs(['--quick', '--runs', '2', '--duration', '3s'])!, { durationMs: 3000, runs: 2 });
  t.match(parseBenchArgs(['--protocol', 'http', '--baseline', '--gzip', '--workers', '2'])!, { export: 'http', mode: 'gateway+baseline', gzip: true, workers: 2 });
  t.match(parseBenchArgs(['--only-baseline'])!, { mode: 'baseline', name: 'baseline-grpc-c8-s500' });
  t.match(parseBenchArgs(['--export', 'none', '--spans', '5000'])!, { export: 'none', poolSize: 20 });
  t.equal(d.rate, null, 'closed loop by default');
  t.equal(parseBenchArgs(['--rate', '100000'])!.rate, 100_000);
  t.throws(() => parseBenchArgs(['--rate', 'fast']), /--rate: expected an integer/);
  t.equal(parseBenchArgs(['--help']), undefined);
  t.match(parseBenchArgs(['--persistent', 'batch'])!, { persistent: 'batch', name: 'grpc-c8-s500-persistent-batch' });
  t.equal(parseBenchArgs([])!.persistent, null, 'in memory unless asked');
  t.throws(() => parseBenchArgs(['--persistent', 'fsync']), /--persistent: expected batch, always or none/);
  t.throws(() => parseBenchArgs(['--persistent', 'none', '--tee']), /--persistent excludes --config and --tee/);
  t.throws(() => parseBenchArgs(['--persistent', 'always', '--export', 'none']), /--persistent needs a network exporter/);
  t.equal(parseBenchArgs([])!.client, 'grpc-js', 'the SDK exporters\' client by default');
  t.equal(parseBenchArgs(['--client', 'h2'])!.client, 'h2');
  t.throws(() => parseBenchArgs(['--client', 'curl']), /--client: expected grpc-js or h2/);
  t.throws(() => parseBenchArgs(['--client', 'h2', '--protocol', 'http']), /--client is for --protocol grpc/);
  t.equal(parseDuration('--duration', '250ms'), 250);
  t.equal(parseDuration('--duration', '1.5s'), 1500);
  t.equal(parseDuration('--duration', '2m'), 120_000);
  t.equal(parseDuration('--duration', '3'), 3000);
  t.throws(() => parseDuration('--duration', 'soon'), /--duration: expected a duration/);
  t.throws(() => parseBenchArgs(['--protocol', 'udp']), { name: 'UsageError', message: /--protocol/ });
  t.throws(() => parseBenchArgs(['--concurrency', '0']), /--concurrency: expected an integer ≥ 1/);
  t.throws(() => parseBenchArgs(['--baseline', '--only-baseline']), /exclude/);
  t.throws(() => parseBenchArgs(['--bogus']), { name: 'UsageError', message: /bogus/ });
});

t.test('comparePairs: medians of each series, and the ratio of every pair and their median', async (t) => {
  // The machine is 2× slower from the third pair on: each pair's ratio stays 3. When the two series'
  // medians come from different spells (`skewed`), their ratio does not.
  const off = [run('baseline', 100, 2, 10, 50), run('baseline', 100, 2, 10, 50), run('baseline', 100, 4, 10, 50), run('baseline', 100, 4, 10, 50), run('baseline', 100, 4, 10, 50)];
  const on = [run('gateway', 50, 6, 20, 50), run('gateway', 50, 6, 20, 50), run('gateway', 50, 12, 20, 50), run('gateway', 50, 12, 20, 50)];
  const c = comparePairs(off, on);
  t.equal(c.pairs, 4, 'cut to the pairs both series finished');
  t.equal(c.a.cpuSecondsPerMillionSpans, 3);
  t.equal(c.b.cpuSecondsPerMillionSpans, 9);
  t.same(c.pairRatios, [3, 3, 3, 3]);
  t.equal(c.pairRatioMedian, 3);
  t.same(c.pairDeltas, [4, 4, 8, 8]);
  const skewed = comparePairs([off[0]!, off[2]!, off[3]!], [on[0]!, on[1]!, on[2]!]);
  t.same(skewed.pairRatios, [3, 1.5, 3]);
  t.equal(skewed.pairRatioMedian, 3);
  t.equal(skewed.ratio, 6 / 4, 'the ratio of the medians takes them from different pairs');
});
