// End to end through a running gateway with tail sampling on: only the traces the policy keeps reach
// the backend, all of them while the tenant is in incident mode, and what is buffered at shutdown is
// decided and exported before the exporters drain.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { flattenRequests } from '../helpers/flatten.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { startOtlpSink, type OtlpSink } from '../helpers/otlp-sink.js';
import { bytes, len, span } from '../helpers/wire-builder.js';
import { traceId } from './helpers.js';
import { complete } from '../helpers/policy-file.js';

function policiesDir(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stella-sampling-gw-'));
  writeFileSync(join(dir, 'sampling.yaml'), complete(yaml));
  return dir;
}

/** One request: for each trace id, a root span (unless `noRoot`) and a child, the child ERROR when asked. */
function traces(ids: Array<{ id: string; error?: boolean }>, noRoot = false): Uint8Array {
  const spans = ids.flatMap(({ id, error }) => [
    ...(noRoot ? [] : [len(2, span({ traceId: id, spanId: '0000000000000001', name: `root-${id}` }))]),
    len(2, span({ traceId: id, spanId: '0000000000000002', parentSpanId: '0000000000000001', name: `child-${id}`, statusCode: error ? 2 : 1 })),
  ]);
  return bytes(len(1, len(2, ...spans)));
}

async function post(url: string, body: Uint8Array): Promise<number> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
  await res.arrayBuffer();
  return res.status;
}

const receivedIds = (sink: OtlpSink): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const f of flattenRequests('traces', sink.received('traces').map((r) => r.body))) {
    const id = ((f.item as { traceId?: string }).traceId ?? '').toLowerCase();
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
};

t.test('sampling on: errors kept, the rest dropped, 100% during an incident, drained at stop', async (t) => {
  const sink = await startOtlpSink();
  const dir = policiesDir('rules:\n  - name: errors\n    when: { error: true }\notherwise: drop\n');
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.policiesDir = dir;
    c.sampling = { ...c.sampling, enabled: true, decisionWaitMs: 60_000, rootGraceMs: 100 };
  });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await gw.stop(2000);
    await sink.close();
  });
  const url = `${baseUrl(gw, 'http')}/v1/traces`;

  const ids = Array.from({ length: 20 }, (_, i) => ({ id: traceId(i), error: i % 5 === 0 }));
  t.equal(await post(url, traces(ids)), 200);
  await sink.waitFor(() => receivedIds(sink).size >= 4, 5000);
  await new Promise((r) => setTimeout(r, 500));
  const got = receivedIds(sink);
  t.same([...got.keys()].sort(), ids.filter((x) => x.error).map((x) => x.id).sort(), 'only the error traces reach the backend');
  t.ok([...got.values()].every((n) => n === 2), 'whole: root and child');
  t.equal(got.size, 4);

  // Incident: every trace of the tenant is kept.
  const on = gw.incidents.on('default', { reason: 'test', by: 'test', ttlMs: 60_000 });
  t.equal(on.ok, true);
  const during = Array.from({ length: 10 }, (_, i) => ({ id: traceId(100 + i) }));
  t.equal(await post(url, traces(during)), 200);
  await sink.waitFor(() => during.every((x) => receivedIds(sink).has(x.id)), 5000);
  t.pass('every trace kept during the incident');
  gw.incidents.off('default', 'test');

  // After it: the policies again. Without their roots these wait a minute; stop() decides and exports them.
  const after = [{ id: traceId(200), error: true }, { id: traceId(201) }];
  t.equal(await post(url, traces(after, true)), 200);
  stopped = true;
  await gw.stop(3000);
  const final = receivedIds(sink);
  t.ok(final.has(traceId(200)), 'the error trace buffered at stop was exported');
  t.notOk(final.has(traceId(201)), 'the other one was dropped by the policy');
  const metrics = await gw.metrics.registry.metrics();
  t.match(metrics, /sampling_decisions_total\{decision="keep",reason="errors"\} 5/);
  t.match(metrics, /sampling_spans_total\{tenant="default",decision="drop"\} \d+/);
  t.match(metrics, /sampling_early_decisions_total\{reason="shutdown"\} 2/, 'decided by the shutdown drain');
});
