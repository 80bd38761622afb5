// The forensic tee alone, in this process: CPU per span to archive the bench's 500-span requests
// (offer → batch writes → rotation → gzip sealing), without the gateway around it, so the figure does not
// drown in the noise of a whole-gateway run on a shared machine. process.cpuUsage() counts every thread
// of the process, so the zlib work on the libuv pool is included.
//
//   node dist/bench/tee-micro.js [--requests 1000] [--gzip-level 1] [--segment-mib 64]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { DEFAULT_FORENSIC } from '../src/config/sections/forensic.js';
import { createTee } from '../src/tee/tee.js';
import { silentLogger } from '../src/telemetry/logger-types.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import { generateRequestPool } from './generate.js';

export interface TeeMicroResult {
  requests: number;
  spans: number;
  bytes: number;
  gzipLevel: number;
  /** CPU µs per span: offering and writing (the ingest path and the writer). */
  writeMicrosPerSpan: number;
  /** CPU µs per span: sealing (gzip of every segment, including the last). */
  sealMicrosPerSpan: number;
  totalMicrosPerSpan: number;
  /** Of the total: user and system (kernel: page cache copies, fsync) CPU. */
  userMicrosPerSpan: number;
  systemMicrosPerSpan: number;
  /** Archive bytes on disk after sealing ÷ bytes offered. */
  compressionRatio: number;
  shed: number;
  wallSeconds: number;
}

export async function runTeeMicro(o: { requests: number; gzipLevel: number; segmentBytes: number; inFlight?: number }): Promise<TeeMicroResult> {
  const pool = generateRequestPool({ count: 64, spansPerRequest: 500, seed: 1 });
  const bodies = pool.requests.map((r) => Buffer.from(r));
  const root = mkdtempSync(join(tmpdir(), 'stella-tee-micro-'));
  const metrics = createMetrics({ defaultMetrics: false });
  const tee = createTee(
    { ...structuredClone(DEFAULT_FORENSIC), mode: 'always', maxBytes: 1e12, segment: { maxBytes: o.segmentBytes, maxAgeMs: 3_600_000, gzipLevel: o.gzipLevel }, root },
    { metrics, logger: silentLogger },
  );
  await tee.start();
  const inFlight = o.inFlight ?? 8;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let bytes = 0;
  let sealedBefore = 0;
  for (let i = 0; i < o.requests; i++) {
    const body = bodies[i % bodies.length]!;
    bytes += body.length;
    tee.offer({ signal: 'traces', tenant: 'bench', body, items: 500, policyVersion: 'a'.repeat(64), timeMs: Date.now() });
    // About as many offers per event-loop turn as requests in flight at the gateway.
    if (i % inFlight === inFlight - 1) await new Promise((r) => setImmediate(r));
    // Paced to what the disk takes: a shed record costs nothing and would flatter the figure.
    if (tee.stats().bufferedBytes > 16 * 2 ** 20) await tee.flush();
  }
  await tee.flush();
  const c1 = process.cpuUsage();
  sealedBefore = tee.stats().diskBytes;
  await tee.sealAll();
  const c2 = process.cpuUsage();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const disk = tee.stats().diskBytes;
  const shed = (await metrics.teeShedRecords.get()).values.reduce((s, v) => s + v.value, 0);
  await tee.close(60_000);
  rmSync(root, { recursive: true, force: true });
  void sealedBefore;
  const spans = o.requests * 500;
  const us = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user - a.user + b.system - a.system) / spans;
  return {
    requests: o.requests,
    spans,
    bytes,
    gzipLevel: o.gzipLevel,
    writeMicrosPerSpan: us(c0, c1),
    sealMicrosPerSpan: us(c1, c2),
    totalMicrosPerSpan: us(c0, c2),
    userMicrosPerSpan: (c2.user - c0.user) / spans,
    systemMicrosPerSpan: (c2.system - c0.system) / spans,
    compressionRatio: bytes / disk,
    shed,
    wallSeconds: wall,
  };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { requests: { type: 'string' }, 'gzip-level': { type: 'string' }, 'segment-mib': { type: 'string' }, runs: { type: 'string' } } });
  const requests = Number(values.requests ?? 1000);
  const gzipLevel = Number(values['gzip-level'] ?? 1);
  const segmentBytes = Number(values['segment-mib'] ?? 64) * 2 ** 20;
  const runs = Number(values.runs ?? 3);
  const results: TeeMicroResult[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await runTeeMicro({ requests, gzipLevel, segmentBytes });
    results.push(r);
    process.stderr.write(
      `run ${i + 1}: write ${r.writeMicrosPerSpan.toFixed(3)} + seal ${r.sealMicrosPerSpan.toFixed(3)} = ${r.totalMicrosPerSpan.toFixed(3)} CPU µs/span (user ${r.userMicrosPerSpan.toFixed(2)}, sys ${r.systemMicrosPerSpan.toFixed(2)}); ` +
        `${(r.bytes / 2 ** 20).toFixed(0)} MiB → ÷${r.compressionRatio.toFixed(2)}; shed ${r.shed}; ${r.wallSeconds.toFixed(1)} s\n`,
    );
  }
  const med = (f: (r: TeeMicroResult) => number) => results.map(f).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
  process.stdout.write(
    `tee micro (gzip level ${gzipLevel}, ${requests} × 500-span requests, segments ${segmentBytes / 2 ** 20} MiB), median of ${runs}: ` +
      `write ${med((r) => r.writeMicrosPerSpan).toFixed(3)} + seal ${med((r) => r.sealMicrosPerSpan).toFixed(3)} = ${med((r) => r.totalMicrosPerSpan).toFixed(3)} CPU µs/span, compression ÷${med((r) => r.compressionRatio).toFixed(2)}\n`,
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`tee-micro: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
