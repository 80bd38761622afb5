// `stella telemetry certs init`: the files parse, carry the right SANs and usages, chain to the CA,
// keys match their certificates and are private; existing files are not overwritten without --force.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../../src/paths.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, 'telemetry', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function cert(dir: string, name: string): X509Certificate {
  return new X509Certificate(readFileSync(join(dir, name)));
}

t.test('writes a CA, a server certificate and one SPIFFE client certificate per tenant', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'stella-certs-')), 'out');
  const r = run(['certs', 'init', '--out', dir, '--tenant', 'acme', '--tenant', 'globex', '--days', '30', '--trust-domain', 'example.org']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, `--tls-cert ${join(dir, 'server.pem')} --tls-key ${join(dir, 'server-key.pem')} --tls-client-ca ${join(dir, 'ca.pem')}`);
  t.match(r.out, `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=${join(dir, 'client-acme.pem')}`);
  t.match(r.out, `curl --cacert ${join(dir, 'ca.pem')} --cert ${join(dir, 'client-acme.pem')} --key ${join(dir, 'client-acme-key.pem')}`);

  const ca = cert(dir, 'ca.pem');
  t.ok(ca.ca, 'the CA certificate is a CA');
  t.ok(ca.verify(ca.publicKey), 'self-signed');

  const server = cert(dir, 'server.pem');
  t.notOk(server.ca);
  t.ok(server.checkIssued(ca) && server.verify(ca.publicKey), 'server certificate signed by the CA');
  t.equal(server.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  t.ok(server.checkHost('localhost'));
  t.ok(server.checkIP('127.0.0.1'));
  t.ok(server.checkIP('::1'));
  t.same(server.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth');
  const days = (new Date(server.validTo).getTime() - Date.now()) / 86_400_000;
  t.ok(days > 29.9 && days <= 30.01, `valid for 30 days (got ${days})`);

  for (const tenant of ['acme', 'globex']) {
    const c = cert(dir, `client-${tenant}.pem`);
    t.ok(c.checkIssued(ca) && c.verify(ca.publicKey), `${tenant}: signed by the CA`);
    t.equal(c.subjectAltName, `URI:spiffe://example.org/tenant/${tenant}`);
    t.same(c.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'clientAuth');
    t.ok(c.checkPrivateKey(createPrivateKey(readFileSync(join(dir, `client-${tenant}-key.pem`)))), `${tenant}: key matches`);
  }
  t.ok(server.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'server-key.pem')))));
  t.ok(ca.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'ca-key.pem')))));
  for (const key of ['ca-key.pem', 'server-key.pem', 'client-acme-key.pem', 'client-globex-key.pem']) {
    t.equal(statSync(join(dir, key)).mode & 0o777, 0o600, `${key} is private`);
  }

  // openssl, where installed, agrees on the chain.
  const openssl = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'server.pem'), join(dir, 'client-acme.pem')], { encoding: 'utf8' });
  if (openssl.error === undefined) t.equal(openssl.status, 0, openssl.stdout + openssl.stderr);
});

t.test('run again, it keeps what exists and issues the new tenants from the same CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-certs-'));
  t.equal(run(['certs', 'init', '--out', dir, '--tenant', 'acme']).code, 0);
  const before = ['ca.pem', 'ca-key.pem', 'server.pem', 'server-key.pem', 'client-acme.pem', 'client-acme-key.pem'].map((f) => readFileSync(join(dir, f), 'utf8'));
  const again = run(['certs', 'init', '--out', dir, '--tenant', 'acme']);
  t.equal(again.code, 0, again.err);
  t.match(again.out, /Kept 6 existing file\(s\) and wrote 0 new one\(s\)/);
  const more = run(['certs', 'init', '--out', dir, '--tenant', 'acme', '--tenant', 'globex']);
  t.equal(more.code, 0, more.err);
  t.match(more.out, /Kept 6 existing file\(s\) and wrote 2 new one\(s\)/);
  const after = ['ca.pem', 'ca-key.pem', 'server.pem', 'server-key.pem', 'client-acme.pem', 'client-acme-key.pem'].map((f) => readFileSync(join(dir, f), 'utf8'));
  t.same(after, before, 'existing files unchanged');
  const globex = cert(dir, 'client-globex.pem');
  t.ok(globex.checkIssued(cert(dir, 'ca.pem')) && globex.verify(cert(dir, 'ca.pem').publicKey), 'the new tenant is issued by the existing CA');
  t.equal(globex.subjectAltName, 'URI:spiffe://stella.local/tenant/globex');
  t.equal(statSync(join(dir, 'client-globex-key.pem')).mode & 0o777, 0o600);
});

