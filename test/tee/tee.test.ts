// The forensic tee on its own: what it writes (decoded back with the segment format), rotation by size,
// age and tier, sealing, torn tails and their recovery, incident mode, and shedding (buffer, disk, I/O).
import t, { type Test } from 'tap';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_FORENSIC, type ForensicConfig } from '../../src/config/sections/forensic.js';
import { listSegments, readShedWindows } from '../../src/tee/layout.js';
import { SEGMENT_MAGIC, SEGMENT_MAGIC_V2, encodeFrameHeader, encodeRecord, readSegmentFile, type SegmentRecord } from '../../src/tee/segment-format.js';
import { createTee, type SegmentHandle, type TeeDeps, type TeeOffer } from '../../src/tee/tee.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { zstdAvailable } from '../../src/tee/zstd-support.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import type { Signal } from '../../src/signals.js';
import type { Incident } from '../../src/incident/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(t: Test, patch: Partial<ForensicConfig> = {}, deps: Partial<TeeDeps> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'stella-tee-'));
  const metrics = createMetrics({ defaultMetrics: false });
  const config = { ...structuredClone(DEFAULT_FORENSIC), mode: 'always' as const, ...patch, root };
  const tee = createTee(config, { metrics, logger: silentLogger, ...deps });
  t.teardown(async () => {
    await tee.close(1000);
    rmSync(root, { recursive: true, force: true });
  });
  return { root, metrics, tee };
}

let n = 0;
function offer(tenant: string, bytes = 100, signal: Signal = 'traces', timeMs = 1_764_400_000_000 + n): TeeOffer {
  n++;
  const body = Buffer.alloc(bytes, n % 251);
  if (bytes >= 4) body.writeUInt32BE(n, 0);
  return { signal, tenant, body, items: n % 7, policyVersion: `v${n}`, timeMs };
}

function same(t: Test, got: SegmentRecord[], want: TeeOffer[], msg: string) {
  t.same(
    got.map((r) => ({ signal: r.signal, items: r.items, timeMs: r.timeMs, policyVersion: r.policyVersion, payload: Buffer.from(r.payload).toString('hex') })),
    want.map((o) => ({ signal: o.signal, items: o.items, timeMs: o.timeMs, policyVersion: o.policyVersion, payload: Buffer.from(o.body).toString('hex') })),
    msg,
  );
}

async function value(metrics: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)!.get();
  return m.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((s, v) => s + v.value, 0);
}

/** Every record of a tenant, segments in name order (= time order). */
function recordsOf(root: string, tenant: string): SegmentRecord[] {
  return listSegments(root, { tenant }).flatMap((s) => {
    const d = readSegmentFile(s.path);
    if (!d.ok) throw new Error(`${s.path}: ${d.reason}`);
    return d.records;
  });
}

t.test('records on disk are exactly what was offered, per tenant, in order', async (t) => {
  const { root, metrics, tee } = setup(t);
  await tee.start();
  const a = [offer('acme', 10, 'traces'), offer('acme', 300, 'logs'), offer('acme', 0, 'metrics')];
  const b = [offer('globex', 50)];
  tee.offer(a[0]!);
  tee.offer(b[0]!);
  tee.offer(a[1]!);
  tee.offer(a[2]!);
  await tee.flush();
  const segs = listSegments(root);
  t.same(segs.map((s) => [s.tenant, s.tier, s.sealed]), [['acme', 'default', false], ['globex', 'default', false]], 'one open segment per tenant, default tier');
  t.match(segs[0]!.path, /acme\/default\/\d{13}-\d{6}\.segz\.part$/);
  t.equal(segs[0]!.firstRecordTimeMs, a[0]!.timeMs, 'the name carries the first record time');
  same(t, recordsOf(root, 'acme'), a, 'acme');
  same(t, recordsOf(root, 'globex'), b, 'globex');
  t.equal(await value(metrics, 'tee_written_records_total', { tenant: 'acme' }), 3);
  const onDisk = segs.reduce((s, x) => s + x.bytes, 0);
  t.equal(await value(metrics, 'tee_written_bytes_total'), onDisk - 2 * SEGMENT_MAGIC_V2.length, 'written bytes = the frames on disk');
  t.equal(tee.stats().diskBytes, onDisk, 'disk accounting: frames + magic per segment');
  t.equal(await value(metrics, 'tee_shed_records_total'), 0);
});

