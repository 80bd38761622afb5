import t from 'tap';
import { findPaymentCards, luhnValid } from '../../../src/policy/detect/payment-card.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findPaymentCards(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};
const passes = (value: string): boolean => {
  const b = Buffer.from(value, 'utf8');
  return mayContainSecret(b, 0, b.length);
};

t.test('the Luhn check', async (t) => {
  t.ok(luhnValid('4111111111111111'));
  t.ok(luhnValid('378282246310005'));
  t.ok(luhnValid('4000 0000 0000 0119'), 'separators are skipped');
  t.notOk(luhnValid('4111111111111112'));
  t.notOk(luhnValid('4450012626066843'), 'an order id from the negatives');
  t.notOk(luhnValid(''), 'no digits');
});

t.test('every network and grouping of the description', async (t) => {
  const cards = [
    '4000000000000077', // Visa, unseparated
    '4000 0000 0000 0119', // Visa 4-4-4-4 spaces
    '4000-0038-0000-0446', // dashes
    '4012 0000-3333 0026', // mixed
    '5555 5555 5555 4444', // Mastercard 55
    '5105105105105100', // Mastercard 51
    '2222 4000 7000 0005', // Mastercard 2-series
    '2223003122003222',
    '378282246310005', // Amex 37, unseparated
    '3782 822463 10005', // Amex 4-6-5 spaces
    '3714-496353 98431', // Amex 4-6-5, mixed separators
    '340000000000009', // Amex 34
    '6011111111111117', // Discover 6011
    '6011-9811-1111-1113',
    '6500-0000-0000-0002', // Discover 65
    '6445 6445 6445 6445', // Discover 644
    '3530111333300000', // JCB: any Luhn-valid PAN counts
  ];
  for (const card of cards) {
    t.ok(luhnValid(card), `test data is Luhn-valid: ${card}`);
    for (const value of [card, `card ${card} declined`, `pan='${card}'`, `(${card})`, `Karte ${card} für Zoë`]) {
      t.same(texts(value), [card], value);
      t.ok(passes(value), `prefilter passes ${value}`);
    }
    t.same(findSecrets(`charge ${card} now`).map((f) => f.category), ['credit_card'], card);
  }
  t.same(texts('4000 0000 0000 0119 12/29'), ['4000 0000 0000 0119'], 'followed by an expiry');
  t.same(texts('cards 4000000000000077, 5105105105105100'), ['4000000000000077', '5105105105105100'], 'two cards');
});

t.test('numbers that are not cards', async (t) => {
  for (const value of [
    '4450012626066843', // order id: fails Luhn
    '6198762930666024',
    '4000 0000 0000 0118', // grouped, fails Luhn
    '1731399580000000009', // epoch-like nanoseconds, starts with 1 (Luhn-valid)
    '1731399580124', // epoch milliseconds (Luhn-valid)
    '0000000000000000', // starts with 0
    '4111 111 111 111 111', // 4-3-3-3-3 is not a card grouping
    '41111111111111111111111', // 23 digits
    'a4111111111111111', // glued to a word
    '4111111111111111b',
    'id 5421d99be527531417638d7f5781fc05',
    '00-5421d99be527531417638d7f5781fc05-1bbe234ad6783fc4-01',
    '4  1111 1111 1111 1111', // double space breaks the run: 1-4-4-4-4
    '12:00 4111',
  ]) {
    t.same(texts(value), [], value);
  }
  t.ok(luhnValid('1731399580000000009') && luhnValid('1731399580124'), 'the epoch-like numbers really are Luhn-valid');
});
