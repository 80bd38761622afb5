// The forensic tee alone, in this process: CPU per span to archive the bench's 500-span requests
// (offer → packing → compression → frame writes → rotation → sealing), without the gateway around it, so
// the figure does not drown in the noise of a whole-gateway run on a shared machine. process.cpuUsage()
// counts every thread of the process, so the compression on the libuv pool is included.
//
//   node dist/bench/tee-micro.js [--requests 1000] [--compression auto|zstd|brotli|deflate|none] [--gzip-level 1] [--zstd-level N] [--segment-mib 64] [--runs 3]
//                                [--pace-ms N (one offer every N ms, as requests reach the gateway: frames then depend on lingering)]
//                                [--frame-target-kib N (bytes a lane waits for before writing; 0 = every turn, as before lingering)]
//                                [--in-flight 8 (offers per event-loop turn)] [--fresh (a new copy of each body, as in the gateway)]
//   node dist/bench/tee-micro.js --codecs     in-memory cost and ratio of each candidate codec and checksum
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { DEFAULT_FORENSIC, resolveSegmentCompression, SEGMENT_COMPRESSIONS, type SegmentCompression } from '../src/config/sections/forensic.js';
import { createTee, ZSTD_LEVEL } from '../src/tee/tee.js';
import { zstdZlib } from '../src/tee/zstd-support.js';
import { silentLogger } from '../src/telemetry/logger-types.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import { generateRequestPool } from './generate.js';
import { runAsScript } from './script.js';

export interface TeeMicroResult {
  requests: number;
  spans: number;
  bytes: number;
  compression: SegmentCompression;
  gzipLevel: number;
  /** CPU µs per span: offering and writing (the ingest path and the writer). */
  writeMicrosPerSpan: number;
  /** CPU µs per span: sealing (fdatasync + rename of every segment, including the last). */
  sealMicrosPerSpan: number;
  totalMicrosPerSpan: number;
  /** Of the total: user and system (kernel: page cache copies, fsync) CPU. */
  userMicrosPerSpan: number;
  systemMicrosPerSpan: number;
  /** Archive bytes on disk after sealing ÷ bytes offered. */
  compressionRatio: number;
  shed: number;
  wallSeconds: number;
  /** Frames written (each a compression call): records per frame = requests ÷ frames. */
  frames: number;
}

