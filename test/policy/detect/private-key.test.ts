import t from 'tap';
import { findPrivateKeys } from '../../../src/policy/detect/private-key.js';
import { findSecrets, mayContainSecret } from '../../../src/policy/detect/index.js';
import type { Finding } from '../../../src/policy/detect/index.js';

const find = (value: string): Finding[] => {
  const out: Finding[] = [];
  findPrivateKeys(value, out);
  return out;
};

const LINES = [
  'MIIEowIBAAKCAQEAVjKsnqnwf6BiQ+nHDdGIq2VFw5cnvX6J5f3gDwKCMFDZlbwO',
  'R5njBdzR0Qw/1onh+pXUGje3AYY0wrxmD62KWOMqIPi6KSeMND7Y7YiFcftz/muV',
  'il0PyKZWZ/LoCAP3QfkM8PjjDg==',
];

function block(label: string, sep: string, lines = LINES): string {
  return [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`].join(sep);
}

t.test('every label and line separator: each body line is covered, the armour is not', async (t) => {
  for (const label of ['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'DSA PRIVATE KEY', 'PGP PRIVATE KEY BLOCK']) {
    for (const sep of ['\n', '\r\n', '\\n', '\\r\\n', ' ']) {
      for (const value of [block(label, sep), `TLS key loaded from /etc/tls/key.pem:${sep}${block(label, sep)}`, `KEY="${block(label, sep)}" rest`]) {
        const f = find(value);
        t.equal(f.length, 1, `${label} ${JSON.stringify(sep)}`);
        const text = value.slice(f[0]!.start, f[0]!.end);
        t.ok(text.startsWith(LINES[0]!) && text.endsWith(LINES[2]!), 'the body from the first to the last line');
        t.notOk(text.includes('-----'), 'no armour line');
        const b = Buffer.from(value);
        t.ok(mayContainSecret(b, 0, b.length), 'prefilter passes');
        const redacted = value.slice(0, f[0]!.start) + '***' + value.slice(f[0]!.end);
        for (const line of LINES) t.notOk(redacted.includes(line), 'no body line survives');
        t.ok(redacted.includes(`-----BEGIN ${label}-----`) && redacted.includes(`-----END ${label}-----`), 'the armour survives');
      }
    }
  }
});

t.test('legacy encrypted PEM headers and a block cut off before END', async (t) => {
  const legacy = ['-----BEGIN RSA PRIVATE KEY-----', 'Proc-Type: 4,ENCRYPTED', 'DEK-Info: AES-128-CBC,3F17F5316E2BAC89', '', ...LINES, '-----END RSA PRIVATE KEY-----'].join('\n');
  const [f] = find(legacy);
  t.ok(f && legacy.slice(f.start, f.end).includes(LINES[1]!), 'the legacy body is covered');
  const cut = `error loading -----BEGIN PRIVATE KEY-----\\n${LINES[0]}\\n${LINES[1]}`;
  const [g] = find(cut);
  t.equal(g && cut.slice(g.start, g.end), `${LINES[0]}\\n${LINES[1]}`, 'a truncated block loses its body too');
});

t.test('two blocks in one string', async (t) => {
  const value = `${block('PRIVATE KEY', '\n')}\n${block('EC PRIVATE KEY', '\n', ['MHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49'])}`;
  t.equal(find(value).length, 2);
  t.equal(findSecrets(value).filter((f) => f.category === 'private_key').length, 2);
});

t.test('public material and other PEM blocks are not private keys', async (t) => {
  for (const label of ['CERTIFICATE', 'PUBLIC KEY', 'RSA PUBLIC KEY', 'CERTIFICATE REQUEST', 'OPENSSH PRIVATE KEY FILE']) {
    t.same(find(block(label, '\n')), [], label);
  }
  t.same(find('-----BEGIN PRIVATE KEY-----'), [], 'armour alone');
  t.same(find('--------------------'), [], 'a ruler');
});
