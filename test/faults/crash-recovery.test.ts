// Fault injection: a real gateway process with a persistent queue (sync: batch) is SIGKILLed and
// started again. Every acknowledged span must reach the backend after the restart (duplicates are
// allowed and reported: delivery is at-least-once); a torn tail is cut off, counted and logged.
import t from 'tap';
import { readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { startFaultBackend } from '../helpers/fault-backend.js';
import { createGatewayChild, duplicatesAtBackend, missingAtBackend, spanIdHex, startTraceLoad } from '../helpers/gateway-child.js';
import { faultExporter } from './exporter-config.js';

t.test('SIGKILL under load with sync: batch loses no acknowledged span', async (t) => {
  const backend = await startFaultBackend();
  t.teardown(() => backend.close());
  // A slow backend: the queue holds a backlog when the gateway dies.
  backend.mode = 'slow';
  backend.delayMs = 150;
  const gw = await createGatewayChild({ exporters: [faultExporter(backend.url, { persistent: true, sync: 'batch' })] });
  t.teardown(() => gw.kill());
  await gw.start();
  const load = startTraceLoad(gw.httpUrl, { firstId: 1, spansPerRequest: 50, concurrency: 4 });
  await load.ackedAtLeast(3000, 30_000);
  await gw.kill();
  const { acked, answers } = await load.stop();
  const deliveredBeforeRestart = backend.spans.size;
  t.ok(acked.length >= 3000, `acknowledged before the kill: ${acked.length} spans (answers ${JSON.stringify(answers)})`);

  backend.mode = 'ok';
  await gw.start();
  await backend.waitFor(() => missingAtBackend(acked, backend.spans).length === 0, 30_000, 'every acknowledged span delivered');
  const m = await gw.metrics();
  const missing = missingAtBackend(acked, backend.spans);
  const duplicates = duplicatesAtBackend(backend.spans);
  // Accounting: acknowledged = delivered + counted drops (none here); duplicates reported, not lost.
  t.equal(missing.length, 0, 'no acknowledged span missing at the backend');
  t.equal(m.get('exporter_dropped_items_total') ?? 0, 0, 'nothing dropped');
  t.ok(deliveredBeforeRestart < acked.length, `a backlog existed at the kill (delivered before: ${deliveredBeforeRestart} of ${acked.length})`);
  t.ok((m.get('exporter_queue_replayed_records_total') ?? 0) > 0, 'the restart replayed the backlog');
  t.match(gw.log(), /replaying requests the backend had not acknowledged/, 'and said so in the log');
  t.comment(`acknowledged ${acked.length}, delivered ${backend.spans.size} distinct, duplicates ${duplicates}, possible duplicates counted by the gateway: ${m.get('exporter_queue_possible_duplicates_total')} requests`);
  await gw.stop();
});

t.test('a torn tail (the last segment cut mid-record) is detected, cut off and counted', async (t) => {
  const backend = await startFaultBackend();
  t.teardown(() => backend.close());
  await backend.down();
  const gw = await createGatewayChild({ exporters: [faultExporter(backend.url, { persistent: true, sync: 'batch' })] });
  t.teardown(() => gw.kill());
  await gw.start();
  const spansPerRequest = 20;
  const load = startTraceLoad(gw.httpUrl, { firstId: 1, spansPerRequest, concurrency: 1, maxRequests: 10 });
  await load.ackedAtLeast(10 * spansPerRequest, 20_000);
  const { acked } = await load.stop();
  await gw.kill();
  // Cut the newest record in half, as a crash in the middle of its write would have.
  const dir = join(gw.dataDir, 'queue', 'backend');
  const segments = readdirSync(dir).filter((n) => n.endsWith('.q')).sort();
  const last = join(dir, segments.filter((n) => statSync(join(dir, n)).size > 8).pop()!);
  truncateSync(last, statSync(last).size - 60);

  await backend.up();
  await gw.start();
  const lastRequest = acked.slice(-spansPerRequest);
  const survivors = acked.slice(0, -spansPerRequest);
  await backend.waitFor(() => missingAtBackend(survivors, backend.spans).length === 0, 20_000, 'the intact requests delivered');
  const m = await gw.metrics();
  t.ok((m.get('exporter_queue_torn_bytes_total') ?? 0) > 0, `torn bytes counted (${m.get('exporter_queue_torn_bytes_total')})`);
  t.equal(m.get('exporter_queue_lost_records_total'), 1, 'one request counted as lost');
  t.match(gw.log(), /torn tail cut off/, 'logged');
  const delivered = acked.filter((id) => backend.spans.has(spanIdHex(id))).length;
  // acknowledged = delivered + counted loss (the cut request's spans).
  t.equal(delivered + (m.get('exporter_queue_lost_records_total') ?? 0) * spansPerRequest, acked.length, `acknowledged ${acked.length} = delivered ${delivered} + lost`);
  t.same(missingAtBackend(lastRequest, backend.spans), lastRequest, 'what was lost is exactly the cut request');
  await gw.stop();
});
