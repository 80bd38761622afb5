import t from 'tap';
import { findUsSsns } from '../../../src/policy/detect/us-ssn.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findUsSsns(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};

t.test('both separators, 9xx areas included', async (t) => {
  const cases: [string, string][] = [
    ['910-39-0776', '910-39-0776'],
    ['981 10 3247', '981 10 3247'],
    ["SELECT * FROM customers WHERE ssn = '981-10-3247'", '981-10-3247'],
    ['KYC mismatch for SSN 963-22-4476', '963-22-4476'],
    ['ssn:123-45-6789;', '123-45-6789'],
    ['ITIN-like 999-49-9999', '999-49-9999'],
  ];
  for (const [value, expected] of cases) {
    t.same(texts(value), [expected], value);
    const b = Buffer.from(value);
    t.ok(mayContainSecret(b, 0, b.length), 'prefilter passes');
    t.same(findSecrets(value).map((f) => f.category), ['us_ssn'], value);
  }
});

t.test('numbers never issued or not SSN-shaped', async (t) => {
  for (const value of [
    '000-12-3456',
    '666-12-3456',
    '123-00-4567',
    '123-45-0000',
    '123-45 6789', // mixed separators
    '123456789', // bare nine digits (only an SSN under an SSN key)
    '1123-45-6789',
    '123-45-67890',
    '212-555-0130', // a phone number
    '2024-11-12',
    '1-123-45-6789',
    'a123-45-6789',
    'c2e53626-dd7c-4b7a-9192-ad0673d830ec',
  ]) {
    t.same(texts(value), [], value);
  }
  t.same(findSecrets('123456789', 'user.ssn').map((f) => f.category), ['password_by_key'], 'a bare number under an SSN key');
});

t.test('the cheap pre-check never hides a match: same findings as the bare pattern on random text', async (t) => {
  // The pattern of us-ssn.ts, run with no pre-check: the oracle.
  const SSN = /(?<![0-9A-Za-z])(?<![0-9][-. ])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})(?![0-9A-Za-z])(?![-. ][0-9])/g;
  const oracle = (value: string): string[] => {
    const out: string[] = [];
    for (const m of value.matchAll(SSN)) {
      if (m[1] === '000' || m[1] === '666' || m[3] === '00' || m[4] === '0000') continue;
      out.push(m[0]);
    }
    return out;
  };
  // Deterministic pseudo-random strings over an alphabet dense in digits and separators.
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  // Digit groups of 1-5 digits joined by separators, so that SSN shapes and near misses are common.
  const seps = ['-', ' ', '-', ' ', '-', ' ', '.', 'x', '--', ''];
  let found = 0;
  let mismatches = 0;
  for (let i = 0; i < 60000; i++) {
    let s = rnd(4) === 0 ? 'a' : '';
    const groups = 2 + rnd(4);
    for (let g = 0; g < groups; g++) {
      if (g > 0) s += seps[rnd(seps.length)];
      const digits = [3, 2, 4, 3, 2, 4, 1, 5][rnd(8)]!;
      for (let k = 0; k < digits; k++) s += String(rnd(10));
    }
    const expected = oracle(s);
    found += expected.length;
    if (JSON.stringify(texts(s)) !== JSON.stringify(expected)) mismatches++;
  }
  t.equal(mismatches, 0, 'no difference from the bare pattern');
  t.ok(found > 50, `the random strings do hold SSN-shaped numbers (${found})`);
});