t.test('rotation by size; sealed segments are renamed brotli-framed files that decode to the same records', async (t) => {
  const { root, metrics, tee } = setup(t, { segment: { maxBytes: 4096, maxAgeMs: 60_000, compression: 'brotli', gzipLevel: 1 } });
  await tee.start();
  const offers = Array.from({ length: 12 }, () => offer('acme', 1000));
  for (const o of offers) {
    tee.offer(o);
    await tee.flush(); // separate writes, so the size check runs between records
  }
  await tee.sealAll();
  const segs = listSegments(root);
  t.ok(segs.length >= 3, `rotated into ${segs.length} segments`);
  t.ok(segs.every((s) => s.sealed && s.path.endsWith('.segz')), 'all sealed after sealAll');
  for (const s of segs) {
    const raw = readFileSync(s.path);
    t.same(raw.subarray(0, 8), SEGMENT_MAGIC_V2, 'format-2 magic');
    t.equal(raw[8], 1, 'first frame: brotli');
  }
  const rawBytes = offers.reduce((s, o) => s + 18 + o.policyVersion.length + o.body.length, 0);
  t.ok(segs.reduce((s, x) => s + x.bytes, 0) < rawBytes / 3, 'compressed (the bodies are repetitive)');
  const names = segs.map((s) => s.path);
  t.same([...names].sort(), names, 'names sort in write order');
  t.equal(new Set(segs.map((s) => s.seq)).size, segs.length, 'sequence numbers are unique');
  same(t, recordsOf(root, 'acme'), offers, 'every record, in order, across segments');
  t.equal(await value(metrics, 'tee_sealed_segments_total', { tier: 'default' }), segs.length);
  t.equal(tee.stats().diskBytes, segs.reduce((s, x) => s + x.bytes, 0), 'disk accounting follows the compressed size');
});

t.test('rotation by age seals an idle segment', async (t) => {
  const { root, tee } = setup(t, { segment: { maxBytes: 1 << 20, maxAgeMs: 150, compression: 'brotli', gzipLevel: 1 } });
  await tee.start();
  const first = offer('acme');
  tee.offer(first);
  await tee.flush();
  t.equal(listSegments(root)[0]!.sealed, false, 'open at first');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !listSegments(root).every((s) => s.sealed)) await sleep(50);
  t.same(listSegments(root).map((s) => s.sealed), [true], 'sealed by the timer, with no new record');
  const second = offer('acme');
  tee.offer(second);
  await tee.flush();
  const segs = listSegments(root);
  t.same(segs.map((s) => s.sealed), [true, false], 'the next record opens a new segment');
  same(t, recordsOf(root, 'acme'), [first, second], 'both records');
});

