// The persistent queue alone, in this process: CPU per span of appending the bench's 500-span requests
// (record header + CRC-32 on the event loop, writev and fdatasync on the thread pool) with `--in-flight`
// requests waiting for durability at a time, as the gateway's receivers would; then reading them back
// (replay). CPU time (user + system, every thread), so the machine's load changes it less than wall
// time. With `--rate R` the requests arrive R per second whatever the answers (an open loop, as at a
// moderate load in the gateway) instead of `--in-flight` at a time: time to durable is then the
// group commit's own latency (sync batch waits out syncInterval since the last fsync).
//
//   node dist/bench/queue-micro.js [--sync batch|always|none] [--requests 600] [--in-flight 8 | --rate R] [--rounds 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPersistentQueue, type SyncMode } from '../src/export/queue/persistent-queue.js';
import { generateRequestPool } from './generate.js';
import { median } from './report.js';
import { runAsScript } from './script.js';

const cpuMicros = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: { sync: { type: 'string', default: 'batch' }, requests: { type: 'string', default: '600' }, 'in-flight': { type: 'string', default: '8' }, rate: { type: 'string' }, rounds: { type: 'string', default: '5' } },
  });
  const sync = v.sync as SyncMode;
  const requests = Number(v.requests);
  const inFlight = Number(v['in-flight']);
  const rate = v.rate === undefined ? undefined : Number(v.rate);
  if (rate !== undefined && !(rate > 0)) throw new Error(`--rate: expected requests per second (got "${v.rate}")`);
  const spans = 500;
  const pool = generateRequestPool({ count: 16, spansPerRequest: spans, seed: 1 });
  const appendCosts: number[] = [];
  const readCosts: number[] = [];
  const p50s: number[] = [];
  const p99s: number[] = [];
  for (let round = 1; round <= Number(v.rounds); round++) {
    const dir = mkdtempSync(join(tmpdir(), 'stella-queue-micro-'));
    const q = createPersistentQueue({ dir, sync, syncIntervalMs: 10, maxDiskBytes: 8 * 1024 ** 3, maxBufferBytes: 1024 ** 3, segmentBytes: 64 * 1024 ** 2 });
    await q.open();
    const latencies: number[] = [];
    const c0 = cpuMicros();
    let next = 0;
    const appendOne = async (): Promise<void> => {
      const body = pool.requests[next++ % pool.requests.length]!;
      const t0 = performance.now();
      const r = await q.append({ signal: 'traces', tenant: 'bench', body, items: spans }, Date.now(), true).durable;
      if (!r.ok) throw new Error(r.message);
      latencies.push(performance.now() - t0);
    };
    if (rate === undefined) {
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < requests) await appendOne();
        }),
      );
    } else {
      const pending: Promise<void>[] = [];
      const start = performance.now();
      while (next < requests) {
        const due = start + (next * 1000) / rate - performance.now();
        if (due > 0) await new Promise((r) => setTimeout(r, due));
        pending.push(appendOne());
      }
      await Promise.all(pending);
    }
    const c1 = cpuMicros();
    await q.close();
    const q2 = createPersistentQueue({ dir, sync, syncIntervalMs: 10, maxDiskBytes: 8 * 1024 ** 3, maxBufferBytes: 1024 ** 3, segmentBytes: 64 * 1024 ** 2 });
    await q2.open();
    const c2 = cpuMicros();
    let read = 0;
    while (q2.hasBacklog) {
      const got = await q2.readNext(16 * 1024 * 1024);
      if (got.length === 0) break;
      read += got.length;
    }
    const c3 = cpuMicros();
    await q2.close();
    rmSync(dir, { recursive: true, force: true });
    if (read !== requests) throw new Error(`read back ${read} of ${requests}`);
    latencies.sort((a, b) => a - b);
    appendCosts.push((c1 - c0) / (requests * spans));
    readCosts.push((c3 - c2) / (requests * spans));
    p50s.push(latencies[Math.floor(latencies.length / 2)]!);
    p99s.push(latencies[Math.floor(latencies.length * 0.99)]!);
    process.stderr.write(`round ${round}: append ${appendCosts.at(-1)!.toFixed(3)} µs/span, durable p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(1)} ms p99 ${p99s.at(-1)!.toFixed(1)} ms, replay read ${readCosts.at(-1)!.toFixed(3)} µs/span\n`);
  }
  process.stdout.write(
    `persistent queue alone (sync ${sync}, Node ${process.versions.node}, ${requests} × ${spans}-span requests of ~${Math.round(pool.bytesPerSpan)} B/span, ${rate === undefined ? `${inFlight} in flight` : `${rate} requests/s`}), medians of ${appendCosts.length} rounds:\n` +
      `  append to durable: ${median(appendCosts).toFixed(3)} CPU µs/span (rounds: ${appendCosts.map((c) => c.toFixed(2)).join(', ')}); time to durable p50 ${median(p50s).toFixed(1)} ms, p99 ${median(p99s).toFixed(1)} ms\n` +
      `  read back (replay): ${median(readCosts).toFixed(3)} CPU µs/span\n`,
  );
  return 0;
}

runAsScript('queue-micro', import.meta.url, main);
