import t from 'tap';
import { findBearerTokens } from '../../../src/policy/detect/bearer-token.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findBearerTokens(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};

t.test('the credential after Bearer in any letter case, without the scheme word', async (t) => {
  const cases: [string, string][] = [
    ['Bearer DSNsoTALmX8PEXSgtaRgWtkzXk0nYwcPt9ZWnyWk8ID', 'DSNsoTALmX8PEXSgtaRgWtkzXk0nYwcPt9ZWnyWk8ID'],
    ['Authorization: bearer 7aRobwNB6P3Z8e7nDQL7MywiJRSDeB9vN61HT9PGM', '7aRobwNB6P3Z8e7nDQL7MywiJRSDeB9vN61HT9PGM'],
    ['BEARER abc-DEF.ghi_jkl~mno+pqr/stu==', 'abc-DEF.ghi_jkl~mno+pqr/stu=='],
    ['retrying with BeArEr\tAbCdEfGh1234 after 401', 'AbCdEfGh1234'],
    ['sent Bearer ya29.a0AfH6SMBx3jZ-exampleTOKENvalue_0123456789.', 'ya29.a0AfH6SMBx3jZ-exampleTOKENvalue_0123456789'],
    ['?next=Bearer%20Zm9vYmFyYmF6cXV4MTIz&x=1', 'Zm9vYmFyYmF6cXV4MTIz'],
    ['bearer kLmNoPqRsTuVwXyZ', 'kLmNoPqRsTuVwXyZ'], // short, no digit, mixed case
    ['Bearer abcdefghijklmnopqrstuvwxyzab', 'abcdefghijklmnopqrstuvwxyzab'], // long
  ];
  for (const [value, expected] of cases) {
    t.same(texts(value), [expected], value);
    const b = Buffer.from(value);
    t.ok(mayContainSecret(b, 0, b.length), 'prefilter passes');
    t.same(findSecrets(value).map((f) => value.slice(f.start, f.end)), [expected], 'findSecrets agrees');
  }
  t.same(texts('token ya29.c.b0Aaekm1KexampleGoogleAccessToken_abcdef'), ['ya29.c.b0Aaekm1KexampleGoogleAccessToken_abcdef'], 'ya29 without Bearer');
});

t.test('prose around the word Bearer is left alone', async (t) => {
  for (const value of [
    'missing Bearer token',
    'Bearer authentication failed',
    'Bearer Authentication-Required',
    'bearer token-required-here',
    'WWW-Authenticate: Bearer realm="example"',
    'bearer',
    'Bearer ',
    'the Bearer: 12',
    'Bearerabcdefgh12345678',
  ]) {
    t.same(texts(value), [], value);
  }
});
