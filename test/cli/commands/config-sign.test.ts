// `config sign` and `config verify` as an operator runs them: a signed file verifies (exit 0); an edit
// is named as tampered (exit 1); a directory's extra file is named as unsigned; a public key given as
// the signing key is refused.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../../src/paths.js';
import { generateSigningKeyPair } from '../../../src/tee/sign.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'stella-config-sign-'));
const key = generateSigningKeyPair();
writeFileSync(join(dir, 'key.pem'), key.privateKeyPem, { mode: 0o600 });
writeFileSync(join(dir, 'key.pub.pem'), key.publicKeyPem);

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, 'telemetry', 'config', ...args], { encoding: 'utf8', timeout: 20_000, cwd: dir });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('a file: sign, verify, tamper', async (t) => {
  writeFileSync(join(dir, 'stella.yaml'), 'shutdownTimeout: 20s\n');
  const s = run(['sign', 'stella.yaml', '--key', 'key.pem']);
  t.equal(s.code, 0, s.err);
  t.ok(existsSync(join(dir, 'stella.yaml.sigstore.json')));
  const v = run(['verify', 'stella.yaml', '--key', 'key.pub.pem']);
  t.equal(v.code, 0, v.err);
  t.match(v.out, /^OK: stella\.yaml signed by key [0-9a-f]{64}$/m);
  writeFileSync(join(dir, 'stella.yaml'), 'shutdownTimeout: 1s\n');
  const bad = run(['verify', 'stella.yaml', '--key', 'key.pub.pem']);
  t.equal(bad.code, 1);
  t.match(bad.err, /^FAILED tampered: stella\.yaml: tampered: its sha256 is [0-9a-f]{64}/m);
  const wrongKey = run(['sign', 'stella.yaml', '--key', 'key.pub.pem']);
  t.equal(wrongKey.code, 1);
  t.match(wrongKey.err, /cannot use private key key\.pub\.pem/);
});

t.test('a directory: one signed manifest; an extra file is named', async (t) => {
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'redaction.yaml'), 'version: 1\n');
  t.equal(run(['sign', 'policies', '--key', 'key.pem']).code, 0);
  t.equal(run(['verify', 'policies', '--key', 'key.pub.pem']).code, 0);
  writeFileSync(join(dir, 'policies', 'extra.yaml'), 'version: 1\n');
  const r = run(['verify', 'policies', '--key', 'key.pub.pem']);
  t.equal(r.code, 1);
  t.match(r.err, /FAILED unsigned: policies\/extra\.yaml: unsigned: not listed in the signed manifest/);
  t.match(r.err, /INVALID: policies/);
});