t.test('a torn tail is detected, and a segment left open by a crash is sealed at the next start', async (t) => {
  const { root, tee } = setup(t);
  await tee.start();
  const offers = [offer('acme', 200), offer('acme', 200)];
  for (const o of offers) tee.offer(o);
  await tee.flush();
  const path = listSegments(root)[0]!.path;
  // A crash halfway through appending a third frame.
  const before = readFileSync(path).length;
  appendFileSync(path, Buffer.concat([encodeFrameHeader('none', 200, 200, 0), Buffer.alloc(100, 7)]));
  const torn = readSegmentFile(path);
  t.equal(torn.ok, false, 'the damage is reported');
  if (!torn.ok) {
    t.equal(torn.reason, 'truncated frame');
    t.equal(torn.offset, before, 'at the torn frame');
    t.equal(torn.records.length, 2, 'the intact records are still returned');
  }
  // A flipped byte inside a frame fails its CRC.
  const flipped = readFileSync(path).subarray(0, before);
  flipped[before - 5] ^= 0xff;
  const { decodeSegment } = await import('../../src/tee/segment-format.js');
  const bad = decodeSegment(flipped);
  t.equal(bad.ok ? 'ok' : bad.reason, 'frame checksum mismatch');

  // "Restart": a new tee over the same root seals what the old one left open.
  const metrics2 = createMetrics({ defaultMetrics: false });
  const again = createTee({ ...structuredClone(DEFAULT_FORENSIC), mode: 'always', root }, { metrics: metrics2, logger: silentLogger });
  await again.start();
  await again.sealAll();
  await again.close(1000);
  const segs = listSegments(root);
  t.same(segs.map((s) => s.sealed), [true], 'sealed on start');
  const sealed = readSegmentFile(segs[0]!.path);
  t.equal(sealed.ok, false, 'the torn tail survives sealing, and is still reported');
  same(t, sealed.records, offers, 'with the intact records');
});

function fakeIncidents() {
  const active = new Set<string>();
  const listeners: Array<(e: { type: 'start' | 'end' | 'expire'; incident: Incident }) => void> = [];
  const state = {
    isActive: (tenant: string) => active.has(tenant) || active.has('_all'),
    onChange: (l: (e: { type: 'start' | 'end' | 'expire'; incident: Incident }) => void) => {
      listeners.push(l);
      return () => void listeners.splice(listeners.indexOf(l), 1);
    },
  };
  const end = (scope: string) => {
    active.delete(scope);
    const incident: Incident = { scope, reason: 'test', by: 'test', startedAt: new Date().toISOString(), expiresAt: null };
    for (const l of listeners) l({ type: 'end', incident });
  };
  return { active, state, end };
}

t.test("mode incident: a tenant is teed only while in incident, at the escalated tier", async (t) => {
  const inc = fakeIncidents();
  const { root, tee } = setup(t, { mode: 'incident' }, { incidents: inc.state });
  await tee.start();
  const before = offer('acme');
  tee.offer(before);
  t.equal(tee.isTeed('acme'), false);
  inc.active.add('acme');
  t.equal(tee.isTeed('acme'), true);
  t.equal(tee.isTeed('globex'), false, 'only the tenant in incident');
  const during = [offer('acme'), offer('acme')];
  for (const o of during) tee.offer(o);
  tee.offer(offer('globex'));
  await tee.flush();
  inc.active.delete('acme');
  tee.offer(offer('acme'));
  inc.active.add('_all');
  const fleet = offer('globex');
  tee.offer(fleet);
  await tee.sealAll();
  const segs = listSegments(root);
  t.same(segs.map((s) => [s.tenant, s.tier]), [['acme', 'forensic'], ['globex', 'forensic']], 'only incident records, in the forensic tier');
  same(t, recordsOf(root, 'acme'), during, 'acme: the records offered during its incident');
  same(t, recordsOf(root, 'globex'), [fleet], 'globex: the record offered during the fleet incident');
});

