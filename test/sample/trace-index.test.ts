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
