import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createRendezvous, traceHashHex, traceHashWords } from '../../src/cluster/rendezvous.js';

const N = 50_000;
const ids = Array.from({ length: N }, () => randomBytes(16));
const hashes = ids.map((b) => traceHashWords(b.readInt32LE(0), b.readInt32LE(4), b.readInt32LE(8), b.readInt32LE(12)));

function owners(members: string[]): string[] {
  const r = createRendezvous(members);
  return hashes.map((h) => r.owner(h));
}

t.test('the hex form hashes like the word form (trace-groups.ts word layout), whatever the case', async (t) => {
  for (const b of ids.slice(0, 200)) {
    const h = traceHashWords(b.readInt32LE(0), b.readInt32LE(4), b.readInt32LE(8), b.readInt32LE(12));
    t.equal(traceHashHex(b.toString('hex')), h);
    t.equal(traceHashHex(b.toString('hex').toUpperCase()), h);
  }
});

t.test('owners are spread evenly and do not depend on the order of the list', async (t) => {
  const a = owners(['gw-0', 'gw-1', 'gw-2']);
  const b = owners(['gw-2', 'gw-0', 'gw-1', 'gw-0']);
  t.same(a, b, 'same owner for every trace');
  const counts = new Map<string, number>();
  for (const o of a) counts.set(o, (counts.get(o) ?? 0) + 1);
  t.equal(counts.size, 3);
  for (const [m, c] of counts) t.ok(Math.abs(c / N - 1 / 3) < 0.02, `${m} owns ${((100 * c) / N).toFixed(1)}% (about a third)`);
});

t.test('a member leaving moves only its own traces; a member joining takes traces only for itself', async (t) => {
  const five = ['10.0.0.1:4319', '10.0.0.2:4319', '10.0.0.3:4319', '10.0.0.4:4319', '10.0.0.5:4319'];
  const before = owners(five);
  for (const gone of five) {
    const after = owners(five.filter((m) => m !== gone));
    let moved = 0;
    let wrong = 0;
    for (let i = 0; i < N; i++) {
      if (before[i] === gone) {
        moved++;
        if (after[i] === gone) wrong++;
      } else if (after[i] !== before[i]) wrong++;
    }
    t.equal(wrong, 0, `removing ${gone}: no other trace moved`);
    t.ok(moved > N / 5 - N / 25 && moved < N / 5 + N / 25, `its ${moved} traces moved (about a fifth)`);
  }
  const six = owners([...five, '10.0.0.6:4319']);
  let joined = 0;
  let wrong = 0;
  for (let i = 0; i < N; i++) {
    if (six[i] === before[i]) continue;
    if (six[i] === '10.0.0.6:4319') joined++;
    else wrong++;
  }
  t.equal(wrong, 0, 'a trace that moved went to the newcomer');
  t.ok(Math.abs(joined / N - 1 / 6) < 0.02, `the newcomer took ${joined} traces (about a sixth)`);
});

t.test('one member owns everything; no member is an error', async (t) => {
  const r = createRendezvous(['solo']);
  t.equal(r.owner(hashes[0]!), 'solo');
  t.equal(r.ownerIndex(hashes[1]!), 0);
  t.throws(() => createRendezvous([]), /no members/);
});
