// An exporter with a persistent queue, in process, against a real OTLP sink: offers resolve `durable`,
// a full memory queue spills to disk instead of refusing, a graceful shutdown with the backend down keeps
// the queue for the next start (nothing counted as dropped), and the next start replays it first.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exporterDefaults, type ExporterConfig } from '../../../src/config/types.js';
import { createExporter } from '../../../src/export/exporter.js';
import { silentLogger } from '../../../src/telemetry/logger-types.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { startOtlpSink, type OtlpSink } from '../../helpers/otlp-sink.js';
import { valueOf } from '../metrics-util.js';
import { decodeTraces, traceRequest } from '../otlp-build.js';

const sink = await startOtlpSink();
t.teardown(() => sink.close());
t.beforeEach(() => sink.reset());

function config(patch: Partial<ExporterConfig> = {}): ExporterConfig {
  const d = exporterDefaults('otlp-grpc');
  return {
    name: 'pq',
    kind: 'otlp-grpc',
    endpoint: sink.grpcAddress,
    ...d,
    timeoutMs: 2000,
    batch: { maxBytes: 64 * 1024, maxItems: 5, flushIntervalMs: 10, passThroughBytes: 1 << 30 },
    retry: { initialBackoffMs: 10, maxBackoffMs: 50, maxElapsedMs: 60_000 },
    queue: { persistent: true, sync: 'batch', syncIntervalMs: 5, maxDiskBytes: 64 * 1024 * 1024 },
    ...patch,
  };
}

const item = (name: string, tenant = 'acme') => ({ signal: 'traces' as const, tenant, body: traceRequest([{ service: tenant, names: [name] }]), items: 1 });
const delivered = (s: OtlpSink): string[] => s.received('traces').flatMap((r) => decodeTraces(r.body).flatMap((x) => x.names));

t.test('offers are durable before they are acknowledged; a small memory queue spills to disk instead of refusing', async (t) => {
  const queueDir = mkdtempSync(join(tmpdir(), 'pq-exp-'));
  const metrics = createMetrics();
  // Memory for ~2 items only: the rest must wait on disk and be read back in order.
  const e = createExporter(config({ queueMaxBytes: 300, batch: { maxBytes: 300, maxItems: 5, flushIntervalMs: 10, passThroughBytes: 1 << 30 } }), { metrics, logger: silentLogger, queueDir });
  await e.start();
  const names = Array.from({ length: 40 }, (_, i) => `s${String.fromCharCode(97 + (i % 26))}${Math.floor(i / 26)}`);
  const outcomes = names.map((n) => e.offer(item(n)));
  t.ok(outcomes.every((o) => o.status === 'ok' && o.durable), 'every offer accepted with a durability promise');
  const durable = await Promise.all(outcomes.map((o) => o.durable!));
  t.ok(durable.every((o) => o.status === 'ok'), 'every one durable');
  await sink.waitFor(() => delivered(sink).length >= names.length, 10_000);
  t.same(delivered(sink), names, 'all delivered, in order');
  t.equal(await valueOf(metrics.exporterRefusedItems), 0, 'nothing refused');
  await e.shutdown(1000);
});

t.test('shutdown with the backend down keeps the queue; the next start replays it before new data', async (t) => {
  const queueDir = mkdtempSync(join(tmpdir(), 'pq-exp-'));
  const m1 = createMetrics();
  const e1 = createExporter(config(), { metrics: m1, logger: silentLogger, queueDir });
  await e1.start();
  sink.failNext(100_000);
  const first = ['old-a', 'old-b', 'old-c'];
  for (const o of first.map((n) => e1.offer(item(n)))) t.equal((await o.durable!).status, 'ok');
  await sink.waitFor(() => sink.requests.length > 0, 5000).catch(() => {});
  await e1.shutdown(100);
  t.equal(await valueOf(m1.exporterDroppedItems), 0, 'nothing counted as dropped: it stays on disk');
  t.equal(delivered(sink).length, 0);

  sink.reset();
  const m2 = createMetrics();
  const e2 = createExporter(config(), { metrics: m2, logger: silentLogger, queueDir });
  await e2.start();
  // Offered right after start, while the replay is being read: it goes behind it.
  const early = e2.offer(item('new-a'));
  t.equal((await early.durable!).status, 'ok');
  await sink.waitFor(() => delivered(sink).length >= 4, 10_000);
  t.same(delivered(sink), [...first, 'new-a'], 'replayed first, in order, then the new item');
  t.equal(await valueOf(m2.exporterQueueReplayedRecords), 3);
  await e2.shutdown(1000);
});

t.test('a permanent refusal is dropped, counted and never replayed', async (t) => {
  const queueDir = mkdtempSync(join(tmpdir(), 'pq-exp-'));
  const metrics = createMetrics();
  const e = createExporter(config(), { metrics, logger: silentLogger, queueDir });
  await e.start();
  sink.failNext(1, { grpcCode: 3 }); // INVALID_ARGUMENT
  t.equal((await e.offer(item('bad')).durable!).status, 'ok');
  await sink.waitFor(() => sink.requests.length >= 1, 5000);
  await e.shutdown(1000);
  t.equal(await valueOf(metrics.exporterDroppedItems), 1, 'counted');
  sink.reset();
  const m2 = createMetrics();
  const e2 = createExporter(config(), { metrics: m2, logger: silentLogger, queueDir });
  await e2.start();
  t.equal(await valueOf(m2.exporterQueueReplayedRecords), 0, 'not replayed');
  await e2.shutdown(1000);
});
