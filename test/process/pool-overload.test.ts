// Overload: work nobody waits for never reaches a worker (docs/guides/overload.md). A gated task holds the
// one worker (the test worker writes PATH.entered, then waits for the test to create PATH), so what
// happens to the tasks behind it is decided by events, never by how fast this machine is.
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProcessPool, type ProcessPool } from '../../src/process/pool.js';
import type { ProcessConfig } from '../../src/config/types.js';
import type { ProcessTask } from '../../src/process/protocol.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { span, tracesRequest } from '../helpers/wire-builder.js';

const T1 = '0102030405060708090a0b0c0d0e0f10';
const testWorker = new URL('./fixtures/test-worker.js', import.meta.url);

function pool(t: Test, config: Partial<ProcessConfig>): { pool: ProcessPool; metrics: GatewayMetrics } {
  const metrics = createMetrics({ defaultMetrics: false });
  const p = createProcessPool({ workers: 1, maxQueue: 8, taskTimeoutMs: 30_000, maxQueueWaitMs: 30_000, maxExpectedWaitMs: 60_000, ...config }, { metrics, workerFile: testWorker });
  t.teardown(() => p.close());
  return { pool: p, metrics };
}

const task = (tenant = 'tenant-a'): ProcessTask => ({ signal: 'traces', encoding: 'protobuf', body: tracesRequest(span({ traceId: T1 })), tenant });

/** A gate: a task with tenant `gate:PATH` holds its worker until open() is called. */
function gate(t: Test): { tenant: string; entered: () => Promise<void>; open: () => void } {
  const path = join(mkdtempSync(join(tmpdir(), 'stella-gate-')), 'open');
  return {
    tenant: `gate:${path}`,
    entered: () => until(() => existsSync(`${path}.entered`), 'the gated task reached a worker'),
    open: () => writeFileSync(path, ''),
  };
}

