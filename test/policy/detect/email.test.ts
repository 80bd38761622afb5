import t from 'tap';
import { findEmails } from '../../../src/policy/detect/email.js';
import { findSecrets, mayContainSecret, secretTriggers, Trigger } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findEmails(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};
const passes = (value: string): boolean => {
  const b = Buffer.from(value, 'utf8');
  return mayContainSecret(b, 0, b.length);
};

t.test('addresses at example domains, any case, with dots, dashes, underscores, digits and +tags', async (t) => {
  const cases: [string, string][] = [
    ['aria-silva@example.com', 'aria-silva@example.com'],
    ['Sending receipt to lucas.smith@example.net', 'lucas.smith@example.net'],
    ['actor=rupert_kowalski19@example.net', 'rupert_kowalski19@example.net'],
    ["SELECT id FROM users WHERE email = 'kenji1979@example.net'", 'kenji1979@example.net'],
    ['Key (email)=(emma-kowalski@example.net) already exists.', 'emma-kowalski@example.net'],
    ['Mixed.Case+Shop.Tag@Mail.Example.ORG is here', 'Mixed.Case+Shop.Tag@Mail.Example.ORG'],
    ['ops@eu.billing.example.com.', 'ops@eu.billing.example.com'],
    ['reply to ana@host.example, please', 'ana@host.example'],
    ['mailto:x_y-1@sub.example.org?subject=hi', 'x_y-1@sub.example.org'],
    ['email: "smoreau@example.com", phone', 'smoreau@example.com'],
  ];
  for (const [value, expected] of cases) {
    t.same(texts(value), [expected], value);
    t.ok(passes(value), `prefilter passes ${value}`);
    t.same(findSecrets(value).map((f) => f.category), ['email'], value);
  }
  t.same(texts('a@example.com, b@example.org'), ['a@example.com', 'b@example.org'], 'two in one string');
});

t.test('an @ without a mail domain is not an address', async (t) => {
  for (const value of [
    '@opentelemetry/sdk-node@0.48.12',
    'Resolved @grpc/grpc-js@1.8.8 and @aws-sdk/client-s3@3.151.4',
    'checkout-api@sha256:316bc0017d5572e656301e061fc05bde8692a34def054f4cc10101a76f2b65bb',
    'user@host',
    'root@localhost',
    'a @ example.com',
    '@example.com',
    'x@example.c',
    'x@.example.com',
    'x@example.123',
  ]) {
    t.same(texts(value), [], value);
  }
});

t.test('a percent-encoded at sign (%40) is an at sign: addresses in URLs', async (t) => {
  const cases: [string, string[]][] = [
    ['https://shop.example.com/account?user=mallory%40example.com&page=2', ['mallory%40example.com']],
    ['/users/Alice.B%2Btag%40Mail.Example.ORG/orders', ['Alice.B%2Btag%40Mail.Example.ORG']],
    ['a%40example.com and b@example.org, c%40example.net', ['a%40example.com', 'b@example.org', 'c%40example.net']],
  ];
  for (const [value, expected] of cases) {
    t.same(texts(value), expected, value);
    t.ok(passes(value), `prefilter passes ${value}`);
    const b = Buffer.from(value);
    t.ok((secretTriggers(b, 0, b.length) & Trigger.AT) !== 0, `the e-mail trigger fires on ${value}`);
  }
  for (const value of ['100%40 of them', 'progress=%40', '%40scope/pkg%401.2.3', 'q=50%25%40x']) t.same(texts(value), [], `no address in ${value}`);
});