t.test('mode always: the tier escalates during an incident (rotating the segment) and drops back after', async (t) => {
  const inc = fakeIncidents();
  const { root, tee } = setup(t, { mode: 'always' }, { incidents: inc.state });
  await tee.start();
  const plan: Array<[TeeOffer, string]> = [];
  const step = async (tier: string) => {
    const o = offer('acme');
    tee.offer(o);
    plan.push([o, tier]);
    await tee.flush();
  };
  await step('default');
  inc.active.add('acme');
  await step('forensic');
  await step('forensic');
  inc.active.delete('acme');
  await step('default');
  await tee.sealAll();
  const segs = listSegments(root).sort((a, b) => a.firstRecordTimeMs - b.firstRecordTimeMs);
  t.same(segs.map((s) => s.tier), ['default', 'forensic', 'default'], 'a new segment at each tier change');
  for (const s of segs) {
    const d = readSegmentFile(s.path);
    const want = plan.filter(([o, tier]) => tier === s.tier && o.timeMs >= s.firstRecordTimeMs).map(([o]) => o);
    t.ok(d.ok && d.records.every((r) => want.some((o) => o.timeMs === r.timeMs)), `${s.tier} segment holds only its tier's records`);
  }
  t.equal(recordsOf(root, 'acme').length, 4, 'nothing lost');

  // An airgap base tier is never downgraded by a shorter incident tier.
  const inc2 = fakeIncidents();
  const { root: root2, tee: tee2 } = setup(t, { mode: 'always', tier: 'airgap', incidentTier: 'forensic' }, { incidents: inc2.state });
  await tee2.start();
  inc2.active.add('acme');
  tee2.offer(offer('acme'));
  await tee2.flush();
  t.same(listSegments(root2).map((s) => s.tier), ['airgap']);
});

t.test('mode off tees nothing and creates no directory', async (t) => {
  const { root, tee } = setup(t, { mode: 'off' });
  await tee.start();
  tee.offer(offer('acme'));
  await tee.sealAll();
  t.same(readdirSync(root), []);
});

t.test('a full buffer sheds (counted, flagged, logged as a window) instead of growing', async (t) => {
  const { root, metrics, tee } = setup(t, { bufferBytes: 64 * 1024 }, { shedQuietMs: 100 });
  await tee.start();
  // 20 × 10 KB in one tick: the writer has not run yet, so only ~6 fit in 64 KiB.
  const offers = Array.from({ length: 20 }, () => offer('acme', 10_000));
  for (const o of offers) tee.offer(o);
  t.ok(tee.stats().bufferedBytes <= 64 * 1024, 'the buffer stays within its bound');
  t.equal(await value(metrics, 'tee_shedding', { tenant: 'acme' }), 1, 'the alert gauge is up while shedding');
  const shed = await value(metrics, 'tee_shed_records_total', { tenant: 'acme', reason: 'buffer_full' });
  t.equal(shed, 14);
  await sleep(300); // the window ends after 100 ms without a shed record
  await tee.flush();
  t.equal(await value(metrics, 'tee_shedding', { tenant: 'acme' }), 0, 'and down once it ended');
  const windows = readShedWindows(root, 'acme');
  t.same(windows, [{ fromMs: offers[6]!.timeMs, toMs: offers[19]!.timeMs, records: 14, bytes: 14 * (10_000 + 18 + offers[6]!.policyVersion.length), reason: 'buffer_full' }]);
  same(t, recordsOf(root, 'acme'), offers.slice(0, 6), 'what fitted was written');
  // Once drained, records are taken again.
  const later = offer('acme', 10);
  tee.offer(later);
  await tee.flush();
  same(t, recordsOf(root, 'acme'), [...offers.slice(0, 6), later], 'accepted again');
});

t.test('the disk budget: beyond forensic.maxBytes records are shed, and pruning gives the space back', async (t) => {
  const { root, metrics, tee } = setup(t, { maxBytes: 10_000 });
  await tee.start();
  for (let i = 0; i < 10; i++) {
    // Incompressible bodies: the budget counts compressed bytes on disk.
    tee.offer({ ...offer('acme', 1500), body: randomBytes(1500) });
    await tee.flush();
  }
  t.ok(tee.stats().diskBytes <= 10_000, `disk ${tee.stats().diskBytes} within budget`);
  t.equal(await value(metrics, 'tee_shed_records_total', { reason: 'disk_budget' }), 4, '6 records fit, 4 were shed');
  t.equal(recordsOf(root, 'acme').length, 6);
  await tee.flush();
  t.equal(readShedWindows(root, 'acme')[0]?.reason, 'disk_budget', 'the window is logged');

  // Seal, age the segments past the default tier's 7 days, prune: the budget is free again.
  await tee.sealAll();
  const old = (Date.now() - 8 * 86_400_000) / 1000;
  for (const s of listSegments(root)) utimesSync(s.path, old, old);
  const sealed = listSegments(root).length;
  t.ok(sealed >= 1);
  const report = await tee.prune();
  t.equal(report.pruned.length, sealed, 'every expired segment pruned');
  t.equal(listSegments(root).length, 0);
  t.equal(tee.stats().diskBytes, 0, 'the freed bytes are given back to the budget');
  const after = offer('acme', 1500);
  tee.offer(after);
  await tee.flush();
  same(t, recordsOf(root, 'acme'), [after], 'records are archived again');
});

