import t from 'tap';
import { findUrlQuerySecrets, isCredentialParam } from '../../../src/policy/detect/url-query-secret.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findUrlQuerySecrets(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};

t.test('credential parameter names in any case', async (t) => {
  for (const name of ['token', 'access_token', 'ACCESS_TOKEN', 'refresh_token', 'id_token', 'password', 'Passwd', 'pwd', 'api_key', 'apiKey', 'api-key', 'client_secret', 'signature', 'sig', 'X-Amz-Signature', 'x-amz-security-token', 'X-Goog-Signature', 'X-Amz-Credential', 'key', 'auth', 'sessionid', 'jsessionid', 'user[password]', 'access%5Ftoken', 'api%2Dkey']) {
    t.ok(isCredentialParam(name), name);
  }
  for (const name of ['page', 'sort', 'format', 'channel', 'user', 'next', 'input_tokens', 'keyword', 'author', 'design', 'monkey', 'callback']) {
    t.notOk(isCredentialParam(name), name);
  }
});

t.test('the value alone, in query strings and fragments, possibly percent-encoded', async (t) => {
  const cases: [string, string][] = [
    ['https://api.example.com/v1/fx?api_key=a0lxRKT8j3wNtSQOOAdCjCEn', 'a0lxRKT8j3wNtSQOOAdCjCEn'],
    ['/api/v2/login?password=BI1DGC-G3PHGvDy9DNMQJIMO', 'BI1DGC-G3PHGvDy9DNMQJIMO'],
    ['https://hooks.example.net/notify?channel=ops&access_token=PcuC4Uj1Y20WKlVlpZ7x1lm17QMIfOAOA5DOPhw_', 'PcuC4Uj1Y20WKlVlpZ7x1lm17QMIfOAOA5DOPhw_'],
    ['token=AOoMVLRqpc9RQLmxwb0FNSDrR&page=2', 'AOoMVLRqpc9RQLmxwb0FNSDrR'],
    ['GET https://rates.example.net/v2/latest?API_KEY=7866310986e3fdb2 failed', '7866310986e3fdb2'],
    ['https://app.example.com/cb#access_token=Zq5XDlAlqUkjZRaT&token_type=bearer', 'Zq5XDlAlqUkjZRaT'],
    ['https://x.example.com/?Signature=abc%2Bdef%2F012%3D&Expires=1', 'abc%2Bdef%2F012%3D'],
    ['https://s3.example.com/o?X-Amz-Date=20241112T000000Z&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835', 'aeeed9bbccd4d02ee5c0109b86d86835'],
    ['/login?next=%2Fhome&client%5Fsecret=s3cr3t-value', 's3cr3t-value'],
    ['redirect=https%3A%2F%2Fapp.example.com%2Fcb%3Fpassword%3Dhunter2%2B%26next%3D1', 'hunter2%2B'],
    ['https://maps.example.com/api?key=AIzaSyA-example-0123456789abcdef', 'AIzaSyA-example-0123456789abcdef'],
    ['(see https://x.example.org/?token=abc123def.)', 'abc123def'],
    ['https://x.example.org/a;jsessionid=1A2B3C4D5E6F?x=1', '1A2B3C4D5E6F'],
    ['?a=1&amp;token=tok_0123456789&amp;b=2', 'tok_0123456789'],
  ];
  for (const [value, expected] of cases) {
    t.same(texts(value), [expected], value);
    const b = Buffer.from(value);
    t.ok(mayContainSecret(b, 0, b.length), `prefilter passes ${value}`);
    t.ok(findSecrets(value).some((f) => value.slice(f.start, f.end).includes(expected)), 'findSecrets covers it');
  }
  const two = 'https://x.example.com/?token=aaa111&page=2&signature=bbb222';
  t.same(texts(two), ['aaa111', 'bbb222'], 'two credentials');
});

t.test('URLs without credentials', async (t) => {
  for (const value of [
    '/api/v1/catalog/lamps?page=19&sort=rating',
    '/api/v2/catalog/shoes?page=39&sort=price_asc',
    'https://payments.internal.example.com/v1/payments/authorize',
    'https://maps.example.com/api?key=short',
    'https://x.example.com/?token=',
    'https://x.example.com/?max_tokens=100',
    'https://x.example.com/search?q=password+reset',
    'jdbc:postgresql://payments-db.internal:5432/payments',
    '--db-password=hunter2', // a CLI flag: the sensitive-name rule's job
  ]) {
    t.same(texts(value), [], value);
  }
  t.same(findSecrets('/api/v1/catalog/lamps?page=19&sort=rating'), [], 'nothing else fires either');
});
