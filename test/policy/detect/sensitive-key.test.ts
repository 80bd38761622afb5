import t from 'tap';
import { findSensitiveValuesInText, isBasicCredential, isSensitiveKey, isSensitiveName } from '../../../src/policy/detect/sensitive-key.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findSensitiveValuesInText(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};

t.test('sensitive names: the listed words in any case and position', async (t) => {
  for (const key of [
    'password',
    'db.password',
    'login.Password',
    'DB_PASSWD',
    'pwd',
    'client_secret',
    'aws.secret_access_key',
    'secretAccessKey',
    'token',
    'auth.id_token',
    'SLACK_BOT_TOKEN',
    'x-auth-token',
    'api_key',
    'API-KEY',
    'x-api-key',
    'http.request.header.x-api-key',
    'apikey',
    'authorization',
    'http.request.header.authorization',
    'Proxy-Authorization',
    'cookie',
    'http.response.header.set-cookie',
    'ssn',
    'user.ssn',
    'customerSSN',
    'tls.client.private_key',
    'gpg.passphrase',
    'tokenizer.token',
  ]) {
    t.ok(isSensitiveKey(key), key);
    t.ok(isSensitiveName(key), `${key} (uncached)`);
  }
});

t.test('names that only look sensitive', async (t) => {
  for (const key of [
    'feature_flag.key',
    'messaging.kafka.message.key',
    'key',
    'cache.key',
    'gen_ai.usage.input_tokens',
    'gen_ai.usage.output_tokens',
    'max_tokens',
    'llm.usage.total_tokens',
    'usage.outputTokens',
    'code.classname',
    'trace_id',
    'http.request.header.traceparent',
    'service.version',
    'user.email',
    'authorized',
    'author',
    'session.id',
    'token_type',
    'oauth.tokenType',
    '',
  ]) {
    t.notOk(isSensitiveKey(key), key);
  }
  t.ok(isSensitiveKey('auth.tokens_issued.token'), 'a real token after a count still counts');
});

t.test('a sensitive key makes the whole value a password_by_key finding', async (t) => {
  const value = 'sid=30cced4134bf183668c431a91d; theme=light; lang=fr-FR';
  t.same(findSecrets(value, 'http.request.header.cookie'), [{ category: 'password_by_key', start: 0, end: value.length }]);
  t.same(findSecrets('WillowOrchid45!', 'password'), [{ category: 'password_by_key', start: 0, end: 15 }]);
  t.same(findSecrets('', 'password'), [], 'nothing to redact in an empty value');
  t.same(findSecrets('checkout.saved-cards-rollout', 'feature_flag.key'), [], 'feature flag keys are not sensitive');
  t.same(findSecrets('order-1addcb3f', 'messaging.kafka.message.key'), []);
});

t.test('in-text forms', async (t) => {
  const cases: [string, string[]][] = [
    ['--db-password=harpoon-meadow-9448', ['harpoon-meadow-9448']],
    ['python -m identity.server --workers 4 --api-key=bzbamx7y8d0y8sv7tfiuqn0cirkzxavu', ['bzbamx7y8d0y8sv7tfiuqn0cirkzxavu']],
    ['mysql --user root --password hunter2 --host db', ['hunter2']],
    ['Config: db.host=payments-db.internal db.user=payments_rw db.password=saffron-basil-3198 pool.size=20', ['saffron-basil-3198']],
    ['AWS_SESSION_TOKEN=FwoGZXIvYXdzEB0aDExample api_key = "k 1"', ['FwoGZXIvYXdzEB0aDExample', 'k 1']],
    ["settings {'password' => 'Zebra#42'}", ['Zebra#42']],
    ['{"user":"bob","password":"p@ss w0rd","api_key": "abc123"}', ['p@ss w0rd', 'abc123']],
    ['{\\"token\\":\\"abc\\\\\\"def\\"}', ['abc\\\\\\"def']],
    ['{"token":"abc\\"def"}', ['abc\\"def']],
    ["{'client_secret': 'xyz'}", ['xyz']],
    ['{"ssn": 123456789, "name": "x"}', ['123456789']],
    ['POST /login HTTP/1.1\r\nHost: shop.example.com\r\nAuthorization: Basic ZGVwbG95Om5pbWJ1cy1jb21ldC01Mw==\r\nAccept: */*', ['ZGVwbG95Om5pbWJ1cy1jb21ldC01Mw==']],
    ['GET / HTTP/1.1\\r\\nX-Api-Key: k3y-v4lue and more\\r\\nAccept: */*', ['k3y-v4lue and more']],
    ['Cookie: theme=dark; session=abc123; lang=en\nNext: x', ['theme=dark; session=abc123; lang=en']],
    ['Set-Cookie: __Host-session=8ORRrMdeVJByi1GtWAT9vxKgKV2QhFRT; Path=/; Secure', ['__Host-session=8ORRrMdeVJByi1GtWAT9vxKgKV2QhFRT; Path=/; Secure']],
    ['headers: {authorization: Bearer abc.def-123, accept: json}', ['abc.def-123']],
    ['retry with Basic YWRtaW46bWVhZG93LXBlYmJsZS03MA== failed', ['YWRtaW46bWVhZG93LXBlYmJsZS03MA==']],
    ['login password: hunter2 rejected', ['hunter2']],
  ];
  for (const [value, expected] of cases) {
    t.same(texts(value), expected, value);
    const b = Buffer.from(value);
    t.ok(mayContainSecret(b, 0, b.length), `prefilter passes ${value}`);
    const redacted = findSecrets(value).reduceRight((s, f) => s.slice(0, f.start) + '*' + s.slice(f.end), value);
    for (const e of expected) t.notOk(redacted.includes(e), `${e} is redacted by findSecrets`);
  }
});

t.test('in-text look-alikes', async (t) => {
  for (const value of [
    'max_tokens=500 input_tokens=120',
    'feature_flag.key=checkout.saved-cards-rollout',
    'password_reset=true',
    'token: null',
    'password=',
    'token validation failed: expired',
    'Password reset link sent to omar.moreau@example.net: https://shop.example.com/reset',
    'LyHKnjE7Y/l29FC0xKmcx1j8PyBjfyrDxIf7B5/nLSY=',
    '9Vax5mzL1o1ilkVVBaiUEA==',
    'Basic authentication is disabled',
    'Basic dGhpcyBpcyBub3QgYSBjcmVkZW50aWFs', // "this is not a credential": no colon
    'requestHeaders: authorization, cookie',
    'DECODER routines::unsupported',
    'a==b',
    'x != password',
  ]) {
    t.same(texts(value), [], value);
  }
  t.ok(isBasicCredential('dXNlcjpwYXNz'), 'user:pass');
  t.notOk(isBasicCredential('dGhpcyBpcyBub3QgYSBjcmVkZW50aWFs'));
});
