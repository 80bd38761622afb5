// Custom patterns cannot hang a worker: the classic catastrophic-backtracking shapes are rejected with
// a reason, ordinary patterns load, and the patterns that load stay fast on hostile input.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { packageRoot } from '../../src/paths.js';
import { checkPattern, MAX_PATTERN_LENGTH } from '../../src/policy/safe-regex.js';

const fixture = parse(readFileSync(join(packageRoot, 'test/fixtures/policies/custom-patterns.yaml'), 'utf8')) as {
  unsafe: Record<string, string>;
  safe: string[];
};

t.test('unsafe patterns are rejected with the rule they break', async (t) => {
  t.ok(Object.keys(fixture.unsafe).length >= 20);
  for (const [pattern, reason] of Object.entries(fixture.unsafe)) {
    const r = checkPattern(pattern);
    t.equal(r.ok, false, `rejected: ${pattern}`);
    if (!r.ok) t.ok(r.reason.includes(reason), `${pattern}: reason contains ${JSON.stringify(reason)}; got ${JSON.stringify(r.reason)}`);
  }
});

t.test('the rejected shapes really are catastrophic (why the rule exists)', async (t) => {
  // 2^22 paths: hundreds of milliseconds here, from a 6-character pattern and 23 characters of input.
  const t0 = performance.now();
  /(a+)+$/.test(`${'a'.repeat(22)}!`);
  t.ok(performance.now() - t0 > 20, 'exponential backtracking is measurable at 22 characters');
});

t.test('safe patterns load and match hostile input quickly', async (t) => {
  const hostile = ['a'.repeat(20_000), '1'.repeat(20_000), '-'.repeat(20_000), 'ab'.repeat(10_000), '1.'.repeat(10_000), 'x'.repeat(20_000) + '!'];
  for (const pattern of fixture.safe) {
    t.same(checkPattern(pattern), { ok: true }, pattern);
    const re = new RegExp(pattern, 'g');
    const t0 = performance.now();
    for (const s of hostile) s.replace(re, '*');
    t.ok(performance.now() - t0 < 2000, `${pattern} stays fast on 20 KB of hostile input`);
  }
});

t.test('length bound and flags', async (t) => {
  t.same(checkPattern('a'.repeat(MAX_PATTERN_LENGTH)), { ok: true });
  const long = checkPattern('a'.repeat(MAX_PATTERN_LENGTH + 1));
  t.equal(long.ok, false);
  if (!long.ok) t.match(long.reason, `limited to ${MAX_PATTERN_LENGTH} characters`);
  t.same(checkPattern('order', 'i'), { ok: true });
  const g = checkPattern('order', 'g');
  t.equal(g.ok, false);
  if (!g.ok) t.match(g.reason, /flag "g" is not allowed/);
  // With `i`, [A-Z] and [a-z] overlap, so the alternatives compete.
  t.same(checkPattern('(A|b){1,8}'), { ok: true });
  t.equal(checkPattern('(A|a){1,8}', 'i').ok, false);
  t.same(checkPattern('(A|a){1,8}'), { ok: true });
});

t.test('escapes and classes are read correctly', async (t) => {
  t.same(checkPattern('[\\d-x]{1,9}-\\x41\\u0042\\cJ\\0'), { ok: true }, 'escapes in and out of classes');
  t.same(checkPattern('(\\d|-){1,9}'), { ok: true }, 'a digit and a dash are disjoint');
  t.equal(checkPattern('(\\d|[0-9a-f]){1,9}').ok, false, 'a digit and a hex digit overlap');
  t.equal(checkPattern('(\\D|x){1,9}').ok, false, '\\D contains x');
  t.same(checkPattern('(\\S|\\s){1,9}'), { ok: true }, '\\S and \\s are disjoint');
  t.same(checkPattern('[1-9]'), { ok: true }, '\\1 only in a class is not a backreference');
  t.same(checkPattern('[\\1]'), { ok: true });
});

t.test('generated patterns: whatever the check accepts stays fast on hostile input', async (t) => {
  // A seeded generator of small patterns with nested groups, alternations and quantifiers; each
  // accepted pattern is run over values built to make a backtracking engine retry.
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const atoms = ['a', 'b', '\\d', '\\w', '.', '[ab]', '[^b]', '\\s', '-', 'x'];
  const gen = (depth: number): string => {
    let s = '';
    for (let i = rnd(4) + 1; i > 0; i--) {
      let a = depth < 2 && rnd(3) === 0 ? `(${gen(depth + 1)}${rnd(2) ? `|${gen(depth + 1)}` : ''})` : atoms[rnd(atoms.length)]!;
      const q = rnd(5);
      if (q === 1) a += `{${rnd(3)},${rnd(40) + 3}}`;
      else if (q === 2) a += `{0,${rnd(5) + 1}}`;
      else if (q === 3) a += rnd(2) ? '?' : '+';
      else if (q === 4) a += `{${rnd(4) + 1}}`;
      s += a;
    }
    return s;
  };
  const inputs = ['a'.repeat(5000), 'ab'.repeat(2500), '1'.repeat(5000), ' a'.repeat(2500), 'a-'.repeat(2500)];
  let accepted = 0;
  let rejected = 0;
  let worst = { ms: 0, pattern: '' };
  for (let i = 0; i < 4000; i++) {
    const pattern = gen(0) + (rnd(2) ? '!' : '');
    if (!checkPattern(pattern).ok) {
      rejected++;
      continue;
    }
    accepted++;
    const re = new RegExp(pattern, 'g');
    const t0 = performance.now();
    for (const s of inputs) s.replace(re, '');
    const ms = performance.now() - t0;
    if (ms > worst.ms) worst = { ms, pattern };
  }
  t.ok(accepted > 1000 && rejected > 100, `both outcomes occur (${accepted} accepted, ${rejected} rejected)`);
  // Catastrophic backtracking over 25 KB takes minutes (2^n retries); a linear pattern takes well under a
  // millisecond. The bound sits far from both, so a busy machine (a GC pause, a preempted core) cannot fail it.
  t.ok(worst.ms < 5000, `slowest accepted pattern: ${worst.pattern} in ${worst.ms.toFixed(1)} ms on 25 KB`);
});