t.test('write errors (ENOSPC) shed for a while, keep the segment intact, then writing resumes', async (t) => {
  let clock = Date.now();
  let failNext = 0;
  const openSegment = async (path: string): Promise<SegmentHandle> => {
    const h = await open(path, 'wx');
    return {
      writev: async (bufs, position) => {
        if (failNext > 0) {
          failNext--;
          await h.write(bufs[0]!.subarray(0, 5), 0, 5, position); // a partial write before the failure
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        }
        return h.writev(bufs, position);
      },
      datasync: () => h.datasync(),
      truncate: (len) => h.truncate(len),
      close: () => h.close(),
    };
  };
  const { root, metrics, tee } = setup(t, {}, { openSegment, now: () => clock, shedQuietMs: 100 });
  await tee.start();
  const ok1 = offer('acme');
  tee.offer(ok1);
  await tee.flush();
  failNext = 1;
  tee.offer(offer('acme'));
  await tee.flush();
  tee.offer(offer('acme')); // within the back-off: shed at once
  t.equal(await value(metrics, 'tee_shed_records_total', { reason: 'write_error' }), 2);
  clock += 2000; // back-off over
  const ok2 = offer('acme');
  tee.offer(ok2);
  await tee.flush();
  const path = listSegments(root)[0]!.path;
  const d = readSegmentFile(path);
  t.ok(d.ok, 'the partial record was cut off: the segment decodes cleanly');
  same(t, recordsOf(root, 'acme'), [ok1, ok2], 'records before and after the failure');
  await tee.close(1000);
  t.ok(existsSync(join(root, 'acme', 'shed.jsonl')));
  const w = readShedWindows(root, 'acme');
  // flush() logs the windows open at the time, so this one was logged in two parts.
  t.same(w.map((x) => x.reason), ['write_error', 'write_error']);
  t.equal(w.reduce((s, x) => s + x.records, 0), 2, 'both shed records are in the log');
});

t.test('a write stuck past the shutdown deadline: what it held and what waited is counted as shed', async (t) => {
  let hang = false;
  // The stuck write never lets the tee close its file: the test closes it (Node 26 throws on a
  // FileHandle left for the garbage collector).
  const handles: Awaited<ReturnType<typeof open>>[] = [];
  t.teardown(() => Promise.all(handles.map((h) => h.close().catch(() => {}))));
  const openSegment = async (path: string): Promise<SegmentHandle> => {
    const h = await open(path, 'wx');
    handles.push(h);
    return {
      writev: (bufs, position) => (hang ? new Promise(() => {}) : h.writev(bufs, position)),
      datasync: () => h.datasync(),
      truncate: (len) => h.truncate(len),
      close: () => h.close(),
    };
  };
  const { root, metrics, tee } = setup(t, {}, { openSegment });
  await tee.start();
  const first = offer('acme');
  tee.offer(first);
  await tee.flush();
  hang = true;
  tee.offer(offer('acme'));
  await sleep(20); // the writer takes it and hangs
  tee.offer(offer('acme'));
  tee.offer(offer('acme'));
  const t0 = Date.now();
  await tee.close(200);
  t.ok(Date.now() - t0 < 2000, 'close returns at the deadline');
  t.equal(await value(metrics, 'tee_shed_records_total', { reason: 'shutdown' }), 3, 'the stuck record and the two queued');
  t.same(readShedWindows(root, 'acme').map((w) => [w.reason, w.records]), [['shutdown', 3]], 'logged as a window');
  same(t, recordsOf(root, 'acme'), [first], 'what was written before stays');
});

