import t from 'tap';
import { createBatcher, type BatcherTimers } from '../../src/export/batcher.js';
import type { ExportBatch } from '../../src/export/transport.js';
import type { ExportItem } from '../../src/export/types.js';
import type { Signal } from '../../src/signals.js';
import { decodeLogs, decodeTraces, logsRequest, traceRequest } from './otlp-build.js';

function item(signal: Signal, tenant: string, service: string, names: string[]): ExportItem {
  const body = signal === 'logs' ? logsRequest([{ service, names }]) : traceRequest([{ service, names }]);
  return { signal, tenant, body, items: names.length };
}

/** Timers the test fires by hand. */
function manualTimers(): BatcherTimers & { fire(): void; active: number } {
  const pending = new Map<number, () => void>();
  let next = 1;
  return {
    setTimeout(fn) {
      const id = next++;
      pending.set(id, fn);
      return id;
    },
    clearTimeout(h) {
      pending.delete(h as number);
    },
    fire() {
      const fns = [...pending.values()];
      pending.clear();
      for (const fn of fns) fn();
    },
    get active() {
      return pending.size;
    },
  };
}

const big = { maxBytes: 1 << 20, maxItems: 1000, flushIntervalMs: 1000, passThroughBytes: 1 << 30 };

t.test('a batch is the concatenation of its items and decodes to the merged request', async (t) => {
  const out: ExportBatch[] = [];
  const b = createBatcher(big, (x) => out.push(x), manualTimers());
  const items = [item('traces', 'acme', 'a', ['s1', 's2']), item('traces', 'acme', 'b', ['s3']), item('traces', 'acme', 'a', ['s4'])];
  for (const i of items) b.add(i);
  t.equal(out.length, 0, 'nothing flushed below the limits');
  t.equal(b.pendingBytes, items.reduce((n, i) => n + i.body.length, 0));
  b.flushAll();
  t.equal(out.length, 1);
  const batch = out[0]!;
  t.same(Buffer.from(batch.body), Buffer.concat(items.map((i) => i.body)));
  t.equal(batch.items, 4);
  t.same(decodeTraces(batch.body), [
    { service: 'a', names: ['s1', 's2'] },
    { service: 'b', names: ['s3'] },
    { service: 'a', names: ['s4'] },
  ]);
  t.equal(b.pendingBytes, 0);
  t.equal(b.pendingBatches, 0);
});

t.test('tenants and signals are never mixed', async (t) => {
  const out: ExportBatch[] = [];
  const b = createBatcher(big, (x) => out.push(x), manualTimers());
  b.add(item('traces', 'acme', 'a', ['t-acme-1']));
  b.add(item('traces', 'globex', 'g', ['t-globex-1']));
  b.add(item('logs', 'acme', 'a', ['l-acme-1']));
  b.add(item('traces', 'acme', 'a', ['t-acme-2']));
  b.add(item('logs', 'globex', 'g', ['l-globex-1']));
  t.equal(b.pendingBatches, 4);
  b.flushAll();
  t.equal(out.length, 4);
  const key = (x: ExportBatch) => `${x.signal}/${x.tenant}`;
  t.same(out.map(key).sort(), ['logs/acme', 'logs/globex', 'traces/acme', 'traces/globex']);
  for (const x of out) {
    const decoded = x.signal === 'logs' ? decodeLogs(x.body) : decodeTraces(x.body);
    const names = decoded.flatMap((r) => r.names);
    const prefix = `${x.signal === 'logs' ? 'l' : 't'}-${x.tenant}-`;
    t.ok(names.length > 0 && names.every((n) => n.startsWith(prefix)), `${key(x)} holds only its own items: ${names}`);
  }
  t.same(decodeTraces(out.find((x) => key(x) === 'traces/acme')!.body).flatMap((r) => r.names), ['t-acme-1', 't-acme-2']);
});

