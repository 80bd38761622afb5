import t, { type Test } from 'tap';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exporterDefaults, type ExporterConfig } from '../../src/config/types.js';
import { createExporter } from '../../src/export/exporter.js';
import {
  createFileTransport,
  parseSegment,
  readFileSegments,
  segmentFileName,
  tenantDirName,
  tenantFromDirName,
} from '../../src/export/file-exporter.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { valueOf } from './metrics-util.js';
import { decodeTraces, traceRequest } from './otlp-build.js';

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'stella-file-export-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function cfg(dir: string, file: Partial<ExporterConfig['file']> = {}): ExporterConfig {
  const d = exporterDefaults('file');
  return { name: 'file', kind: 'file', endpoint: dir, ...d, file: { ...d.file, ...file } };
}

const body = (i: number) => traceRequest([{ service: 's', names: [`span-${i}`, 'x'.repeat(i % 7)] }]);

t.test('records read back equal what was written, in order; rotation by size', async (t) => {
  const dir = tmp(t);
  const tr = createFileTransport(cfg(dir, { maxSegmentBytes: 300 }));
  const bodies = Array.from({ length: 30 }, (_, i) => body(i));
  for (const b of bodies) t.same(await tr.send({ signal: 'traces', tenant: 'acme', body: b, items: 2 }), { status: 'ok' });
  await tr.close();
  const tdir = join(dir, 'traces', 'acme');
  const segments = readdirSync(tdir).sort();
  t.ok(segments.length > 3, `rotated into ${segments.length} segments`);
  t.equal(segments[0], segmentFileName(1));
  t.equal(segmentFileName(12), 'segment-0000000012.pb');
  for (const s of segments) t.ok(statSync(join(tdir, s)).size <= 300, `${s} within maxSegmentBytes`);
  const read = readFileSegments(dir, 'traces');
  t.same(read.truncated, []);
  t.equal(read.records.length, 30);
  t.same(read.records.map((r) => Buffer.from(r.body)), bodies.map((b) => Buffer.from(b)));
  t.ok(read.records.every((r) => r.tenant === 'acme'));
  t.same(readFileSegments(dir, 'logs'), { records: [], truncated: [] }, 'nothing for another signal');
});

t.test('a record larger than maxSegmentBytes gets a segment of its own', async (t) => {
  const dir = tmp(t);
  const tr = createFileTransport(cfg(dir, { maxSegmentBytes: 50 }));
  const huge = traceRequest([{ service: 's', names: ['y'.repeat(200)] }]);
  await tr.send({ signal: 'traces', tenant: 'a', body: body(1), items: 1 });
  await tr.send({ signal: 'traces', tenant: 'a', body: huge, items: 1 });
  await tr.send({ signal: 'traces', tenant: 'a', body: body(2), items: 1 });
  await tr.close();
  t.equal(readdirSync(join(dir, 'traces', 'a')).length, 3);
  t.same(readFileSegments(dir, 'traces').records.map((r) => Buffer.from(r.body)), [body(1), huge, body(2)].map((b) => Buffer.from(b)));
});

t.test('rotation by age', async (t) => {
  const dir = tmp(t);
  let clock = 1_000_000;
  const tr = createFileTransport(cfg(dir, { maxSegmentAgeMs: 1000 }), { now: () => clock });
  await tr.send({ signal: 'logs', tenant: 'a', body: body(1), items: 1 });
  clock += 500;
  await tr.send({ signal: 'logs', tenant: 'a', body: body(2), items: 1 });
  clock += 600;
  await tr.send({ signal: 'logs', tenant: 'a', body: body(3), items: 1 });
  await tr.close();
  t.same(readdirSync(join(dir, 'logs', 'a')).sort(), [segmentFileName(1), segmentFileName(2)]);
  const read = readFileSegments(dir, 'logs');
  t.same(read.records.map((r) => r.path.endsWith(segmentFileName(1))), [true, true, false]);
});