t.test("an incident's end seals its escalated segment at once", async (t) => {
  const inc = fakeIncidents();
  const { root, tee } = setup(t, { mode: 'incident', segment: { maxBytes: 1 << 20, maxAgeMs: 3_600_000, compression: 'brotli', gzipLevel: 1 } }, { incidents: inc.state });
  await tee.start();
  inc.active.add('acme');
  tee.offer(offer('acme'));
  await tee.flush();
  t.same(listSegments(root).map((s) => [s.tier, s.sealed]), [['forensic', false]]);
  inc.end('acme');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !listSegments(root).every((s) => s.sealed)) await sleep(20);
  t.same(listSegments(root).map((s) => [s.tier, s.sealed]), [['forensic', true]], 'sealed without waiting for its max age (1 h)');
});

t.test('start cleans up after a crash mid-seal', async (t) => {
  const { root, tee } = setup(t);
  const dir = join(root, 'acme', 'default');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '1764400000000-000001.seg'), SEGMENT_MAGIC); // renamed .gz in place, .seg not yet unlinked
  writeFileSync(join(dir, '1764400000000-000001.seg.gz'), gzipSync(SEGMENT_MAGIC));
  writeFileSync(join(dir, '1764400001000-000002.seg'), SEGMENT_MAGIC); // sealing had only begun
  writeFileSync(join(dir, '1764400001000-000002.seg.gz.tmp'), Buffer.from('partial'));
  await tee.start();
  await tee.sealAll();
  t.same(readdirSync(dir).sort(), ['1764400000000-000001.seg.gz', '1764400001000-000002.seg.gz']);
  t.equal(tee.stats().diskBytes, listSegments(root).reduce((s, x) => s + x.bytes, 0), 'accounted');
});

t.test('compression none and deflate write frames that decode to the same records', async (t) => {
  for (const compression of ['none', 'deflate'] as const) {
    const { root, tee } = setup(t, { segment: { maxBytes: 1 << 20, maxAgeMs: 60_000, compression, gzipLevel: 1 } });
    await tee.start();
    const offers = [offer('acme', 3000), offer('acme', 10, 'logs')];
    for (const o of offers) tee.offer(o);
    await tee.sealAll();
    const [seg] = listSegments(root);
    t.equal(readFileSync(seg!.path)[8], compression === 'none' ? 0 : 2, `${compression}: the frame's codec byte`);
    same(t, recordsOf(root, 'acme'), offers, compression);
  }
});