/** Waits for a condition set by another thread or the event loop; the timeout only means "hung". */
async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`hung: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function value(counter: GatewayMetrics['poolTasks'] | GatewayMetrics['poolDropped'], labels: Record<string, string>): Promise<number> {
  const m = await counter.get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .reduce((a, v) => a + v.value, 0);
}

t.test("a task whose client's deadline passes while it is queued is dropped, never run", async (t) => {
  const { pool: p, metrics } = pool(t, {});
  const g = gate(t);
  const blocker = p.run(task(g.tenant));
  await g.entered();
  const late = p.run(task('late'), { deadlineAt: Date.now() + 100 });
  t.match(p.stats(), { inflight: 2, queued: 1 });
  // Answered where it waits, at its deadline, while the worker is still held.
  t.match(await late, { status: 'retryable', code: 'DEADLINE_EXCEEDED' });
  t.match(p.stats(), { queued: 0 }, 'it left the queue');
  g.open();
  t.match(await blocker, { status: 'ok' });
  t.equal(p.stats().completed, 1, 'the worker ran only the blocker');
  t.equal(await value(metrics.poolTasks, { outcome: 'ok' }), 1);
  t.equal(await value(metrics.poolDropped, { reason: 'deadline', stage: 'queue' }), 1, 'worker_pool_dropped_tasks_total{reason=deadline,stage=queue}');

  // A deadline already past on arrival: refused at once.
  t.match(await p.run(task(), { deadlineAt: Date.now() - 1 }), { status: 'retryable', code: 'DEADLINE_EXCEEDED' });
  t.equal(await value(metrics.poolDropped, { reason: 'deadline', stage: 'arrival' }), 1);
  t.equal(p.stats().completed, 1);
});

t.test("a cancelled client's task never reaches a worker", async (t) => {
  const { pool: p, metrics } = pool(t, {});
  const g = gate(t);
  const blocker = p.run(task(g.tenant));
  await g.entered();
  const client = new AbortController();
  const queued = p.run(task('gone'), { signal: client.signal });
  const behind = p.run(task('behind'));
  t.match(p.stats(), { queued: 2 });
  client.abort();
  t.match(await queued, { status: 'retryable', code: 'CLIENT_GONE' }, 'answered as soon as the client left');
  t.match(p.stats(), { queued: 1 }, 'only the task behind it still waits');
  g.open();
  t.match(await blocker, { status: 'ok' });
  t.match(await behind, { status: 'ok' }, 'the queue moved on to the next task');
  t.equal(p.stats().completed, 2, 'blocker and the task behind; not the cancelled one');
  t.equal(await value(metrics.poolDropped, { reason: 'client_gone', stage: 'queue' }), 1);

  const already = new AbortController();
  already.abort();
  t.match(await p.run(task(), { signal: already.signal }), { status: 'retryable', code: 'CLIENT_GONE' });
  t.equal(await value(metrics.poolDropped, { reason: 'client_gone', stage: 'arrival' }), 1);
  t.equal(p.stats().completed, 2);
});

t.test('the queue is bounded by time: a task waiting longer than maxQueueWait is refused with OVERLOADED', async (t) => {
  const { pool: p, metrics } = pool(t, { maxQueueWaitMs: 50 });
  const g = gate(t);
  const blocker = p.run(task(g.tenant));
  await g.entered();
  // No task has finished yet, so there is no estimate: it is queued, and dropped when its wait runs out.
  const waited = await p.run(task('waits'));
  t.match(waited, { status: 'retryable', code: 'OVERLOADED' });
  if (waited.status === 'retryable') t.ok(waited.retryAfterMs >= 1000, `with a retry hint (${waited.retryAfterMs} ms)`);
  t.equal(await value(metrics.poolDropped, { reason: 'queue_wait', stage: 'queue' }), 1);
  g.open();
  t.match(await blocker, { status: 'ok' });
  t.equal(p.stats().completed, 1);
});

t.test('a newcomer whose expected wait exceeds maxQueueWait or its deadline is refused at once', async (t) => {
  const { pool: p, metrics } = pool(t, { maxQueueWaitMs: 20_000 });
  // One task that holds its worker for at least 300 ms teaches the pool how long a task takes.
  t.match(await p.run(task('sleep:300')), { status: 'ok' });
  const g = gate(t);
  const blocker = p.run(task(g.tenant));
  await g.entered();
  // Expected wait >= 300 ms (one task ahead), deadline in 200 ms: no chance, refused now, retryable.
  const hopeless = await p.run(task('hopeless'), { deadlineAt: Date.now() + 200 });
  t.match(hopeless, { status: 'retryable', code: 'OVERLOADED' });
  t.equal(await value(metrics.poolDropped, { reason: 'deadline', stage: 'arrival' }), 1);
  t.match(p.stats(), { queued: 0 }, 'never queued');
  g.open();
  t.match(await blocker, { status: 'ok' });

  // The same estimate against the queue's own limit.
  const { pool: tight, metrics: tightMetrics } = pool(t, { maxQueueWaitMs: 100 });
  t.match(await tight.run(task('sleep:300')), { status: 'ok' });
  const g2 = gate(t);
  const blocker2 = tight.run(task(g2.tenant));
  await g2.entered();
  const refused = await tight.run(task('refused'));
  t.match(refused, { status: 'retryable', code: 'OVERLOADED' });
  if (refused.status === 'retryable') t.ok(refused.retryAfterMs >= 1000, `with a retry hint (${refused.retryAfterMs} ms)`);
  t.equal(await value(tightMetrics.poolDropped, { reason: 'queue_wait', stage: 'arrival' }), 1);
  g2.open();
  t.match(await blocker2, { status: 'ok' });
  t.equal(tight.stats().completed, 2, 'only the two tasks that were let in ran');
});

t.test('maxExpectedWait: newcomers are refused at the short bound while a queued task rides out a longer stall', async (t) => {
  // A task takes at least 300 ms here; newcomers may expect 100 ms; a queued task may wait 60 s.
  const { pool: p, metrics } = pool(t, { maxQueueWaitMs: 60_000, maxExpectedWaitMs: 100 });
  t.match(await p.run(task('sleep:300')), { status: 'ok' });
  const g = gate(t);
  const blocker = p.run(task(g.tenant));
  await g.entered();
  // One task ahead: expected >= 300 ms, far under maxQueueWait but over maxExpectedWait: refused now.
  t.match(await p.run(task('refused')), { status: 'retryable', code: 'OVERLOADED', message: /expected wait \d+ ms exceeds 100 ms/ });
  t.equal(await value(metrics.poolDropped, { reason: 'queue_wait', stage: 'arrival' }), 1);
  t.match(p.pressure(), { code: 'OVERLOADED' }, 'a receiver asking now is refused too');
  t.match(p.stats(), { queued: 0 }, 'never queued');
  g.open();
  t.match(await blocker, { status: 'ok' });

  // A fresh pool knows no task time, so a task is queued behind a stall; the stall outlasts
  // maxExpectedWait, and the queued task is kept (its bound is maxQueueWait) and served.
  const { pool: fresh, metrics: freshMetrics } = pool(t, { maxQueueWaitMs: 60_000, maxExpectedWaitMs: 100 });
  const g2 = gate(t);
  const stall = fresh.run(task(g2.tenant));
  await g2.entered();
  const queued = fresh.run(task('queued'));
  t.match(fresh.stats(), { queued: 1 });
  await new Promise((r) => setTimeout(r, 300));
  t.match(fresh.stats(), { queued: 1 }, 'still queued past the newcomers\' bound');
  g2.open();
  t.match(await stall, { status: 'ok' });
  t.match(await queued, { status: 'ok' }, 'served after the stall');
  t.equal(await value(freshMetrics.poolDropped, { reason: 'queue_wait', stage: 'queue' }), 0, 'nothing dropped from the queue');
});

t.test('pressure: what a receiver asks before reading a body (bodies being received and their lag count)', async (t) => {
  // Only bounds that hold on any machine: a task takes at least 300 ms here, and far less than 60 s.
  const { pool: p } = pool(t, { maxQueueWaitMs: 60_000 });
  t.equal(p.pressure(), undefined, 'idle, nothing known: no refusal');
  t.match(await p.run(task('sleep:300')), { status: 'ok' });
  t.equal(p.pressure(), undefined, 'idle: no wait');
  t.equal(p.pressure(undefined, 0, 2), undefined, 'two bodies ahead on one worker: well under the limit');
  t.match(p.pressure(undefined, 0, 250), { status: 'retryable', code: 'OVERLOADED' }, '250 bodies ahead: at least 75 s, over it');
  t.match(p.pressure(undefined, 61_000), { status: 'retryable', code: 'OVERLOADED' }, 'bodies arriving 61 s late: over it');
  t.match(p.pressure(Date.now() + 100), { status: 'retryable', code: 'OVERLOADED' }, 'a task takes at least 300 ms: a deadline in 100 ms cannot be met');
  t.equal(p.stats().completed, 1, 'asking submits nothing');
});
