import t from 'tap';
import { createTraceIndex, keepOf } from '../../src/sample/trace-index.js';

/** The decision remembered for (tenant, id): true/false, 'slot' while buffered, undefined if unknown. */
function decision(ix: ReturnType<typeof createTraceIndex>, tenant: string, id: string): boolean | 'slot' | undefined {
  const v = ix.get(tenant, id);
  return v === undefined ? undefined : v >= 0 ? 'slot' : keepOf(v);
}

t.test('a trace id maps to its slot, then to its decision; tenants never share an entry', async (t) => {
  const ix = createTraceIndex(10);
  t.equal(ix.get('a', 'x'), undefined);
  ix.setSlot('a', 'x', 0);
  ix.setSlot('a', 'y', 7);
  t.equal(ix.get('a', 'x'), 0);
  t.equal(ix.get('a', 'y'), 7);
  t.equal(ix.get('b', 'x'), undefined, 'the same id under another tenant is unknown');
  t.same(ix.slots('a').sort(), [0, 7]);
  t.same(ix.slots('b'), []);
  ix.setSlot('b', 'x', 3);
  t.same(ix.slots(undefined).sort(), [0, 3, 7]);
  ix.decide('a', 'x', true);
  ix.decide('a', 'y', false);
  t.same([decision(ix, 'a', 'x'), decision(ix, 'a', 'y'), decision(ix, 'b', 'x')], [true, false, 'slot']);
  t.same(ix.slots('a'), [], 'decided traces are no longer buffered');
  t.equal(ix.decisions, 2);
  // A tenant name may hold the separator a joined key would use.
  ix.decide('a\u0000x', '', true);
  t.equal(ix.get('a', '\u0000x'), undefined);
  t.equal(decision(ix, 'a\u0000x', ''), true);
});

t.test('remembers the last `capacity` decisions: first decided, first forgotten', async (t) => {
  const ix = createTraceIndex(3);
  ix.decide('a', '1', true);
  ix.decide('b', '2', false);
  ix.decide('a', '3', true);
  t.equal(decision(ix, 'a', '1'), true, 'a lookup does not refresh (order is by decision)');
  ix.decide('a', '4', false);
  t.equal(ix.get('a', '1'), undefined, 'the oldest is forgotten');
  t.equal(decision(ix, 'b', '2'), false);
  ix.decide('c', '5', true);
  t.equal(ix.get('b', '2'), undefined, 'across tenants too');
  t.same([decision(ix, 'a', '3'), decision(ix, 'a', '4'), decision(ix, 'c', '5')], [true, false, true]);
  t.equal(ix.decisions, 3);
  // Deciding a remembered id again (an incident keeps it) updates it in place, evicting nothing.
  ix.decide('a', '4', true);
  t.same([decision(ix, 'a', '3'), decision(ix, 'a', '4'), decision(ix, 'c', '5')], [true, true, true]);
  // A forgotten id buffered again is a slot; forgetting the decision that once held it leaves it alone.
  ix.setSlot('a', '1', 9);
  for (let i = 0; i < 1000; i++) ix.decide(`t${i % 7}`, String(i), i % 2 === 0);
  t.equal(ix.decisions, 3);
  t.same([decision(ix, 't3', '997'), decision(ix, 't4', '998'), decision(ix, 't5', '999')], [false, true, false]);
  t.equal(ix.get('t2', '996'), undefined);
  t.equal(ix.get('a', '1'), 9, 'still buffered');
});

t.test('capacity 0 remembers no decision', async (t) => {
  const ix = createTraceIndex(0);
  ix.setSlot('a', 'x', 1);
  ix.decide('a', 'x', true);
  t.equal(ix.get('a', 'x'), undefined);
  ix.decide('a', 'y', false);
  t.equal(ix.get('a', 'y'), undefined);
  t.equal(ix.decisions, 0);
  t.same(ix.slots(undefined), []);
});

/** A random 32-digit lower-case hex id (the worker's form), from a seeded generator. */
function hexIds(seed: number): () => string {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  return () => [next(), next(), next(), next()].map((w) => w.toString(16).padStart(8, '0')).join('');
}

