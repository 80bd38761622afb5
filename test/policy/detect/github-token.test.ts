import t from 'tap';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32, findGithubTokens, githubChecksumValid } from '../../../src/policy/detect/github-token.js';
import { mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const texts = (value: string): string[] => {
  const out: Finding[] = [];
  findGithubTokens(value, out);
  return out.map((f) => value.slice(f.start, f.end));
};

// An independent issuer: 30 random base62 characters + base62(CRC32) as GitHub computes it.
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function issue(prefix: string, seed: number): string {
  let body = '';
  let x = seed;
  for (let i = 0; i < 30; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    body += ALPHABET[(x >>> 8) % 62];
  }
  let n = zlibCrc32(body);
  let cs = '';
  for (let i = 0; i < 6; i++) {
    cs = ALPHABET[n % 62] + cs;
    n = Math.floor(n / 62);
  }
  return `${prefix}${body}${cs}`;
}

t.test('CRC32 matches zlib', async (t) => {
  for (const s of ['', 'a', 'The quick brown fox', 'uM75cxqf9fX5mgjgQIimV15PMQDfsO']) t.equal(crc32(s), zlibCrc32(s), s);
});

t.test('classic tokens of every prefix with a valid checksum', async (t) => {
  const tokens = ['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', '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'];
  ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'].forEach((p, i) => tokens.push(issue(p, 1000 + i)));
  for (const token of tokens) {
    t.ok(githubChecksumValid(token.slice(4)), `checksum of ${token}`);
    for (const value of [token, `Authorization: token ${token}`, `GitHub API: Bad credentials for ${token}`, `GH_TOKEN=${token}\n`, `"${token}"`]) {
      t.same(texts(value), [token], value);
      const b = Buffer.from(value);
      t.ok(mayContainSecret(b, 0, b.length), 'prefilter passes');
    }
  }
});

t.test('fine-grained personal access tokens', async (t) => {
  const token = `github_pat_11ABCDEFG0aBcDeFgHiJkL_${'a1B2c3D4e5'.repeat(5)}F6g7H8i9J`;
  t.equal(token.length, 11 + 22 + 1 + 59, 'the documented length');
  t.same(texts(`export GITHUB_TOKEN=${token}`), [token]);
  const b = Buffer.from(token);
  t.ok(mayContainSecret(b, 0, b.length));
});

t.test('look-alikes without a valid checksum or shape', async (t) => {
  const good = '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';
  for (const value of [
    good.slice(0, -1) + (good.endsWith('1') ? '2' : '1'), // checksum off by one character
    good.slice(0, 10) + 'X' + good.slice(11), // body changed
    good.slice(0, -1), // too short
    good + 'a', // too long
    'ghx_qJxqRtipbXC60bEm6vaHEop0STU22v3lhFl1', // unknown prefix
    'github_pat_short_token',
  ]) {
    t.same(texts(value), [], value);
  }
});
