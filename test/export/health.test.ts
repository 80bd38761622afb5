import t from 'tap';
import { createExporter } from '../../src/export/exporter.js';
import { createHealthTracker, type ExporterBacklog } from '../../src/export/health.js';
import { exporterDefaults } from '../../src/config/types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { recordingLogger } from '../receive/scripted-ingest.js';
import { traceRequest } from './otlp-build.js';

t.test('one warning at the first failure, reminders at most once a minute, one info line on recovery', async (t) => {
  let clock = Date.parse('2026-12-07T12:00:00Z');
  const logger = recordingLogger();
  const backlog: ExporterBacklog = { items: 1200, bytes: 50_000, retrying: 1, oldestAgeMs: 0 };
  const h = createHealthTracker({ exporter: 'tempo', logger, backlog: () => backlog, now: () => clock });
  t.equal(h.snapshot().state, 'ok');
  h.failure('network', 'ECONNREFUSED');
  t.equal(logger.lines.length, 1);
  t.match(logger.lines[0], { level: 'warn', obj: { exporter: 'tempo', reason: 'network', detail: 'ECONNREFUSED', waitingItems: 1200, since: '2026-12-07T12:00:00.000Z' } });
  t.match(h.snapshot(), { state: 'down', since: '2026-12-07T12:00:00.000Z', failures: 1, queueItems: 1200, lastError: { reason: 'network' } });
  // 100 failures within the minute: silent.
  for (let i = 0; i < 100; i++) {
    clock += 500;
    h.failure('network', 'ECONNREFUSED');
  }
  t.equal(logger.lines.length, 1, 'no line per retry');
  clock += 10_001;
  backlog.oldestAgeMs = 60_000;
  h.failure('network', 'ECONNREFUSED');
  t.equal(logger.lines.length, 2, 'a reminder once a minute has passed');
  t.match(logger.lines[1], { level: 'warn', msg: 'export still failing', obj: { failedAttempts: 102, failedSinceLastWarning: 101, oldestAgeSeconds: 60, since: '2026-12-07T12:00:00.000Z' } });
  // A new batch succeeds while an older one still waits for its retry: degraded, not recovered.
  h.success();
  t.equal(h.snapshot().state, 'degraded');
  t.equal(logger.lines.length, 2);
  backlog.retrying = 0;
  clock += 1000;
  h.success();
  t.equal(logger.lines.length, 3);
  t.match(logger.lines[2], { level: 'info', msg: /recovered/, obj: { exporter: 'tempo', downForSeconds: 61, failedAttempts: 102 } });
  t.match(h.snapshot(), { state: 'ok', since: null, lastError: null, failures: 0 });
  h.success();
  t.equal(logger.lines.length, 3, 'success when ok says nothing');
});

t.test('an exporter against a refusing backend reports down, then ok, with its backlog', async (t) => {
  const sink = await startOtlpSink();
  t.teardown(() => sink.close());
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = recordingLogger();
  const exp = createExporter(
    {
      name: 'loki',
      kind: 'otlp-http',
      endpoint: sink.httpUrl,
      ...exporterDefaults('otlp-http'),
      batch: { maxBytes: 64 * 1024, maxItems: 100, flushIntervalMs: 5, passThroughBytes: 1 << 30 },
      retry: { initialBackoffMs: 50, maxBackoffMs: 100, maxElapsedMs: 60_000 },
    },
    { metrics, logger },
  );
  await exp.start();
  sink.failNext(4, { httpStatus: 503 });
  exp.offer({ signal: 'traces', tenant: 'acme', body: traceRequest([{ service: 's', names: ['a', 'b', 'c'] }]), items: 3 });
  // waitFor re-checks on every request the sink records (failed ones included).
  await sink.waitFor(() => sink.requests.length >= 2, 10_000);
  const down = exp.health!();
  t.equal(down.state, 'down');
  t.equal(down.queueItems, 3, 'the three spans wait');
  t.ok(down.queueBytes > 0);
  t.match(down.lastError, { reason: 'http_503' });
  await sink.waitFor((r) => r.length === 1, 10_000);
  // The sink records before it answers; a drain waits for the exporter to have seen the answer.
  await exp.shutdown(5000);
  const ok = exp.health!();
  t.match(ok, { state: 'ok', queueItems: 0, oldestAgeSeconds: 0 });
  t.equal(logger.lines.filter((l) => l.level === 'warn').length, 1, 'one warning for the whole spell');
  t.equal(logger.lines.filter((l) => /recovered/.test(l.msg ?? '')).length, 1, 'one recovery line');
  const text = await metrics.registry.metrics();
  t.match(text, /exporter_queue_capacity_bytes\{exporter="loki",medium="memory"\} \d+/);
  t.match(text, /exporter_queue_oldest_age_seconds\{exporter="loki"\} 0/);
  t.match(text, /exporter_export_duration_seconds_count\{exporter="loki",outcome="retryable"\} 4/);
  t.match(text, /exporter_export_duration_seconds_count\{exporter="loki",outcome="ok"\} 1/);
});
