import t from 'tap';
import { findPhones, findPhonesReference } from '../../../src/policy/detect/phone.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findPhones(value, out);
  return [...new Set(out.map((f) => value.slice(f.start, f.end)))];
};

t.test('E.164, international print forms, NANP and UK national forms', async (t) => {
  const numbers = [
    '+14155550123',
    '+447700900123',
    '+1 415 555 0123',
    '+1 (415) 555-0123',
    '+1-415-555-0123',
    '+44 7700 900123',
    '+44 20 7946 0123',
    '+44 (0)20 7946 0123',
    '+33 1 23 45 67 89',
    '+49 30 901820',
    '(415) 555-0123',
    '(415)555-0123',
    '415-555-0123',
    '415.555.0123',
    '415 555 0123',
    '1-800-555-0199',
    '07700 900123',
    '020 7946 0123',
    '0113 496 0123',
  ];
  for (const n of numbers) {
    for (const value of [n, `OTP sent to ${n}`, `phone = '${n}' WHERE`, `contact ${n}, thanks`, `tel:${n}`, `"phone": "${n}"`]) {
      t.same(texts(value), [n], value);
      const b = Buffer.from(value);
      t.ok(mayContainSecret(b, 0, b.length), `prefilter passes ${value}`);
    }
    t.same(findSecrets(`call ${n} now`).map((f) => f.category), ['phone'], n);
  }
});

t.test('digit groups that are not phone numbers', async (t) => {
  for (const value of [
    '6198762930666024', // order id
    '4155550123', // bare digits
    '2024-11-12T03:23:27.938-08:00',
    '2024-11-12T03:33:23.908+02:00',
    '01:02:03.456',
    '69471.4ms',
    '503 Service Unavailable',
    '13.60.33-rc.2+build.4353',
    '11.26.6+build.6471',
    '21.0.4+7-LTS',
    'c2e53626-dd7c-4b7a-9192-ad0673d830ec',
    '00-624fc96c0876a24f148bc1932793279f-e47394217a0457bc-01',
    '+12', // too short
    '+1234567890123456', // too long for E.164
    '123-456-7890', // NANP area code cannot start with 1
    '415-155-0123', // nor the exchange
    '198.51.100.110',
    'ip-10-38-144-120.ec2.internal',
    '910-39-0776',
    '4000 0000 0000 0119',
  ]) {
    t.same(texts(value), [], value);
  }
});

t.test('the cheap checks in front of the patterns change no finding', async (t) => {
  // Random strings dense in digits, separators, `+`, parentheses and a few letters: findPhones (with its
  // necessary-condition checks and later regex starts) against the three patterns run from offset 0.
  const alphabet = '0123456789012345678901234567890123456789 .-+()aZx';
  let seed = 4155550123;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  let found = 0;
  const differ: string[] = [];
  for (let k = 0; k < 40_000; k++) {
    let s = '';
    const len = 1 + Math.floor(rnd() * 30);
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    const want: Finding[] = [];
    const got: Finding[] = [];
    findPhonesReference(s, want);
    findPhones(s, got);
    if (want.length > 0) found++;
    if (JSON.stringify(got) !== JSON.stringify(want)) differ.push(s);
  }
  t.ok(found > 100, `${found} strings with phone numbers`);
  t.same(differ.slice(0, 5), []);
});

t.test('a percent-encoded plus sign (%2B) starts an international number, as in a URL query', async (t) => {
  for (const [value, expected] of [
    ['https://crm.example.com/lookup?phone=%2B14155550123&src=web', '%2B14155550123'],
    ['tel:%2b447700900123', '%2b447700900123'],
    ['to=%2B1 415 555 0123', '%2B1 415 555 0123'],
  ] as const) {
    t.same(texts(value), [expected], value);
    const b = Buffer.from(value);
    t.ok(mayContainSecret(b, 0, b.length), `prefilter passes ${value}`);
    const reference: Finding[] = [];
    findPhonesReference(value, reference);
    t.same(reference.map((f) => value.slice(f.start, f.end)), [expected], 'the reference patterns agree');
  }
  // The 2 of %2B is not a digit of the number: %2B + 6 digits is 7 digits, too short.
  for (const value of ['%2B123456', '100%2B2024', 'a%2B14155550123']) t.same(texts(value), [], `not a phone: ${value}`);
});