t.test('agrees with a plain Map model under churn: hex and other ids, tenants, evictions, incidents', async (t) => {
  // The model: what the index must answer, written the obvious way.
  const capacity = 500;
  const model = new Map<string, { slot?: number; keep?: boolean; ring?: number }>();
  const ring: string[] = [];
  const key = (tenant: string, id: string) => `${tenant}\u0000${id}`;
  const modelDecide = (k: string, keep: boolean) => {
    const cur = model.get(k);
    if (cur && cur.slot === undefined) return void (cur.keep = keep);
    model.delete(k);
    ring.push(k);
    model.set(k, { keep });
    if (ring.length > capacity) {
      const old = ring.shift()!;
      const v = model.get(old);
      if (v && v.slot === undefined) model.delete(old);
    }
  };
  const ix = createTraceIndex(capacity);
  const id = hexIds(7);
  const tenants = ['acme', 'globex', 'initech'];
  const buffered: Array<{ tenant: string; id: string; slot: number }> = [];
  const freeSlots: number[] = [];
  let nextSlot = 0;
  const recent: Array<[string, string]> = [];
  let rnd = 12345;
  const r = (n: number) => ((rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) % n);
  let mismatches = 0;
  for (let step = 0; step < 60_000; step++) {
    const op = r(10);
    if (op < 4 || buffered.length === 0) {
      // A new trace: mostly fresh hex ids, sometimes an odd id, sometimes one seen before.
      const tenant = tenants[r(3)]!;
      const tid = r(20) === 0 ? `odd-${r(5000)}` : r(5) === 0 && recent.length > 0 ? recent[r(recent.length)]![1] : id();
      const k = key(tenant, tid);
      const got = ix.get(tenant, tid);
      const want = model.get(k);
      const wantValue = want === undefined ? undefined : want.slot !== undefined ? 'slot' : want.keep;
      const gotValue = got === undefined ? undefined : got >= 0 ? 'slot' : keepOf(got);
      if (gotValue !== wantValue) mismatches++;
      if (want === undefined && got === undefined) {
        const slot = freeSlots.pop() ?? nextSlot++;
        ix.setSlot(tenant, tid, slot);
        model.set(k, { slot });
        buffered.push({ tenant, id: tid, slot });
        recent.push([tenant, tid]);
        if (recent.length > 2000) recent.shift();
      }
    } else if (op < 8) {
      // Decide a buffered trace (the oldest, mostly, as the sampler does).
      const b = buffered.splice(r(4) === 0 ? r(buffered.length) : 0, 1)[0]!;
      const keep = r(2) === 0;
      if (r(2) === 0) ix.decideSlot(b.slot, keep);
      else ix.decide(b.tenant, b.id, keep);
      modelDecide(key(b.tenant, b.id), keep);
      freeSlots.push(b.slot);
    } else {
      // Decide an id directly (incident mode's fast path), often one decided before (in place).
      const [tenant, tid] = r(2) === 0 && recent.length > 0 ? recent[r(recent.length)]! : [tenants[r(3)]!, id()];
      if (buffered.some((b) => b.tenant === tenant && b.id === tid)) continue;
      ix.decide(tenant, tid, true);
      modelDecide(key(tenant, tid), true);
    }
  }
  t.equal(mismatches, 0, 'every lookup answered as the model did');
  // Everything the model knows, the index knows (and nothing else is buffered).
  let wrong = 0;
  for (const [k, v] of model) {
    const [tenant, tid] = k.split('\u0000') as [string, string];
    const got = ix.get(tenant, tid);
    if (v.slot !== undefined ? got !== v.slot : got === undefined || got >= 0 || keepOf(got) !== v.keep) wrong++;
  }
  t.equal(wrong, 0, 'the final state matches the model');
  t.equal(ix.decisions, capacity);
  t.same(ix.slots(undefined).sort((a, b) => a - b), buffered.map((b) => b.slot).sort((a, b) => a - b));
  t.same(ix.slots('acme').sort((a, b) => a - b), buffered.filter((b) => b.tenant === 'acme').map((b) => b.slot).sort((a, b) => a - b));
});

t.test('under churn its memory stays flat: the arrays stop growing once buffer and cache are full', async (t) => {
  // The sampler's churn: 1,000 traces buffered, each new trace deciding the oldest; 2,000 decisions kept.
  const ix = createTraceIndex(2000);
  const id = hexIds(3);
  const ids: string[] = [];
  let known = 0;
  let lastDecided = '';
  let bytesAfterWarmup = 0;
  for (let n = 0; n < 200_000; n++) {
    const slot = n % 1000;
    if (n >= 1000) {
      ix.decideSlot(slot, n % 3 === 0);
      lastDecided = ids[slot]!;
    }
    const tid = id();
    ids[slot] = tid;
    if (ix.get('acme', tid) !== undefined) known++;
    ix.setSlot('acme', tid, slot);
    if (n === 10_000) bytesAfterWarmup = ix.bytes;
  }
  t.ok(bytesAfterWarmup > 0 && bytesAfterWarmup < 200_000, `a few bytes per entry (${bytesAfterWarmup})`);
  t.equal(ix.bytes, bytesAfterWarmup, 'no growth over 190,000 more traces');
  t.equal(known, 0, 'fresh ids are unknown');
  t.equal(ix.decisions, 2000);
  t.equal(ix.get('acme', ids[5]!), 5, 'the buffered traces are still found');
  const v = ix.get('acme', lastDecided);
  t.ok(v !== undefined && v < 0 && keepOf(v) === ((200_000 - 1) % 3 === 0), 'the latest decision is remembered');
});
