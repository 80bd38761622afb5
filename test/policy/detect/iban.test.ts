import t from 'tap';
import { findIbans, ibanChecksumValid } from '../../../src/policy/detect/iban.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findIbans(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};

const PRINT = [
  'GB82 WEST 1234 5698 7654 32',
  'DE89 3704 0044 0532 0130 00',
  'FR14 2004 1010 0505 0001 3M02 606',
  'MT84 MALT 0110 0001 2345 MTLC AST0 01S',
  'NO93 8601 1117 947',
  'CH93 0076 2011 6238 5295 7',
  'BE68 5390 0754 7034',
];

t.test('mod-97 check digits', async (t) => {
  for (const p of PRINT) t.ok(ibanChecksumValid(p), p);
  t.ok(ibanChecksumValid('DE89370400440532013000'));
  t.notOk(ibanChecksumValid('DE88370400440532013000'), 'wrong check digits');
  t.notOk(ibanChecksumValid('DE8937040044'), 'too short');
});

t.test('electronic and print forms, alone and in text', async (t) => {
  for (const p of PRINT) {
    const electronic = p.replace(/ /g, '');
    for (const iban of [p, electronic]) {
      for (const value of [iban, `IBAN ${iban} scheduled`, `VALUES ('${iban}', 120.50)`, `GET /accounts/${iban}/balance`, `${iban}, EUR`, `${iban} EUR`]) {
        t.same(texts(value), [iban], value);
        const b = Buffer.from(value);
        t.ok(mayContainSecret(b, 0, b.length), 'prefilter passes');
      }
      t.same(findSecrets(`to ${iban}.`).map((f) => f.category), ['iban'], iban);
    }
  }
  t.same(texts('ABCD DE89 3704 0044 0532 0130 00'), ['DE89 3704 0044 0532 0130 00'], 'after an unrelated upper-case group');
});

t.test('look-alikes', async (t) => {
  for (const value of [
    'DE88 3704 0044 0532 0130 00', // check digits
    'DE89370400440532013001',
    'de89370400440532013000', // lower case
    'DE89 3704 0044 0532 0130 00000', // a group too long
    'DE89 370 400 440 532 013 000', // groups of three
    'XDE89370400440532013000',
    'AB12 CDEF',
  ]) {
    t.same(texts(value), [], value);
  }
});