export async function runTeeMicro(o: {
  requests: number;
  compression: SegmentCompression;
  gzipLevel: number;
  segmentBytes: number;
  inFlight?: number;
  /** Offer a fresh copy of each body (as the gateway does: every request is new memory), not the pool's buffers. */
  fresh?: boolean;
  zstdLevel?: number;
  paceMs?: number;
  frameTargetBytes?: number;
}): Promise<TeeMicroResult> {
  const pool = generateRequestPool({ count: 64, spansPerRequest: 500, seed: 1 });
  const bodies = pool.requests.map((r) => Buffer.from(r));
  const root = mkdtempSync(join(tmpdir(), 'stella-tee-micro-'));
  const metrics = createMetrics({ defaultMetrics: false });
  let frames = 0;
  const countingOpen = async (path: string) => {
    const h = await open(path, 'wx');
    return {
      writev: (buffers: Buffer[], position: number) => {
        if (position > 0) frames++; // position 0: the magic
        return h.writev(buffers, position);
      },
      datasync: () => h.datasync(),
      truncate: (n: number) => h.truncate(n),
      close: () => h.close(),
    };
  };
  const tee = createTee(
    { ...structuredClone(DEFAULT_FORENSIC), mode: 'always', maxBytes: 1e12, segment: { maxBytes: o.segmentBytes, maxAgeMs: 3_600_000, compression: o.compression, gzipLevel: o.gzipLevel }, root },
    { metrics, logger: silentLogger, openSegment: countingOpen, ...(o.zstdLevel !== undefined ? { zstdLevel: o.zstdLevel } : {}), ...(o.frameTargetBytes !== undefined ? { frameTargetBytes: o.frameTargetBytes } : {}) },
  );
  await tee.start();
  const inFlight = o.inFlight ?? 8;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let bytes = 0;
  let sealedBefore = 0;
  for (let i = 0; i < o.requests; i++) {
    const pooled = bodies[i % bodies.length]!;
    const body = o.fresh ? Buffer.from(pooled) : pooled;
    bytes += body.length;
    tee.offer({ signal: 'traces', tenant: 'bench', body, items: 500, policyVersion: 'a'.repeat(64), timeMs: Date.now() });
    // About as many offers per event-loop turn as requests in flight at the gateway.
    if (o.paceMs) await new Promise((r) => setTimeout(r, o.paceMs));
    else if (i % inFlight === inFlight - 1) await new Promise((r) => setImmediate(r));
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
    compression: resolveSegmentCompression(o.compression),
    gzipLevel: o.gzipLevel,
    writeMicrosPerSpan: us(c0, c1),
    sealMicrosPerSpan: us(c1, c2),
    totalMicrosPerSpan: us(c0, c2),
    userMicrosPerSpan: (c2.user - c0.user) / spans,
    systemMicrosPerSpan: (c2.system - c0.system) / spans,
    compressionRatio: bytes / disk,
    shed,
    wallSeconds: wall,
    frames,
  };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { requests: { type: 'string' }, compression: { type: 'string' }, 'gzip-level': { type: 'string' }, 'segment-mib': { type: 'string' }, runs: { type: 'string' }, codecs: { type: 'boolean' }, 'in-flight': { type: 'string' }, fresh: { type: 'boolean' }, 'zstd-level': { type: 'string' }, 'pace-ms': { type: 'string' }, 'frame-target-kib': { type: 'string' } },
  });
  if (values.codecs) return codecTable();
  const compression = (values.compression ?? 'auto') as SegmentCompression;
  if (!SEGMENT_COMPRESSIONS.includes(compression)) {
    process.stderr.write(`tee-micro: --compression: expected ${SEGMENT_COMPRESSIONS.join(', ')}\n`);
    return 2;
  }
  const codec = resolveSegmentCompression(compression);
  if (codec === 'zstd' && !zstdZlib()) {
    process.stderr.write(`tee-micro: --compression zstd: this Node (${process.version}) has no zstd in node:zlib\n`);
    return 2;
  }
  const zstdLevel = values['zstd-level'] === undefined ? undefined : Number(values['zstd-level']);
  const requests = Number(values.requests ?? 1000);
  const gzipLevel = Number(values['gzip-level'] ?? 1);
  const segmentBytes = Number(values['segment-mib'] ?? 64) * 2 ** 20;
  const runs = Number(values.runs ?? 3);
  const results: TeeMicroResult[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await runTeeMicro({ requests, compression, gzipLevel, segmentBytes, inFlight: Number(values['in-flight'] ?? 8), fresh: values.fresh ?? false, ...(zstdLevel !== undefined ? { zstdLevel } : {}),
      ...(values['pace-ms'] ? { paceMs: Number(values['pace-ms']) } : {}),
      ...(values['frame-target-kib'] !== undefined ? { frameTargetBytes: Number(values['frame-target-kib']) * 1024 } : {}),
    });
    results.push(r);
    process.stderr.write(
      `run ${i + 1}: write ${r.writeMicrosPerSpan.toFixed(3)} + seal ${r.sealMicrosPerSpan.toFixed(3)} = ${r.totalMicrosPerSpan.toFixed(3)} CPU µs/span (user ${r.userMicrosPerSpan.toFixed(2)}, sys ${r.systemMicrosPerSpan.toFixed(2)}); ` +
        `${(r.bytes / 2 ** 20).toFixed(0)} MiB → ÷${r.compressionRatio.toFixed(2)}; shed ${r.shed}; ${(r.requests / Math.max(1, r.frames)).toFixed(1)} requests/frame; ${r.wallSeconds.toFixed(1)} s\n`,
    );
  }
  const med = (f: (r: TeeMicroResult) => number) => results.map(f).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
  process.stdout.write(
    `tee micro on Node ${process.versions.node} (${codec}${codec === 'deflate' ? ` level ${gzipLevel}` : codec === 'zstd' ? ` level ${zstdLevel ?? ZSTD_LEVEL}` : ''}, ${requests} × 500-span requests, segments ${segmentBytes / 2 ** 20} MiB), median of ${runs}: ` +
      `write ${med((r) => r.writeMicrosPerSpan).toFixed(3)} + seal ${med((r) => r.sealMicrosPerSpan).toFixed(3)} = ${med((r) => r.totalMicrosPerSpan).toFixed(3)} CPU µs/span, compression ÷${med((r) => r.compressionRatio).toFixed(2)}\n`,
  );
  return 0;
}

