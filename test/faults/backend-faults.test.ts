// Fault injection: a real gateway process with a persistent queue in front of a backend that is down,
// slow, answers 503 with Retry-After, 400, or resets connections mid-request. Every test accounts for
// every span: acknowledged = delivered + counted drops.
import t from 'tap';
import { startFaultBackend } from '../helpers/fault-backend.js';
import { createGatewayChild, duplicatesAtBackend, missingAtBackend, spanIdHex, startTraceLoad } from '../helpers/gateway-child.js';
import { faultExporter } from './exporter-config.js';

t.test('backend down, then back: everything acknowledged is delivered', async (t) => {
  const backend = await startFaultBackend();
  t.teardown(() => backend.close());
  await backend.down();
  const gw = await createGatewayChild({ exporters: [faultExporter(backend.url, { persistent: true, sync: 'batch' })] });
  t.teardown(() => gw.kill());
  await gw.start();
  const load = startTraceLoad(gw.httpUrl, { firstId: 1, spansPerRequest: 50, concurrency: 2, maxRequests: 40 });
  await load.ackedAtLeast(2000, 20_000);
  const { acked } = await load.stop();
  const m1 = await gw.metrics();
  t.ok((m1.get('collector_export_failures_total') ?? 0) > 0, 'export attempts failed while the backend was down');
  t.equal(backend.spans.size, 0, 'nothing delivered while down');
  await backend.up();
  await backend.waitFor(() => missingAtBackend(acked, backend.spans).length === 0, 20_000, 'every acknowledged span delivered');
  const m = await gw.metrics();
  t.equal(m.get('exporter_dropped_items_total') ?? 0, 0, 'no drops');
  t.equal(acked.length, 2000, 'acknowledged = delivered (2000 spans), no drops');
  t.equal(duplicatesAtBackend(backend.spans), 0, 'no duplicates without a crash');
  await gw.stop();
});

t.test('503 with Retry-After, then connection resets mid-request, then slow: all delivered', async (t) => {
  const backend = await startFaultBackend();
  t.teardown(() => backend.close());
  backend.mode = 'unavailable';
  backend.retryAfterSeconds = 1;
  const gw = await createGatewayChild({ exporters: [faultExporter(backend.url, { persistent: true, sync: 'always' })] });
  t.teardown(() => gw.kill());
  await gw.start();
  const load = startTraceLoad(gw.httpUrl, { firstId: 1, spansPerRequest: 25, concurrency: 2, maxRequests: 20 });
  await load.ackedAtLeast(500, 20_000);
  const { acked } = await load.stop();
  await backend.waitFor(() => (backend.answers['503'] ?? 0) >= 1, 10_000, 'a 503 answered');
  backend.mode = 'reset';
  await backend.waitFor(() => (backend.answers.reset ?? 0) >= 2, 15_000, 'two connections reset mid-request');
  backend.mode = 'slow';
  backend.delayMs = 50;
  await backend.waitFor(() => missingAtBackend(acked, backend.spans).length === 0, 20_000, 'every acknowledged span delivered');
  const m = await gw.metrics();
  t.equal(m.get('exporter_dropped_items_total') ?? 0, 0, 'a retryable answer never became a drop');
  t.ok((m.get('exporter_retries_total') ?? 0) >= 2, `retried (${m.get('exporter_retries_total')})`);
  t.equal(missingAtBackend(acked, backend.spans).length, 0, `acknowledged ${acked.length} = delivered`);
  t.equal(duplicatesAtBackend(backend.spans), 0, 'no duplicates without a crash (a reset request was never recorded)');
  await gw.stop();
});

