import t from 'tap';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';

const passes = (value: string): boolean => {
  const b = Buffer.from(value, 'utf8');
  return mayContainSecret(b, 0, b.length);
};

t.test('typical attribute values do not pass', async (t) => {
  const typical = ['GET', 'POST', '/api/v1/cart', '/api/v2/orders/{order_id}', '200', '404', 'checkout', 'checkout-api', 'production', 'eu-west-1', 'https', 'http', 'java', 'nodejs', 'opentelemetry', 'SELECT', 'payments', 'cache.miss', 'true', 'INSERT ledger_entries', 'Grüße aus Köln', 'ok', ''];
  const passed = typical.filter(passes);
  t.same(passed, [], 'none of the typical values reach a detector');
});

t.test('only the given byte range is read', async (t) => {
  const b = Buffer.from('xx a@b.example yy');
  t.ok(mayContainSecret(b, 0, b.length));
  t.notOk(mayContainSecret(b, 0, 3), '"xx " alone');
  t.notOk(mayContainSecret(b, 5, b.length), 'after the @');
  const digits = Buffer.from('12|3456|78');
  t.notOk(mayContainSecret(digits, 3, 6), 'a run cut by the range is shorter');
  t.ok(mayContainSecret(digits, 3, 7));
});

t.test('every trigger, on bytes', async (t) => {
  for (const value of ['a@b', '1234', 'x 12345', '12345-', 'eyJ', 'AKIA', 'ASIA', 'ghp_', 'gho_', 'github_pat_', 'xoxb', 'xapp', '-----', '1234', '+4', 'DE89', '1.2.3.4', '::', 'a:b:c:d:e:f:g', 'PASSWORD', 'Secret', 'tOkEn', 'api_key', 'apikey', 'Authorization', 'Cookie', 'SSN', 'sig=', 'key%3D', 'auth]', 'session_id', 'phpsessid', 'Bearer', 'basic', 'ya29', '%5F', 'credential', 'X-Amz-Signature']) {
    t.ok(passes(value), value);
  }
  for (const value of ['a1234b', '5421d99be527531417638d7f5781fc05', 'e160623d031b3961', 'x12345', '12345y', 'a.b', '123', 'ab12', '1.2.3', 'a:b:c:d:e', '----', 'key', 'sig', 'design', 'monkey', 'authorize', 'sessions', 'eyj', 'akia', 'gh', 'xo', '+a', 'éé@'.slice(0, 2)]) {
    t.notOk(passes(value), value);
  }
});

t.test('no false negative on generated strings: whenever a detector fires, the prefilter passes', async (t) => {
  // Fragments of every detector's syntax, glued at random: the prefilter must never say no when
  // findSecrets says yes.
  const parts = ['4000', ' ', '-', '0000', '0119', '@', 'example.com', 'a.b', '.', ':', '::', '1', '2001', 'db8', 'eyJ', 'hbGci', 'AKIA', 'ABCDEFGHIJKLMNOP', '=', 'password', 'token', '?', '&', 'Bearer ', 'abc123def456ghi', 'ghp_', 'xoxb-', '12345', '+44', '(415)', '555', 'DE89', '3704', 'Basic ', 'dXNlcjpwYXNz', '-----BEGIN PRIVATE KEY-----', '\\n', '"', "'", 'é', 'Z', '192', '0.2.1', 'key', 'sig', 'ssn', '%3D', '%5F', '%26', '%3F', 'github_pat_', 'xapp-1-', 'ya29.', '--', 'Cookie:', '\n', '[', ']', '(', ')', 'ASIA', 'session', 'sessid', 'auth', 'pass', 'secret_access_key', 'ffff', '7', '09', 'GB82', 'WEST'];
  let seed = 20241112;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  let fired = 0;
  let misses = 0;
  for (let i = 0; i < 40000; i++) {
    let s = '';
    const len = 1 + rnd(8);
    for (let k = 0; k < len; k++) s += parts[rnd(parts.length)];
    if (findSecrets(s).length === 0) continue;
    fired++;
    if (!passes(s) && misses++ < 5) t.fail(`prefilter says no to ${JSON.stringify(s)}`);
  }
  t.equal(misses, 0, 'no false negatives');
  t.ok(fired > 1500, `detectors fired on ${fired} generated strings`);
});
