import t from 'tap';
import { CATEGORIES, DETECTORS, findSecrets, redactValue } from '../../../src/policy/detect/index.js';

t.test('categories are the PII corpus categories, one detector family each', async (t) => {
  t.same([...CATEGORIES].sort(), [
    'aws_access_key_id',
    'aws_secret_key',
    'bearer_token',
    'credit_card',
    'email',
    'github_token',
    'iban',
    'ipv4',
    'ipv6',
    'jwt',
    'password_by_key',
    'phone',
    'private_key',
    'slack_token',
    'url_query_secret',
    'us_ssn',
  ]);
  t.equal(DETECTORS.length, 16);
});

t.test('findings are sorted, non-overlapping, and in UTF-16 offsets', async (t) => {
  const value = 'Rückruf für Kundin „Zoë“ <zoe@example.com>, Tel. +44 20 7946 0123, Karte 4000 0000 0000 0119 — danke';
  const f = findSecrets(value);
  t.same(f.map((x) => [x.category, value.slice(x.start, x.end)]), [
    ['email', 'zoe@example.com'],
    ['phone', '+44 20 7946 0123'],
    ['credit_card', '4000 0000 0000 0119'],
  ]);
  for (let i = 1; i < f.length; i++) t.ok(f[i - 1]!.end <= f[i]!.start, 'no overlap');
});

t.test('overlapping findings merge into one, named after the one that starts first (ties: most specific)', async (t) => {
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz';
  const header = `Authorization: Bearer ${jwt}`;
  t.same(findSecrets(header).map((x) => [x.category, header.slice(x.start, x.end)]), [['jwt', jwt]], 'jwt beats bearer_token and the header rule');
  const xff = 'for=[::ffff:198.51.100.7]:443';
  t.same(findSecrets(xff).map((x) => x.category), ['ipv6'], 'the mapped IPv4 is part of the IPv6 finding');
  const sql = "UPDATE customers SET phone = '+14155550108' WHERE email = 'liam.obrien@example.org'";
  t.same(findSecrets(sql).map((x) => x.category), ['phone', 'email'], 'several secrets in one string');
});

t.test('redactValue replaces each finding and counts them', async (t) => {
  const value = 'user ava-garcia@example.net signed in from 192.0.2.212 using totp';
  const seen: string[] = [];
  const r = redactValue(value, undefined, (f, text) => {
    seen.push(`${f.category}:${text}`);
    return `<${f.category}>`;
  });
  t.equal(r.value, 'user <email> signed in from <ipv4> using totp');
  t.equal(r.count, 2);
  t.same(seen, ['email:ava-garcia@example.net', 'ipv4:192.0.2.212']);
  const same = redactValue('checkout', undefined, () => 'x');
  t.same(same, { value: 'checkout', count: 0 }, 'nothing found: the value comes back as is');
  t.same(redactValue('hunter2', 'db.password', () => '***'), { value: '***', count: 1 }, 'whole value under a sensitive key');
  const keep = redactValue('ok 4000 0000 0000 0119', undefined, (_f, text) => text.slice(0, 2) + '…' + text.slice(-4));
  t.equal(keep.value, 'ok 40…0119', 'the replacement sees the text (for prefix/suffix masks and hashes)');
});
