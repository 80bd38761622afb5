// Capture reads archives whatever codec the tee wrote them with, and bundles always hold format-1 chunks.
// A zstd segment read on a Node without zstd (Node < 22.15) is not damage to skip over: the capture fails
// with a message naming the codec and the Node version needed. Both paths run on every Node (the second
// decodes as on a Node without zstd).
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_FORENSIC } from '../../src/config/sections/forensic.js';
import { captureWindow } from '../../src/tee/capture.js';
import { listSegments } from '../../src/tee/layout.js';
import { decodeSegment, encodeFrameHeader, SEGMENT_MAGIC, SEGMENT_MAGIC_V2 } from '../../src/tee/segment-format.js';
import { createKeySigner, generateSigningKeyPair } from '../../src/tee/sign.js';
import { readTar } from '../../src/tee/tar.js';
import { bundlePath } from './bundle-archive.js';
import { createTee } from '../../src/tee/tee.js';
import { zstdAvailable } from '../../src/tee/zstd-support.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';

const T0 = Date.UTC(2026, 0, 31, 12, 0, 0);
const keys = generateSigningKeyPair();

async function archive(compression: 'auto' | 'brotli') {
  const dataDir = mkdtempSync(join(tmpdir(), 'stella-capture-codec-'));
  const root = join(dataDir, 'forensic');
  const tee = createTee(
    { ...structuredClone(DEFAULT_FORENSIC), mode: 'always', segment: { ...DEFAULT_FORENSIC.segment, compression }, root },
    { metrics: createMetrics({ defaultMetrics: false }), logger: silentLogger },
  );
  await tee.start();
  const bodies = [Buffer.alloc(4000, 1), Buffer.alloc(100, 2)];
  bodies.forEach((body, i) => tee.offer({ signal: 'traces', tenant: 'acme', body, items: i + 1, policyVersion: 'v1', timeMs: T0 + i }));
  await tee.close(5000);
  return { dataDir, root, bodies };
}

const capture = (root: string, decode?: { zstd: null }, fromMs = T0) =>
  captureWindow({ root, tenant: 'acme', fromMs, toMs: fromMs + 1000, signals: ['traces'], profile: 'default', signer: createKeySigner(keys.privateKeyPem), now: () => T0, out: bundlePath(join(root, '..')), ...(decode ? { decode } : {}) });

t.test('the default codec: captured into format-1 chunks on this Node; refused, naming zstd, on a Node without it', async (t) => {
  const a = await archive('auto');
  t.teardown(() => rmSync(a.dataDir, { recursive: true, force: true }));
  const [seg] = listSegments(a.root);
  const codecByte = readFileSync(seg!.path)[8];
  t.equal(codecByte, zstdAvailable() ? 3 : 1, `auto on Node ${process.versions.node}: ${zstdAvailable() ? 'zstd' : 'brotli'} frames`);
  const r = await capture(a.root);
  t.same(r.warnings, []);
  const tar = readTar(readFileSync(r.path));
  const chunk = tar.ok ? tar.entries.find((e) => e.name.startsWith('chunks/')) : undefined;
  t.ok(chunk && Buffer.from(chunk.data.subarray(0, SEGMENT_MAGIC.length)).equals(SEGMENT_MAGIC), 'the chunk is a format-1 segment');
  const d = decodeSegment(chunk!.data);
  t.same(d.records.map((x) => Buffer.from(x.payload).toString('hex')), a.bodies.map((b) => b.toString('hex')), 'every record in the bundle');
  if (codecByte === 3) {
    // As a Node 20 reading this zstd archive: the capture fails, nothing half-captured is signed.
    await t.rejects(capture(a.root, { zstd: null }), /default\/\d{13}-\d{6}\.segz: frame codec zstd needs node:zlib zstd \(Node >= 22\.15 \(or >= 23\.8\)\); this is Node .*nothing was captured/);
  } else {
    // Node 20: brotli frames need no zstd, so even "without zstd" the capture is complete.
    const again = await capture(a.root, { zstd: null });
    t.equal(again.manifestSha256, r.manifestSha256, 'brotli archives do not depend on zstd');
  }
});

t.test('an explicit brotli archive captures identically with or without zstd', async (t) => {
  const a = await archive('brotli');
  t.teardown(() => rmSync(a.dataDir, { recursive: true, force: true }));
  const [r1, r2] = [await capture(a.root), await capture(a.root, { zstd: null })];
  t.equal(r1.manifestSha256, r2.manifestSha256);
  t.equal(r1.manifest.totals.chunks, 1);
});

t.test('a sealed zstd segment (as Node 22 writes it): captured where zstd exists, refused with the Node needed elsewhere', async (t) => {
  // The frame of test/tee/segment-format.test.ts: two records at 1764400000123 and …456.
  const stored = Buffer.from(
    '28b52ffd2094f5010014030000003e00000000020000019ace6f6c7b0276377a737464206672616d65206f6e652c200000004e02000000016dc800610300c42529c27038e27c02',
    'hex',
  );
  const dataDir = mkdtempSync(join(tmpdir(), 'stella-capture-codec-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const root = join(dataDir, 'forensic');
  mkdirSync(join(root, 'acme', 'default'), { recursive: true });
  writeFileSync(join(root, 'acme', 'default', '1764400000123-000000.segz'), Buffer.concat([SEGMENT_MAGIC_V2, encodeFrameHeader('zstd', 148, stored.length, crc32(stored)), stored]));
  const from = 1764400000000;
  const refused = /frame codec zstd needs node:zlib zstd \(Node >= 22\.15 \(or >= 23\.8\)\); this is Node \d+\.\d+\.\d+: read this segment with a newer Node \(offset 8\); nothing was captured/;
  await t.rejects(capture(root, { zstd: null }, from), { name: 'CodecUnavailableError', message: refused }, 'as on a Node without zstd (the admin route answers 501 with this message)');
  if (zstdAvailable()) {
    const r = await capture(root, undefined, from);
    t.same([r.manifest.totals.records.traces, r.manifest.totals.records.logs], [1, 0], 'traces only: the one traces record');
    t.equal(r.manifest.totals.chunks, 1, `Node ${process.versions.node} reads it`);
    t.equal(r.manifest.totals.items.traces, 2);
  } else {
    await t.rejects(capture(root, undefined, from), refused, `Node ${process.versions.node} (no zstd) refuses it`);
  }
});