/**
 * The candidates, in memory on the bench's own requests packed 8 to a batch (as the writer packs them):
 * CPU µs per span (median of 5) and ratio. Native codecs from npm are tried only when they resolve from
 * the current directory (e.g. run it from a scratch dir after `npm install lz4-napi snappy` there): the
 * project does not depend on them.
 */
async function codecTable(): Promise<number> {
  const pool = generateRequestPool({ count: 64, spansPerRequest: 500, seed: 1 });
  const bodies = pool.requests.map((r) => Buffer.from(r));
  const batches: Buffer[] = [];
  for (let i = 0; i < bodies.length; i += 8) batches.push(Buffer.concat(bodies.slice(i, i + 8)));
  const spans = bodies.length * 500;
  const total = bodies.reduce((s, b) => s + b.length, 0);
  const Z = zlib.constants;
  const q = (quality: number, extra: Record<number, number> = {}) => (b: Buffer) =>
    zlib.brotliCompressSync(b, { params: { [Z.BROTLI_PARAM_QUALITY]: quality, [Z.BROTLI_PARAM_SIZE_HINT]: b.length, ...extra } }).length;
  const cases: Array<[string, (b: Buffer) => number]> = [
    ['crc32 (node:zlib, native)', (b) => (zlib.crc32(b), b.length)],
    ['gzip level 1', (b) => zlib.gzipSync(b, { level: 1 }).length],
    ['deflate (raw) level 1', (b) => zlib.deflateRawSync(b, { level: 1 }).length],
    ['deflate level 1, Z_RLE', (b) => zlib.deflateRawSync(b, { level: 1, strategy: Z.Z_RLE }).length],
    ['deflate level 1, Z_HUFFMAN_ONLY', (b) => zlib.deflateRawSync(b, { level: 1, strategy: Z.Z_HUFFMAN_ONLY }).length],
    ['brotli quality 0', q(0)],
    ['brotli quality 0, window 2^18', q(0, { [Z.BROTLI_PARAM_LGWIN]: 18 })],
    ['brotli quality 1', q(1)],
  ];
  const zstd = zstdZlib();
  if (zstd) {
    for (const level of [3, 1, -1, -3, -5, -10]) {
      cases.push([`zstd level ${level}`, (b) => zstd.zstdCompressSync(b, { params: { [zstd.constants.ZSTD_c_compressionLevel]: level } }).length]);
    }
  } else process.stderr.write(`(zstd: not in node:zlib of Node ${process.versions.node}: skipped)\n`);
  const require = createRequire(pathToFileURL(join(process.cwd(), 'resolve-from-here.js')).href);
  for (const [name, fn] of [['lz4-napi', 'compressSync'], ['snappy', 'compressSync']] as const) {
    try {
      const m = require(name) as Record<string, (b: Buffer) => Buffer>;
      cases.push([`${name} ${fn}`, (b) => m[fn]!(b).length]);
    } catch {
      process.stderr.write(`(${name} not installed: skipped)\n`);
    }
  }
  for (const [name, fn] of cases) {
    const cpu: number[] = [];
    let out = 0;
    for (let rep = 0; rep < 5; rep++) {
      out = 0;
      const c0 = process.cpuUsage();
      for (const b of batches) out += fn(b);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / spans);
    }
    cpu.sort((a, b) => a - b);
    process.stdout.write(`${name.padEnd(34)} ${cpu[2]!.toFixed(3)} µs/span  ${((total / spans / cpu[2]!) | 0).toString().padStart(5)} MB/s  ratio ${(total / out).toFixed(2)}\n`);
  }
  return 0;
}

const USAGE =
  'usage: node dist/bench/tee-micro.js [--requests 1000] [--runs 3] [--compression auto|zstd|brotli|deflate|none] [--gzip-level 1]\n' +
  '         [--zstd-level=N] [--segment-mib 64] [--in-flight N] [--fresh] [--pace-ms N] [--frame-target-kib N]\n' +
  '       node dist/bench/tee-micro.js --codecs   (in-memory codec table on the bench requests)';

runAsScript('tee-micro', import.meta.url, main, USAGE);
