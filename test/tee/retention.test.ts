// Retention: the pruner deletes sealed segments older than their tier's duration, never open ones and
// never ones an unexpired hold overlaps; archive usage per tenant and tier.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RetentionTier } from '../../src/config/sections/forensic.js';
import { holdsDir, segmentBaseName, tierDir, type Hold } from '../../src/tee/layout.js';
import { archiveUsage, createPruner, pruneArchive } from '../../src/tee/retention.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

const DAY = 86_400_000;

/** A scratch dir removed when the test ends. */
function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'stella-ret-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const NOW = Date.parse('2026-11-29T00:00:00Z');
const retention: Record<RetentionTier, number> = { default: 7 * DAY, forensic: 90 * DAY, airgap: 365 * DAY };

/** A segment file whose first record is `ageDays + 1 hour` old and that was sealed `ageDays` ago. */
function segment(root: string, tenant: string, tier: RetentionTier, ageDays: number, seq: number, sealed = true, bytes = 100, format: 1 | 2 = 1): string {
  const dir = tierDir(root, tenant, tier);
  mkdirSync(dir, { recursive: true });
  const sealedAt = NOW - ageDays * DAY;
  const suffix = format === 1 ? (sealed ? '.seg.gz' : '.seg') : sealed ? '.segz' : '.segz.part';
  const path = join(dir, `${segmentBaseName(sealedAt - 3_600_000, seq)}${suffix}`);
  writeFileSync(path, Buffer.alloc(bytes));
  utimesSync(path, sealedAt / 1000, sealedAt / 1000);
  return path;
}

t.test('format 2: a sealed .segz expires like a .seg.gz; an open .segz.part is never pruned; usage counts both', async (t) => {
  const root = scratch(t);
  const expired = segment(root, 'acme', 'default', 8, 1, true, 300, 2);
  const open = segment(root, 'acme', 'default', 30, 2, false, 50, 2);
  const fresh = segment(root, 'acme', 'default', 1, 3, true, 70, 2);
  t.same(archiveUsage('', { dir: root }).tenants.acme?.default, { bytes: 420, segments: 3, openSegments: 1, oldestMs: NOW - 30 * DAY - 3_600_000, newestMs: NOW - DAY });
  const report = await pruneArchive(root, retention, { nowMs: NOW });
  t.same(report.pruned.map((p) => p.path), [expired]);
  t.ok(existsSync(open) && existsSync(fresh), 'the open one and the young one stay');
});

function hold(root: string, name: string, h: Hold | string): void {
  mkdirSync(holdsDir(root), { recursive: true });
  writeFileSync(join(holdsDir(root), `${name}.json`), typeof h === 'string' ? h : JSON.stringify(h));
}

t.test('each tier keeps its segments for its own duration; open segments are never pruned', async (t) => {
  const root = scratch(t);
  const metrics = createMetrics({ defaultMetrics: false });
  const keep = [
    segment(root, 'acme', 'default', 6, 1),
    segment(root, 'acme', 'forensic', 30, 2),
    segment(root, 'acme', 'airgap', 300, 3),
    segment(root, 'acme', 'default', 30, 4, false), // open (unsealed): never pruned
  ];
  const drop = [segment(root, 'acme', 'default', 8, 5), segment(root, 'globex', 'default', 10, 1), segment(root, 'acme', 'forensic', 91, 6), segment(root, 'acme', 'airgap', 366, 7)];
  const report = await pruneArchive(root, retention, { nowMs: NOW, metrics });
  t.same(report.pruned.map((p) => p.path).sort(), [...drop].sort(), 'exactly the expired sealed segments');
  t.equal(report.bytesFreed, 400);
  for (const p of keep) t.ok(existsSync(p), `kept ${p.slice(root.length)}`);
  for (const p of drop) t.notOk(existsSync(p), `deleted ${p.slice(root.length)}`);
  const counted = (await metrics.teePrunedSegments.get()).values.map((v) => [v.labels.tier, v.value]).sort();
  t.same(counted, [['airgap', 1], ['default', 2], ['forensic', 1]], 'tee_pruned_segments_total{tier}');
  t.same((await pruneArchive(root, retention, { nowMs: NOW })).pruned, [], 'a second run finds nothing');
});