t.test('maxItems: flushed before the limit would be exceeded, and when reached', async (t) => {
  const out: ExportBatch[] = [];
  const b = createBatcher({ ...big, maxItems: 5 }, (x) => out.push(x), manualTimers());
  b.add(item('traces', 'x', 's', ['1', '2']));
  b.add(item('traces', 'x', 's', ['3', '4']));
  t.equal(out.length, 0);
  b.add(item('traces', 'x', 's', ['5', '6'])); // 6 > 5: the first two go out, this one starts a new batch
  t.same(out.map((x) => x.items), [4]);
  b.add(item('traces', 'x', 's', ['7', '8', '9'])); // reaches exactly 5: out at once
  t.same(out.map((x) => x.items), [4, 5]);
  t.same(decodeTraces(out[1]!.body).flatMap((r) => r.names), ['5', '6', '7', '8', '9']);
  t.equal(b.pendingBatches, 0);
});

t.test('maxBytes: never exceeded by a batch of several items; an oversized item travels alone', async (t) => {
  const out: ExportBatch[] = [];
  const one = item('traces', 'x', 's', ['a']);
  const size = one.body.length;
  const b = createBatcher({ ...big, maxBytes: size * 2 + 1 }, (x) => out.push(x), manualTimers());
  b.add(one);
  b.add(item('traces', 'x', 's', ['b']));
  t.equal(out.length, 0, 'two items fit');
  b.add(item('traces', 'x', 's', ['c']));
  t.equal(out.length, 1, 'the third would exceed maxBytes: the first two are flushed');
  t.equal(out[0]!.body.length, size * 2);
  const huge = item('traces', 'x', 's', ['d'.repeat(size * 3)]);
  b.add(huge);
  t.equal(out.length, 3, 'the pending item goes first, then the oversized one alone');
  t.same(decodeTraces(out[1]!.body).flatMap((r) => r.names), ['c']);
  t.equal(out[2]!.body, huge.body, 'the oversized item is its own batch, not copied');
  t.equal(b.pendingBytes, 0);
  for (const x of out.slice(0, 2)) t.ok(x.body.length <= size * 2 + 1);
});

t.test('interval flush: flushIntervalMs after the first item of a batch', async (t) => {
  const timers = manualTimers();
  const out: ExportBatch[] = [];
  const b = createBatcher(big, (x) => out.push(x), timers);
  b.add(item('traces', 'a', 's', ['1']));
  b.add(item('traces', 'a', 's', ['2']));
  b.add(item('logs', 'a', 's', ['3']));
  t.equal(timers.active, 2, 'one timer per pending batch, started by its first item');
  timers.fire();
  t.equal(out.length, 2);
  t.equal(timers.active, 0);
  b.add(item('traces', 'a', 's', ['4']));
  t.equal(timers.active, 1, 'a new batch starts a new timer');
  b.flushAll();
  t.equal(timers.active, 0, 'flushing cancels the timer');
  t.equal(out.length, 3);
});

t.test('interval flush with real timers', async (t) => {
  const out: ExportBatch[] = [];
  const b = createBatcher({ ...big, flushIntervalMs: 50 }, (x) => out.push(x));
  const started = Date.now();
  b.add(item('traces', 'a', 's', ['1']));
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (out.length > 0 || Date.now() - started > 2000) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });
  const waited = Date.now() - started;
  t.equal(out.length, 1);
  t.ok(waited >= 45 && waited < 1000, `flushed after ~50 ms (took ${waited} ms)`);
  b.close();
});

t.test('a request at least passThroughBytes large is forwarded as it is, after what was pending', async (t) => {
  const out: ExportBatch[] = [];
  const small = item('traces', 'acme', 'a', ['s1']);
  const large = item('traces', 'acme', 'b', Array.from({ length: 40 }, (_, i) => `span-${i}`));
  const b = createBatcher({ ...big, passThroughBytes: large.body.length }, (x) => out.push(x), manualTimers());
  b.add(small);
  t.equal(out.length, 0, 'a small request waits for its batch');
  b.add(large);
  t.equal(out.length, 2, 'the pending batch and the large request both went out');
  t.same(Buffer.from(out[0]!.body), Buffer.from(small.body), 'pending batch first (arrival order)');
  t.equal(out[1]!.body, large.body, 'the large request is the very same buffer: no copy');
  t.equal(b.pendingBytes, 0);
});