t.test('refuses leaves without their CA, and a CA key that is not the certificate\'s', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-certs-'));
  t.equal(run(['certs', 'init', '--out', dir, '--tenant', 'acme']).code, 0);
  const other = mkdtempSync(join(tmpdir(), 'stella-certs-'));
  t.equal(run(['certs', 'init', '--out', other, '--tenant', 'acme']).code, 0);
  writeFileSync(join(dir, 'ca-key.pem'), readFileSync(join(other, 'ca-key.pem')));
  const wrongKey = run(['certs', 'init', '--out', dir, '--tenant', 'globex']);
  t.equal(wrongKey.code, 1);
  t.match(wrongKey.err, `is not the key of ${join(dir, 'ca.pem')}`);
  t.notOk(existsSync(join(dir, 'client-globex.pem')), 'nothing written');
  const orphan = mkdtempSync(join(tmpdir(), 'stella-certs-'));
  for (const f of ['client-acme.pem', 'client-acme-key.pem']) writeFileSync(join(orphan, f), readFileSync(join(other, f)));
  const noCa = run(['certs', 'init', '--out', orphan, '--tenant', 'acme']);
  t.equal(noCa.code, 1);
  t.match(noCa.err, 'refusing to write a new CA');
  t.notOk(existsSync(join(orphan, 'ca.pem')));
});

t.test('refuses to overwrite without --force; --force replaces and keeps keys private', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-certs-'));
  writeFileSync(join(dir, 'server-key.pem'), 'precious', { mode: 0o644 });
  const refused = run(['certs', 'init', '--out', dir, '--tenant', 'acme']);
  t.equal(refused.code, 1);
  t.match(refused.err, `refusing to write ${join(dir, 'server.pem')}: ${join(dir, 'server-key.pem')} exists without it`);
  t.equal(readFileSync(join(dir, 'server-key.pem'), 'utf8'), 'precious');
  t.notOk(existsSync(join(dir, 'ca.pem')), 'nothing written');

  const forced = run(['certs', 'init', '--out', dir, '--tenant', 'acme', '--force']);
  t.equal(forced.code, 0, forced.err);
  t.match(readFileSync(join(dir, 'server-key.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  t.equal(statSync(join(dir, 'server-key.pem')).mode & 0o777, 0o600);
});

t.test('usage errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-certs-'));
  const cases: [string[], RegExp][] = [
    [['--tenant', 'acme'], /--out DIR is required/],
    [['--out', dir], /at least one --tenant/],
    [['--out', dir, '--tenant', 'a/b'], /--tenant: expected letters/],
    [['--out', dir, '--tenant', 'a', '--tenant', 'a'], /each tenant once/],
    [['--out', dir, '--tenant', 'a', '--days', '0'], /--days: expected a whole number/],
    [['--out', dir, '--tenant', 'a', '--trust-domain', 'Stella.Local'], /--trust-domain: expected lower-case/],
  ];
  for (const [args, message] of cases) {
    const r = run(['certs', 'init', ...args]);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.err, message);
  }
  t.notOk(existsSync(join(dir, 'ca.pem')));
});