t.test('400 from the backend: dropped and counted, and the queue moves on', async (t) => {
  const backend = await startFaultBackend();
  t.teardown(() => backend.close());
  backend.mode = 'bad-request';
  const gw = await createGatewayChild({ exporters: [faultExporter(backend.url, { persistent: true, sync: 'batch' })] });
  t.teardown(() => gw.kill());
  await gw.start();
  const load = startTraceLoad(gw.httpUrl, { firstId: 1, spansPerRequest: 25, concurrency: 1, maxRequests: 8 });
  await load.ackedAtLeast(200, 20_000);
  const { acked } = await load.stop();
  // Wait for the drops to be counted (scraping /metrics is the only view into another process).
  let dropped = 0;
  for (const started = Date.now(); Date.now() - started < 15_000; ) {
    dropped = (await gw.metrics()).get('exporter_dropped_items_total{exporter="backend",signal="traces",reason="permanent"}') ?? 0;
    if (dropped >= acked.length) break;
    await new Promise((r) => setTimeout(r, 50)); // polling another process's counter
  }
  const delivered = acked.filter((id) => backend.spans.has(spanIdHex(id))).length;
  t.equal(delivered + dropped, acked.length, `acknowledged ${acked.length} = delivered ${delivered} + dropped ${dropped}`);
  // Then the backend heals: new data flows; the rejected entries are not retried (they were done).
  backend.mode = 'ok';
  const more = startTraceLoad(gw.httpUrl, { firstId: 10_000, spansPerRequest: 25, concurrency: 1, maxRequests: 4 });
  await more.ackedAtLeast(100, 20_000);
  const after = await more.stop();
  await backend.waitFor(() => missingAtBackend(after.acked, backend.spans).length === 0, 20_000, 'new data delivered');
  t.equal(missingAtBackend(acked, backend.spans).length, acked.length, 'the permanently rejected spans were not sent again');
  await gw.stop();
  // After a restart nothing is replayed: permanently rejected entries are done in the durable offset.
  await gw.start();
  const m = await gw.metrics();
  t.equal(m.get('exporter_queue_replayed_records_total') ?? 0, 0, 'nothing replayed');
  await gw.stop();
});

t.test('disk budget full: retryable refusals with Retry-After, nothing acknowledged lost', async (t) => {
  const backend = await startFaultBackend();
  t.teardown(() => backend.close());
  await backend.down();
  const gw = await createGatewayChild({
    exporters: [faultExporter(backend.url, { persistent: true, sync: 'batch', maxBytes: '64KiB', maxDiskBytes: '128KiB' }, { batch: { flushInterval: '20ms', maxBytes: '32KiB' } })],
  });
  t.teardown(() => gw.kill());
  await gw.start();
  const load = startTraceLoad(gw.httpUrl, { firstId: 1, spansPerRequest: 50, concurrency: 2, maxRequests: 120 });
  const { acked, answers, retryAfter } = await load.finished();
  t.ok((answers['503'] ?? 0) > 0, `refused with 503 once the disk budget was spent (answers ${JSON.stringify(answers)})`);
  t.ok(retryAfter.every((v) => Number(v) >= 1), 'every refusal carries Retry-After');
  t.equal((answers['200'] ?? 0) + (answers['503'] ?? 0), 120, 'every request acknowledged or refused as retryable');
  const m1 = await gw.metrics();
  t.ok((m1.get('receiver_refused_requests_total{signal="traces",tenant="default",protocol="http",reason="QUEUE_FULL"}') ?? 0) > 0, 'refusals counted as QUEUE_FULL');
  const diskBytes = m1.get('exporter_queue_disk_bytes') ?? 0;
  t.ok(diskBytes <= 128 * 1024, `the disk budget held (${diskBytes} bytes on disk)`);
  await backend.up();
  await backend.waitFor(() => missingAtBackend(acked, backend.spans).length === 0, 20_000, 'every acknowledged span delivered');
  const m = await gw.metrics();
  t.equal(m.get('exporter_dropped_items_total') ?? 0, 0, 'nothing dropped');
  t.equal(duplicatesAtBackend(backend.spans), 0, 'no duplicates: spilled requests are read back once');
  t.comment(`acknowledged ${acked.length} spans, all delivered; ${answers['503']} requests refused (retryable)`);
  await gw.stop();
});
