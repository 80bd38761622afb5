import t from 'tap';
import { exporterDefaults, type ExporterConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { createExportRouter } from '../../src/export/router.js';
import type { ExportBatch, Transport, TransportResult } from '../../src/export/transport.js';
import type { Signal } from '../../src/signals.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { valueOf } from './metrics-util.js';
import { traceRequest } from './otlp-build.js';

function recorder(result: () => TransportResult = () => ({ status: 'ok' })) {
  const sent: ExportBatch[] = [];
  const transport: Transport = {
    kind: 'recorder',
    async send(batch) {
      sent.push(batch);
      return result();
    },
    async close() {},
  };
  return { sent, transport };
}

function cfg(name: string, signals: Signal[], overrides: Partial<ExporterConfig> = {}): ExporterConfig {
  return {
    name,
    kind: 'otlp-http',
    endpoint: 'http://127.0.0.1:1',
    ...exporterDefaults('otlp-http'),
    signals,
    batch: { maxBytes: 1 << 20, maxItems: 1000, flushIntervalMs: 10, passThroughBytes: 1 << 30 },
    ...overrides,
  };
}

const item = (signal: Signal, name: string) => ({ signal, tenant: 't', body: traceRequest([{ service: 's', names: [name] }]), items: 1 });

t.test('fans out by signal; a signal nobody exports is dropped and counted', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const a = recorder();
  const b = recorder();
  const router = createExportRouter([cfg('a', ['traces']), cfg('b', ['traces', 'logs'])], {
    metrics,
    logger: silentLogger,
    transports: { a: a.transport, b: b.transport },
  });
  t.same(router.exporters.map((e) => e.name), ['a', 'b']);
  await router.start();
  t.equal(router.offer(item('traces', 'x')).status, 'ok');
  t.equal(router.offer(item('logs', 'y')).status, 'ok');
  t.equal(router.offer(item('metrics', 'z')).status, 'ok');
  await router.shutdown(1000);
  t.same(a.sent.map((x) => x.signal), ['traces']);
  t.same(b.sent.map((x) => x.signal).sort(), ['logs', 'traces']);
  t.equal(await valueOf(metrics.exporterDroppedItems, { exporter: '_none', signal: 'metrics', reason: 'no_exporter' }), 1);
});

t.test('all or none: one full exporter refuses the item for all, and counts the refusal', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const roomy = recorder();
  const small = recorder();
  const one = item('traces', 'x');
  const router = createExportRouter(
    [cfg('roomy', ['traces']), cfg('small', ['traces'], { queueMaxBytes: one.body.length * 2, batch: { maxBytes: 1 << 20, maxItems: 1000, flushIntervalMs: 60_000, passThroughBytes: 1 << 30 } })],
    { metrics, logger: silentLogger, transports: { roomy: roomy.transport, small: small.transport } },
  );
  await router.start();
  t.equal(router.offer(item('traces', 'a')).status, 'ok');
  t.equal(router.offer(item('traces', 'b')).status, 'ok');
  const refused = router.offer(item('traces', 'c'));
  t.match(refused, { status: 'retryable', code: 'OVERLOADED' });
  t.equal(await valueOf(metrics.exporterRefusedItems, { exporter: 'small' }), 1);
  t.equal(await valueOf(metrics.exporterRefusedItems, { exporter: 'roomy' }), 0);
  await router.shutdown(1000);
  const names = (sent: ExportBatch[]) => sent.reduce((n, b) => n + b.items, 0);
  t.equal(names(roomy.sent), 2, 'the exporter with room did not take the refused item');
  t.equal(names(small.sent), 2);
});

t.test('duplicate exporter names are a config error', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  t.throws(() => createExportRouter([cfg('x', ['traces']), cfg('x', ['logs'])], { metrics, logger: silentLogger }), ConfigError);
});

t.test('shutdown runs in parallel within one deadline', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  let sending = 0;
  const hang: Transport = {
    kind: 'hang',
    send: (_b, abort) => {
      sending++;
      return new Promise((resolve) => abort?.addEventListener('abort', () => resolve({ status: 'retryable', reason: 'aborted' })));
    },
    async close() {},
  };
  const router = createExportRouter([cfg('a', ['traces']), cfg('b', ['traces']), cfg('c', ['traces'])], {
    metrics,
    logger: silentLogger,
    transports: { a: hang, b: hang, c: hang },
  });
  await router.start();
  router.offer(item('traces', 'x'));
  while (sending < 3) await new Promise((r) => setTimeout(r, 10)); // each exporter's request hangs
  const started = Date.now();
  await router.shutdown(300);
  const took = Date.now() - started;
  // Three deadlines one after another would be ≥ 900 ms; the upper margin is for a busy machine.
  t.ok(took >= 280 && took < 900, `three exporters stopped in ~one deadline (${took} ms)`);
  t.equal(await valueOf(metrics.exporterDroppedItems, { reason: 'shutdown' }), 3);
});
