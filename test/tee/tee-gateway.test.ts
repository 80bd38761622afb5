// The tee inside a running gateway: it archives the processed requests (what the backend gets: after
// processing, so redacted and tenant-stamped), and when its disk budget is exhausted it sheds (counted,
// logged as a window) while ingest goes on and the backend still gets everything.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { RunningGateway } from '../../src/gateway.js';
import { SIGNAL_WIRE } from '../../src/signals.js';
import { listSegments, readShedWindows } from '../../src/tee/layout.js';
import { readSegmentFile, type SegmentRecord } from '../../src/tee/segment-format.js';
import { flattenRequests } from '../helpers/flatten.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { generateSpans } from '../helpers/generate-otlp.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';

async function scrape(gw: RunningGateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await gw.metrics.registry.getSingleMetric(name)!.get();
  return m.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((s, v) => s + v.value, 0);
}

function archived(root: string, tenant: string): SegmentRecord[] {
  return listSegments(root, { tenant }).flatMap((s) => {
    const d = readSegmentFile(s.path);
    if (!d.ok) throw new Error(`${s.path}: ${d.reason}`);
    return d.records;
  });
}

async function post(gw: RunningGateway, body: Uint8Array): Promise<number> {
  const res = await fetch(`${baseUrl(gw, 'http')}${SIGNAL_WIRE.traces.httpPath}`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
  await res.arrayBuffer();
  return res.status;
}

/** Span ids (hex) of requests: processing may rewrite attributes, never ids. */
function spanIds(bodies: Uint8Array[]): string[] {
  return flattenRequests('traces', bodies)
    .map((f) => Buffer.from((f.item as { spanId: Uint8Array }).spanId).toString('hex'))
    .sort();
}

async function waitExported(gw: RunningGateway, items: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (await scrape(gw, 'exporter_sent_items_total')) < items) await new Promise((r) => setTimeout(r, 50));
}

t.test('mode always: the archive holds exactly what the backend got, sealed on shutdown', async (t) => {
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.forensic.mode = 'always';
  });
  t.teardown(() => sink.close());
  const bodies = [generateSpans(20, 1), generateSpans(5, 2), generateSpans(40, 3)];
  const t0 = Date.now();
  for (const b of bodies) t.equal(await post(gw, b), 200);
  await waitExported(gw, 65);
  await gw.stop(5000);
  const records = archived(gw.tee.root, 'default');
  t.equal(records.length, 3, 'one record per request');
  t.same(records.map((r) => [r.signal, r.items]), [['traces', 20], ['traces', 5], ['traces', 40]]);
  t.ok(records.every((r) => r.timeMs >= t0 && r.timeMs <= Date.now()), 'receive times');
  t.same(
    flattenRequests('traces', records.map((r) => r.payload)),
    flattenRequests('traces', sink.received('traces').map((r) => r.body)),
    'the archived spans are the processed spans the backend received',
  );
  t.same(spanIds(records.map((r) => r.payload)), spanIds(bodies), 'and they are the ingested spans');
  t.ok(listSegments(gw.tee.root).every((s) => s.sealed && s.tier === 'default'), 'sealed on shutdown');
});

