// kill -9 under load, N times: a real gateway with a persistent export queue (OTLP/HTTP to a slow
// backend, so a backlog is queued when it dies) is SIGKILLed while a load is running, started again on
// the same ports and data dir, and killed again. At the end the backend turns fast, the last gateway
// drains, and the script reports, over all spans ever acknowledged to the load: delivered, missing (the
// figure that must be 0), and duplicated (at-least-once: sent before a crash and replayed after it).
//
//   node dist/bench/kill-loop.js [--kills 20] [--sync batch|always|none] [--spans 100] [--concurrency 4]
//                                [--backend-delay-ms 50] [--acks-per-life 2000] [--seed 1]
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { startFaultBackend } from '../test/helpers/fault-backend.js';
import { createGatewayChild, duplicatesAtBackend, missingAtBackend, spanIdHex, startTraceLoad } from '../test/helpers/gateway-child.js';
import { runAsScript } from './script.js';

/** mulberry32: a small seeded PRNG (how long each life lasts). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      kills: { type: 'string', default: '20' },
      sync: { type: 'string', default: 'batch' },
      spans: { type: 'string', default: '100' },
      concurrency: { type: 'string', default: '4' },
      'backend-delay-ms': { type: 'string', default: '50' },
      'acks-per-life': { type: 'string', default: '2000' },
      seed: { type: 'string', default: '1' },
      'results-dir': { type: 'string' },
    },
  });
  const kills = Number(v.kills);
  const sync = v.sync!;
  if (!['batch', 'always', 'none'].includes(sync)) throw new Error(`--sync: expected batch, always or none (got "${sync}")`);
  const spansPerRequest = Number(v.spans);
  const concurrency = Number(v.concurrency);
  const acksPerLife = Number(v['acks-per-life']);
  const random = prng(Number(v.seed));
  const log = (line: string) => process.stderr.write(`${line}\n`);

  const backend = await startFaultBackend();
  backend.mode = 'slow';
  backend.delayMs = Number(v['backend-delay-ms']);
  const gw = await createGatewayChild({
    exporters: [
      {
        name: 'backend',
        endpoint: backend.url,
        signals: ['traces'],
        concurrency: 2,
        timeout: '5s',
        batch: { flushInterval: '20ms' },
        retry: { initialBackoff: '20ms', maxBackoff: '500ms', maxElapsed: '1h' },
        queue: { persistent: true, sync },
      },
    ],
  });
  const acked: number[] = [];
  let replayedRecords = 0;
  let possibleDuplicates = 0;
  let failedRequests = 0;
  const started = Date.now();
  try {
    for (let i = 1; i <= kills; i++) {
      await gw.start();
      const m = await gw.metrics();
      replayedRecords += m.get('exporter_queue_replayed_records_total') ?? 0;
      possibleDuplicates += m.get('exporter_queue_possible_duplicates_total') ?? 0;
      // Each life gets its own id range, so no two requests ever share a span id.
      const load = startTraceLoad(gw.httpUrl, { firstId: i * 1_000_000_000, spansPerRequest, concurrency });
      const target = Math.round(acksPerLife * (0.5 + random()));
      await load.ackedAtLeast(target, 120_000);
      await gw.kill();
      const r = await load.stop();
      acked.push(...r.acked);
      failedRequests += r.answers.error ?? 0;
      log(`kill ${i}/${kills}: acknowledged ${r.acked.length} spans this life (${acked.length} in all), delivered so far ${backend.spans.size}, replayed at its start ${m.get('exporter_queue_replayed_records_total') ?? 0} requests`);
    }
    // The last life: no kill; the backend is fast again and everything drains.
    backend.mode = 'ok';
    await gw.start();
    const m = await gw.metrics();
    replayedRecords += m.get('exporter_queue_replayed_records_total') ?? 0;
    possibleDuplicates += m.get('exporter_queue_possible_duplicates_total') ?? 0;
    await backend.waitFor(() => missingAtBackend(acked, backend.spans).length === 0, 180_000, 'every acknowledged span delivered').catch((err: Error) => log(err.message));
    const end = await gw.metrics();
    await gw.stop();
    const missing = missingAtBackend(acked, backend.spans);
    const ackedSet = new Set(acked.map(spanIdHex));
    const delivered = acked.length - missing.length;
    let unackedDelivered = 0;
    for (const id of backend.spans.keys()) if (!ackedSet.has(id)) unackedDelivered++;
    const result = {
      date: new Date().toISOString(),
      node: process.versions.node,
      kills,
      sync,
      spansPerRequest,
      concurrency,
      backendDelayMs: backend.delayMs,
      seconds: (Date.now() - started) / 1000,
      acknowledgedSpans: acked.length,
      deliveredAcknowledgedSpans: delivered,
      missingAcknowledgedSpans: missing.length,
      duplicateSpans: duplicatesAtBackend(backend.spans),
      deliveredUnacknowledgedSpans: unackedDelivered,
      failedRequests,
      gateway: { replayedRecords, possibleDuplicateRecords: possibleDuplicates, droppedItems: end.get('exporter_dropped_items_total') ?? 0, lostRecords: end.get('exporter_queue_lost_records_total') ?? 0 },
    };
    process.stdout.write(
      [
        `kill -9 loop: ${kills} kills under load, persistent queue sync ${sync}, Node ${process.versions.node}, ${result.seconds.toFixed(0)} s`,
        `  acknowledged ${acked.length} spans; delivered ${delivered}; MISSING ${missing.length}; duplicated ${result.duplicateSpans} (extra copies at the backend)`,
        `  delivered though not acknowledged (the client saw the connection die): ${unackedDelivered}; requests failed by the kills: ${failedRequests}`,
        `  gateway: replayed ${replayedRecords} requests over ${kills} restarts, ${possibleDuplicates} of them possibly sent before (counted), dropped ${result.gateway.droppedItems}`,
      ].join('\n') + '\n',
    );
    const dir = v['results-dir'] ?? join(packageRoot, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${result.date.replace(/[:.]/g, '-')}-kill-loop-${sync}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    process.stdout.write(`  written: ${file}\n`);
    return missing.length === 0 ? 0 : 1;
  } finally {
    await gw.kill();
    await backend.close();
  }
}

runAsScript('kill-loop', import.meta.url, main);