t.test('frame codec: auto is zstd where node:zlib has it, else brotli; explicit zstd without it fails at creation', async (t) => {
  const hasZstd = zstdAvailable();
  for (const compression of ['auto', 'brotli', ...(hasZstd ? (['zstd'] as const) : [])] as const) {
    const { root, tee } = setup(t, { segment: { maxBytes: 1 << 20, maxAgeMs: 60_000, compression, gzipLevel: 1 } });
    await tee.start();
    const offers = [offer('acme', 3000), offer('acme', 10, 'logs'), offer('acme', 5000, 'metrics')];
    for (const o of offers) tee.offer(o);
    await tee.sealAll();
    const [seg] = listSegments(root);
    const want = compression === 'brotli' || (compression === 'auto' && !hasZstd) ? 1 : 3;
    t.equal(readFileSync(seg!.path)[8], want, `${compression} on Node ${process.versions.node}: the frame's codec byte`);
    same(t, recordsOf(root, 'acme'), offers, compression);
  }
  if (!hasZstd) {
    // Node 20 (CI): validation refuses it (forensic-config.test.ts); a direct caller gets the same message.
    const root = mkdtempSync(join(tmpdir(), 'stella-tee-'));
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    t.throws(
      () => createTee({ ...structuredClone(DEFAULT_FORENSIC), mode: 'always', segment: { ...DEFAULT_FORENSIC.segment, compression: 'zstd' }, root }, { metrics: createMetrics({ defaultMetrics: false }), logger: silentLogger }),
      /forensic tee: frame codec zstd needs node:zlib zstd \(Node >= 22\.15/,
    );
  } else {
    // Node >= 22.15: a zstd level from the deps (the bench's knob) still writes decodable zstd frames.
    const { root, tee } = setup(t, { segment: { maxBytes: 1 << 20, maxAgeMs: 60_000, compression: 'zstd', gzipLevel: 1 } }, { zstdLevel: -5 });
    await tee.start();
    const offers = [offer('acme', 20_000)];
    tee.offer(offers[0]!);
    await tee.sealAll();
    t.equal(readFileSync(listSegments(root)[0]!.path)[8], 3, 'zstd at level -5');
    same(t, recordsOf(root, 'acme'), offers, 'zstd level -5');
  }
});

t.test('records arriving one per event-loop turn share a frame (linger), and are written without a flush', async (t) => {
  const { root, tee } = setup(t);
  await tee.start();
  const offers = [offer('acme', 2000), offer('acme', 2000, 'logs'), offer('acme', 2000)];
  for (const o of offers) {
    tee.offer(o);
    await new Promise((r) => setImmediate(r)); // as in the gateway: one request per turn
  }
  // No flush: the linger timer (50 ms) writes them. Polled, since the machine may be slow; bufferedBytes
  // falls when the writer takes the batch, before it is compressed and written, so the wait is for the
  // records in the file (a frame still being written reads as a torn tail).
  const onDisk = (): number => {
    try {
      return recordsOf(root, 'acme').length;
    } catch {
      return 0;
    }
  };
  for (let i = 0; i < 200 && onDisk() < offers.length; i++) await sleep(20);
  t.equal(tee.stats().bufferedBytes, 0, 'written after the linger time');
  const [seg] = listSegments(root);
  const file = readFileSync(seg!.path);
  let frames = 0;
  for (let at = SEGMENT_MAGIC_V2.length; at < file.length; at += 13 + file.readUInt32BE(at + 5)) frames++;
  t.equal(frames, 1, 'one frame for the three records');
  same(t, recordsOf(root, 'acme'), offers, 'the records');
});

t.test('legacy (format 1) segments: an open .seg is gzip-sealed at start; .seg.gz stays readable', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'stella-tee-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'acme', 'default');
  mkdirSync(dir, { recursive: true });
  const old = [offer('acme', 300), offer('acme', 40, 'metrics')];
  const v1 = Buffer.concat([SEGMENT_MAGIC, ...old.map((o) => encodeRecord({ ...o, payload: o.body }))]);
  writeFileSync(join(dir, '1764300000000-000001.seg.gz'), gzipSync(v1));
  writeFileSync(join(dir, '1764300001000-000002.seg'), v1);
  const tee = createTee({ ...structuredClone(DEFAULT_FORENSIC), mode: 'always', root }, { metrics: createMetrics({ defaultMetrics: false }), logger: silentLogger });
  await tee.start();
  const fresh = offer('acme', 100);
  tee.offer(fresh);
  await tee.sealAll();
  await tee.close(1000);
  t.same(readdirSync(dir).sort().map((n) => n.replace(/^\d{13}-/, '')), ['000001.seg.gz', '000002.seg.gz', '000003.segz'], 'legacy sealed with gzip; new records in format 2 (sequence continues)');
  same(t, recordsOf(root, 'acme'), [...old, ...old, fresh], 'every record readable, old and new');
});