t.test('holds: an unexpired hold overlapping a segment keeps it; expired or elsewhere holds do not', async (t) => {
  const root = scratch(t);
  const held = segment(root, 'acme', 'default', 20, 1); // spans [NOW-20d-1h, NOW-20d]
  const fleetHeld = segment(root, 'globex', 'default', 40, 1);
  const free = segment(root, 'acme', 'default', 30, 2);
  const expiredHold = segment(root, 'acme', 'default', 50, 3);
  hold(root, 'incident-42', { tenant: 'acme', fromMs: NOW - 20 * DAY - 60_000, toMs: NOW - 19 * DAY, expiresAt: null });
  hold(root, 'other-tenant', { tenant: 'globex', fromMs: NOW - 31 * DAY, toMs: NOW - 29 * DAY, expiresAt: null });
  hold(root, 'fleet', { tenant: '_all', fromMs: NOW - 40 * DAY - 1000, toMs: NOW - 40 * DAY - 500, expiresAt: new Date(NOW + DAY).toISOString() });
  hold(root, 'old', { tenant: 'acme', fromMs: NOW - 51 * DAY, toMs: NOW - 49 * DAY, expiresAt: new Date(NOW - 1000).toISOString() });
  const report = await pruneArchive(root, retention, { nowMs: NOW });
  t.ok(existsSync(held), 'held by its tenant');
  t.ok(existsSync(fleetHeld), 'held by a fleet hold (overlapping its first hour)');
  t.notOk(existsSync(free), "another tenant's hold does not protect it");
  t.notOk(existsSync(expiredHold), 'an expired hold protects nothing');
  t.same(report.held.sort(), [held, fleetHeld].sort(), 'the report lists what holds kept');
});

t.test('an unreadable hold stops pruning (it might hold anything)', async (t) => {
  const root = scratch(t);
  const old = segment(root, 'acme', 'default', 100, 1);
  hold(root, 'broken', '{"tenant": "acme", ');
  const report = await pruneArchive(root, retention, { nowMs: NOW });
  t.ok(existsSync(old));
  t.equal(report.badHolds.length, 1);
  t.match(report.badHolds[0], /^broken\.json: /);
});

t.test('the periodic pruner runs on its own and reports to onPruned', async (t) => {
  const root = scratch(t);
  const old = segment(root, 'acme', 'default', 100, 1);
  const reports: number[] = [];
  const pruner = createPruner({ root, retentionMs: retention, intervalMs: 50 }, { now: () => NOW, onPruned: (r) => reports.push(r.pruned.length) });
  pruner.start();
  t.teardown(() => pruner.stop());
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && existsSync(old)) await new Promise((r) => setTimeout(r, 20));
  t.notOk(existsSync(old), 'pruned by the timer');
  t.equal(reports[0], 1);
});

t.test('archive usage per tenant and tier', async (t) => {
  const dataDir = scratch(t);
  const root = join(dataDir, 'forensic');
  segment(root, 'acme', 'default', 1, 1, true, 100);
  segment(root, 'acme', 'default', 0, 2, false, 50);
  segment(root, 'acme', 'forensic', 2, 3, true, 70);
  segment(root, 'globex', 'airgap', 3, 1, true, 10);
  hold(root, 'h', { tenant: 'acme', fromMs: 0, toMs: 1, expiresAt: null });
  const u = archiveUsage(dataDir);
  t.equal(u.root, root);
  t.equal(u.bytes, 230);
  t.equal(u.segments, 4);
  t.same(Object.keys(u.tenants), ['acme', 'globex'], 'the holds dir is not a tenant');
  t.match(u.tenants.acme!.default, { bytes: 150, segments: 2, openSegments: 1, oldestMs: NOW - DAY - 3_600_000, newestMs: NOW });
  t.match(u.tenants.acme!.forensic, { bytes: 70, segments: 1, openSegments: 0 });
  t.match(u.tenants.globex!.airgap, { bytes: 10, segments: 1 });
  t.same(archiveUsage(join(dataDir, 'nothing-here')).segments, 0, 'no archive: empty usage');
});

t.test('a segment caught mid-seal (both .seg and .seg.gz) is listed once, as sealed', async (t) => {
  const root = scratch(t);
  segment(root, 'acme', 'default', 1, 1, false);
  segment(root, 'acme', 'default', 1, 1, true);
  segment(root, 'acme', 'default', 0, 2, false);
  const { listSegments } = await import('../../src/tee/layout.js');
  t.same(listSegments(root).map((s) => [s.seq, s.sealed]), [[1, true], [2, false]]);
});
