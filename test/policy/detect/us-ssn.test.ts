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
