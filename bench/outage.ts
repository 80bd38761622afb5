// A long backend outage under a steady load: a real gateway with a persistent export queue takes
// --rate spans/s over OTLP/HTTP while its backend is down for --outage-seconds (default 10 minutes),
// then the backend comes back and the load stops. Reports how many acknowledged spans were lost (must be
// 0), how long the backlog took to reach the backend (target ≤ 2 min), and the answers clients got:
// with a disk budget too small for the outage (--max-disk), retryable refusals instead of losses.
//
//   node dist/bench/outage.js [--outage-seconds 600] [--rate 20000] [--spans 500] [--concurrency 4]
//                             [--max-disk 8GiB] [--sync batch]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { startFaultBackend } from '../test/helpers/fault-backend.js';
import { createGatewayChild, duplicatesAtBackend, missingAtBackend, startTraceLoad } from '../test/helpers/gateway-child.js';
import { runAsScript } from './script.js';

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      'outage-seconds': { type: 'string', default: '600' },
      rate: { type: 'string', default: '20000' },
      spans: { type: 'string', default: '500' },
      concurrency: { type: 'string', default: '4' },
      'max-disk': { type: 'string', default: '8GiB' },
      sync: { type: 'string', default: 'batch' },
      'results-dir': { type: 'string' },
    },
  });
  const outageMs = Number(v['outage-seconds']) * 1000;
  const rate = Number(v.rate);
  const spansPerRequest = Number(v.spans);
  const concurrency = Number(v.concurrency);
  if (!(outageMs > 0 && rate > 0 && spansPerRequest > 0 && concurrency > 0)) throw new Error('--outage-seconds, --rate, --spans and --concurrency must be positive numbers');
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

  const backend = await startFaultBackend();
  const gw = await createGatewayChild({
    exporters: [
      {
        name: 'backend',
        endpoint: backend.url,
        signals: ['traces'],
        timeout: '5s',
        retry: { initialBackoff: '100ms', maxBackoff: '5s', maxElapsed: '1h' },
        queue: { persistent: true, sync: v.sync, maxDiskBytes: v['max-disk'] },
      },
    ],
  });
  const started = Date.now();
  try {
    await gw.start();
    const loadStarted = Date.now();
    const load = startTraceLoad(gw.httpUrl, { firstId: 1, spansPerRequest, concurrency, rate });
    await load.ackedAtLeast(rate, 60_000); // about a second of load delivered normally first
    await backend.down();
    const downAt = Date.now();
    log(`backend down; load ${rate} spans/s for ${outageMs / 1000} s`);
    const progress = setInterval(() => {
      void gw.metrics().then((m) =>
        log(`acknowledged ${load.result.acked.length}; queue ${(((m.get('exporter_queue_disk_bytes') ?? 0) as number) / 2 ** 20).toFixed(0)} MiB on disk; answers ${JSON.stringify(load.result.answers)}`),
      );
    }, 30_000);
    await new Promise((r) => setTimeout(r, outageMs));
    clearInterval(progress);
    const result = await load.stop();
    const backlogAt = Date.now();
    const queued = await gw.metrics();
    await backend.up();
    log(`backend up; ${result.acked.length} spans acknowledged in all, ${backend.spans.size} delivered so far`);
    await backend
      .waitFor(() => backend.spans.size >= result.acked.length && missingAtBackend(result.acked, backend.spans).length === 0, 30 * 60_000, 'the backlog delivered')
      .catch((err: Error) => log(err.message));
    const drainedMs = Date.now() - backlogAt;
    const end = await gw.metrics();
    await gw.stop();
    const missing = missingAtBackend(result.acked, backend.spans);
    const out = {
      date: new Date().toISOString(),
      node: process.versions.node,
      outageSeconds: (backlogAt - downAt) / 1000,
      targetRate: rate,
      achievedRate: Math.round(result.acked.length / ((backlogAt - loadStarted) / 1000)),
      spansPerRequest,
      concurrency,
      maxDisk: v['max-disk'],
      sync: v.sync,
      acknowledgedSpans: result.acked.length,
      missingAcknowledgedSpans: missing.length,
      duplicateSpans: duplicatesAtBackend(backend.spans),
      answers: result.answers,
      queueDiskBytesAtReturn: queued.get('exporter_queue_disk_bytes') ?? 0,
      drainSeconds: drainedMs / 1000,
      droppedItems: end.get('exporter_dropped_items_total') ?? 0,
    };
    process.stdout.write(
      [
        `backend outage: ${out.outageSeconds.toFixed(0)} s at ${out.achievedRate} spans/s acknowledged (target ${rate}), persistent queue sync ${v.sync}, max disk ${v['max-disk']}, Node ${out.node}`,
        `  acknowledged ${out.acknowledgedSpans} spans; MISSING ${missing.length}; duplicated ${out.duplicateSpans}; answers ${JSON.stringify(out.answers)}`,
        `  queue on disk when the backend returned: ${(Number(out.queueDiskBytesAtReturn) / 2 ** 20).toFixed(0)} MiB; delivered within ${out.drainSeconds.toFixed(1)} s of its return; dropped ${out.droppedItems}`,
      ].join('\n') + '\n',
    );
    const dir = v['results-dir'] ?? join(packageRoot, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${out.date.replace(/[:.]/g, '-')}-outage.json`);
    writeFileSync(file, JSON.stringify(out, null, 2));
    process.stdout.write(`  written: ${file}\n`);
    return missing.length === 0 ? 0 : 1;
  } finally {
    await gw.kill();
    await backend.close();
  }
}

runAsScript('outage', import.meta.url, main);