t.test('tenants get their own directories; hostile names stay inside', async (t) => {
  const dir = tmp(t);
  const tr = createFileTransport(cfg(dir));
  const tenants = ['acme', '../escape', 'a/b', '.', '', 'üñí code', 'a_b', 'a%2Fb'];
  for (const [i, tenant] of tenants.entries()) await tr.send({ signal: 'metrics', tenant, body: body(i), items: 1 });
  await tr.close();
  const dirs = readdirSync(join(dir, 'metrics'));
  t.equal(dirs.length, tenants.length, 'no two tenants share a directory');
  t.ok(dirs.every((d) => !d.includes('/') && d !== '.' && d !== '..' && d.length > 0));
  t.notOk(existsSync(join(dir, 'escape')), 'nothing written outside the signal directory');
  for (const tenant of tenants) t.equal(tenantFromDirName(tenantDirName(tenant)), tenant, `round trip ${JSON.stringify(tenant)}`);
  const read = readFileSegments(dir, 'metrics');
  t.same(read.records.map((r) => r.tenant).sort(), tenants.slice().sort());
  const only = readFileSegments(dir, 'metrics', { tenant: '../escape' });
  t.equal(only.records.length, 1);
  t.same(Buffer.from(only.records[0]!.body), Buffer.from(body(1)));
});

t.test('a truncated last record (crash mid-write) is reported, the records before it are intact', async (t) => {
  const dir = tmp(t);
  const tr = createFileTransport(cfg(dir));
  await tr.send({ signal: 'traces', tenant: 'a', body: body(1), items: 1 });
  await tr.send({ signal: 'traces', tenant: 'a', body: body(2), items: 1 });
  await tr.close();
  const path = join(dir, 'traces', 'a', segmentFileName(1));
  const sizeBefore = statSync(path).size;
  appendFileSync(path, Buffer.from([100, 1, 2, 3])); // declares 100 bytes, has 3
  const read = readFileSegments(dir, 'traces');
  t.equal(read.records.length, 2);
  t.same(read.truncated, [{ path, offset: sizeBefore, presentBytes: 4, declaredBytes: 100 }]);

  const cutPrefix = parseSegment(Buffer.from([5, 1, 2, 3, 4, 5, 0x80]), 'p', 't');
  t.equal(cutPrefix.records.length, 1);
  t.same(cutPrefix.truncated, { path: 'p', offset: 6, presentBytes: 1 }, 'a cut varint prefix is detected too');
});

t.test('a restart continues numbering and never overwrites a segment', async (t) => {
  const dir = tmp(t);
  const a = createFileTransport(cfg(dir));
  await a.send({ signal: 'traces', tenant: 'a', body: body(1), items: 1 });
  await a.close();
  const b = createFileTransport(cfg(dir));
  await b.send({ signal: 'traces', tenant: 'a', body: body(2), items: 1 });
  await b.close();
  t.same(readdirSync(join(dir, 'traces', 'a')).sort(), [segmentFileName(1), segmentFileName(2)]);
  t.equal(readFileSegments(dir, 'traces').records.length, 2);
  t.match(await b.send({ signal: 'traces', tenant: 'a', body: body(3), items: 1 }), { status: 'retryable' }, 'closed: refuses');
});

t.test('write failure is retryable (file_io)', async (t) => {
  const dir = tmp(t);
  appendFileSync(join(dir, 'traces'), 'a file where a directory should be');
  const tr = createFileTransport(cfg(dir));
  t.match(await tr.send({ signal: 'traces', tenant: 'a', body: body(1), items: 1 }), { status: 'retryable', reason: 'file_io' });
  await tr.close();
});

t.test('the file exporter end to end: batches of a tenant decode to the merged requests', async (t) => {
  const dir = tmp(t);
  const metrics = createMetrics({ defaultMetrics: false });
  const exp = createExporter({ ...cfg(dir), batch: { maxBytes: 1 << 20, maxItems: 4, flushIntervalMs: 50, passThroughBytes: 1 << 30 } }, { metrics, logger: silentLogger });
  await exp.start();
  for (let i = 0; i < 10; i++) {
    exp.offer({ signal: 'traces', tenant: i % 2 ? 'odd' : 'even', body: traceRequest([{ service: 's', names: [`n${i}`] }]), items: 1 });
  }
  await exp.shutdown(2000);
  const even = readFileSegments(dir, 'traces', { tenant: 'even' }).records;
  const odd = readFileSegments(dir, 'traces', { tenant: 'odd' }).records;
  t.same(even.map((r) => decodeTraces(r.body).flatMap((x) => x.names)), [['n0', 'n2', 'n4', 'n6'], ['n8']]);
  t.same(odd.map((r) => decodeTraces(r.body).flatMap((x) => x.names)), [['n1', 'n3', 'n5', 'n7'], ['n9']]);
  t.equal(await valueOf(metrics.exporterSentItems, { exporter: 'file' }), 10);
  t.equal(await valueOf(metrics.exporterSentBatches), 4);
});
