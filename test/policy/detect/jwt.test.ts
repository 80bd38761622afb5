import t from 'tap';
import { findJwts } from '../../../src/policy/detect/jwt.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findJwts(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};
const b64url = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (alg: string, sigLen: number): string =>
  `${b64url({ alg, typ: 'JWT' })}.${b64url({ sub: 'usr_1', aud: 'payments', iat: 1731399580 })}.${'x'.repeat(sigLen - 2)}-_`;

t.test('compact JWS with HS/RS/PS/ES algorithms, alone and embedded', async (t) => {
  for (const [alg, sigLen] of [['HS256', 43], ['RS256', 342], ['PS384', 512], ['ES256', 86]] as const) {
    const token = jwt(alg, sigLen);
    t.ok(token.startsWith('eyJ') && token.split('.')[1]!.startsWith('eyJ'), 'header and payload start eyJ');
    for (const value of [
      token,
      `Bearer ${token}`,
      `session=${token}; Path=/`,
      `/auth/callback/${token}/done`,
      `token validation failed: ${token} has expired`,
      `AND token = '${token}'`,
      `Authorization: Bearer%20${token}`,
    ]) {
      t.same(texts(value), [token], value.slice(0, 40));
      const b = Buffer.from(value);
      t.ok(mayContainSecret(b, 0, b.length), 'prefilter passes');
    }
    t.same(findSecrets(`Bearer ${token}`).map((f) => f.category), ['jwt'], 'a JWT after Bearer is a jwt');
  }
});

t.test('base64 JSON that is not a JWT', async (t) => {
  for (const value of [
    'eyJwYWdlIjoyNywiYWZ0ZXIiOiJvcmRfWVpqQ1ZwYW9CcCIsImRpciI6ImFzYyJ9', // cursor, no dots
    'eyJwYWdlIjo5LCJhZnRlciI6Im9yZF9Jb0w0Zkp0b0lMIiwiZGlyIjoiYXNjIn0=',
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0', // two segments only
    'eyJhbGciOiJIUzI1NiJ9.abc.def', // payload is not JSON
    'xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', // glued to a word
  ]) {
    t.same(texts(value), [], value);
  }
});