t.test('disk budget exhausted: the tee sheds, ingest continues, the sink gets everything', async (t) => {
  const sink = await startOtlpSink();
  const budget = 120_000;
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.forensic.mode = 'always';
    c.forensic.maxBytes = budget;
    c.forensic.segment.maxBytes = 32 * 1024;
  });
  t.teardown(() => sink.close());
  const bodies = Array.from({ length: 30 }, (_, i) => generateSpans(40, 100 + i)); // ~15 KB each, ~450 KB in all
  const sent = bodies.reduce((s, b) => s + b.length, 0);
  t.ok(sent > 2 * budget, `sending ${sent} bytes against a ${budget} byte budget`);
  const statuses: number[] = [];
  const sentAt: Array<[number, number]> = [];
  for (const b of bodies) {
    const before = Date.now();
    statuses.push(await post(gw, b));
    sentAt.push([before, Date.now()]);
  }
  t.same(statuses, bodies.map(() => 200), 'every request acknowledged');
  await waitExported(gw, 1200);
  t.same(spanIds(sink.received('traces').map((r) => r.body)), spanIds(bodies), 'the sink got every span');

  await gw.tee.flush(); // the writer runs after the acknowledgement: let it catch up before counting
  const shed = await scrape(gw, 'tee_shed_records_total', { tenant: 'default', reason: 'disk_budget' });
  const written = await scrape(gw, 'tee_written_records_total', { tenant: 'default' });
  t.ok(shed > 0, `${shed} records shed`);
  t.equal(written + shed, 30, 'every request was either archived or shed (and counted)');
  t.equal(await scrape(gw, 'receiver_refused_requests_total'), 0, 'nothing refused to the client');
  await gw.stop(5000);
  t.equal(await scrape(gw, 'tee_shedding', { tenant: 'default' }), 0, 'the alert gauge is down once the window closed');

  const root = gw.tee.root;
  t.ok(listSegments(root).reduce((s, x) => s + x.bytes, 0) <= budget, 'the archive stays within its budget');
  const records = archived(root, 'default');
  t.equal(records.length, written, 'the archive holds what was counted as written');
  // Which requests made it: match archived records to requests by their span ids, in order.
  const keys = bodies.map((b) => spanIds([b]).join());
  const archivedIdx = records.map((r) => keys.indexOf(spanIds([r.payload]).join()));
  t.notOk(archivedIdx.includes(-1), 'every archived record is one of the requests');
  t.same([...archivedIdx].sort((a, b) => a - b), archivedIdx, 'in ingest order');
  const windows = readShedWindows(root, 'default');
  t.ok(windows.length >= 1 && windows.every((w) => w.reason === 'disk_budget'), `${windows.length} shed window(s), reason disk_budget`);
  t.equal(windows.reduce((s, w) => s + w.records, 0), shed, 'the windows account for every shed record');
  const missing = bodies.map((_, i) => i).filter((i) => !archivedIdx.includes(i));
  t.ok(
    missing.every((i) => windows.some((w) => w.fromMs <= sentAt[i]![1] && w.toMs >= sentAt[i]![0])),
    `each of the ${missing.length} requests not archived falls inside a shed window`,
  );
});

t.test('default mode (incident): a tenant is archived only while in incident, in the forensic tier', async (t) => {
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink)]);
  t.teardown(() => sink.close());
  t.equal(await post(gw, generateSpans(3, 7)), 200);
  await gw.tee.flush();
  t.same(listSegments(gw.tee.root), [], 'nothing archived outside an incident');
  gw.incidents.on('default', { reason: 'checkout errors', by: 'test' });
  const during = generateSpans(4, 8);
  t.equal(await post(gw, during), 200);
  await gw.tee.flush();
  gw.incidents.off('default', 'test');
  t.equal(await post(gw, generateSpans(5, 9)), 200);
  await gw.stop(5000);
  const segs = listSegments(gw.tee.root);
  t.same(segs.map((s) => [s.tenant, s.tier, s.sealed]), [['default', 'forensic', true]], 'one sealed segment in the escalated tier');
  t.same(spanIds(archived(gw.tee.root, 'default').map((r) => r.payload)), spanIds([during]), 'holding the request sent during the incident');
});

t.test('sampling on and dropping everything: the archive still holds every span (the sampler never frees what the tee holds)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-tee-sampling-'));
  writeFileSync(join(dir, 'sampling.yaml'), 'rules: []\notherwise: drop\nversion: 1\n');
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.forensic.mode = 'always';
    c.policiesDir = dir;
    // maxTraces 1: every offer decides (drops) the traces before it at once, while the tee still queues their bodies.
    c.sampling = { ...c.sampling, enabled: true, maxTraces: 1 };
  });
  t.teardown(() => sink.close());
  const bodies = [generateSpans(30, 11), generateSpans(30, 12), generateSpans(30, 13)];
  for (const b of bodies) t.equal(await post(gw, b), 200);
  await gw.stop(5000);
  t.ok((await scrape(gw, 'sampling_spans_total', { decision: 'drop' })) >= 60, 'the sampler dropped the spans');
  t.equal(sink.received('traces').length, 0, 'nothing reached the backend');
  const records = archived(gw.tee.root, 'default');
  t.same(records.map((r) => r.items), [30, 30, 30]);
  t.same(spanIds(records.map((r) => r.payload)), spanIds(bodies), 'every span archived intact');
});
