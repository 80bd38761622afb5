// The `tls` section of each listener and the --tls-* flags: defaults, files that must exist and be
// readable (errors name the path), requireClientCert needing a client CA, relative paths resolved.
import t from 'tap';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';
import { summarise } from '../../src/cli/commands/config-validate.js';

const dir = mkdtempSync(join(tmpdir(), 'stella-tls-config-'));
const cert = join(dir, 'server.pem');
const key = join(dir, 'server-key.pem');
const ca = join(dir, 'ca.pem');
for (const f of [cert, key, ca]) writeFileSync(f, 'PEM contents are checked when the listener starts');

t.test('defaults: TLSv1.2; mTLS when a client CA is given; each listener separately', async (t) => {
  const r = validateConfig({
    receivers: { grpc: { tls: { certFile: cert, keyFile: key, clientCaFile: ca } }, http: { tls: { certFile: cert, keyFile: key } } },
    admin: { tls: { certFile: cert, keyFile: key, minVersion: 'TLSv1.3' } },
  });
  t.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  if (!r.ok) return;
  t.same(r.config.receivers.grpc.tls, { certFile: cert, keyFile: key, clientCaFile: ca, requireClientCert: true, minVersion: 'TLSv1.2' });
  t.same(r.config.receivers.http.tls, { certFile: cert, keyFile: key, requireClientCert: false, minVersion: 'TLSv1.2' });
  t.same(r.config.admin.tls, { certFile: cert, keyFile: key, requireClientCert: false, minVersion: 'TLSv1.3' });

  const optional = validateConfig({ receivers: { http: { tls: { certFile: cert, keyFile: key, clientCaFile: ca, requireClientCert: false } } } });
  t.match(optional, { ok: true, config: { receivers: { http: { tls: { clientCaFile: ca, requireClientCert: false } } } } });
  const plain = validateConfig({});
  t.ok(plain.ok && plain.config.receivers.grpc.tls === undefined && plain.config.admin.tls === undefined, 'no TLS by default');
});

t.test('errors name the key and the file', async (t) => {
  const unreadable = join(dir, 'unreadable.pem');
  writeFileSync(unreadable, 'x');
  chmodSync(unreadable, 0o000);
  const rootCanRead = process.getuid?.() === 0;
  const r = validateConfig({
    receivers: {
      grpc: { tls: { certFile: join(dir, 'missing.pem'), keyFile: dir, requireClientCert: true } },
      http: { tls: { keyFile: key, minVersion: 'TLSv1.1', clientCaFile: unreadable, extra: 1 } },
    },
    admin: { tls: 'yes' },
  });
  t.notOk(r.ok);
  const errors = r.ok ? [] : r.errors;
  const expected = [
    `receivers.grpc.tls.certFile: cannot read "${join(dir, 'missing.pem')}": no such file`,
    `receivers.grpc.tls.keyFile: cannot read "${dir}": is a directory`,
    'receivers.grpc.tls.requireClientCert: requires clientCaFile (the CA that signs client certificates)',
    'receivers.http.tls: unknown key "extra"',
    'receivers.http.tls.certFile: required: a PEM file (the server certificate chain)',
    'receivers.http.tls.minVersion: expected one of TLSv1.2, TLSv1.3 (got "TLSv1.1") (did you mean "TLSv1.2"?)',
    'admin.tls: expected a mapping (got "yes")',
  ];
  if (!rootCanRead) expected.push(`receivers.http.tls.clientCaFile: cannot read "${unreadable}": permission denied`);
  for (const e of expected) t.ok(errors.includes(e), `${e}\n  in: ${errors.join('\n      ')}`);
  t.equal(errors.length, expected.length, errors.join('\n'));
});

t.test('--tls-cert / --tls-key / --tls-client-ca apply to both OTLP listeners', async (t) => {
  const r = loadConfig({ flags: { tlsCert: 'server.pem', tlsKey: 'server-key.pem', tlsClientCa: 'ca.pem' }, cwd: dir });
  // Relative paths are checked against the process's working directory by validate; run from `dir`.
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(() => process.chdir(cwd));
  const inDir = loadConfig({ flags: { tlsCert: 'server.pem', tlsKey: 'server-key.pem', tlsClientCa: 'ca.pem', grpc: '127.0.0.1:0' }, cwd: dir });
  t.ok(inDir.ok, inDir.ok ? '' : inDir.errors.join('\n'));
  if (inDir.ok) {
    const tls = { certFile: cert, keyFile: key, clientCaFile: ca, requireClientCert: true, minVersion: 'TLSv1.2' };
    t.same(inDir.config.receivers.grpc.tls, tls, 'absolute paths');
    t.same(inDir.config.receivers.http.tls, tls);
    t.equal(inDir.config.receivers.grpc.endpoint.port, 0, '--grpc still applies');
    t.equal(inDir.config.admin.tls, undefined, 'not the admin listener');
  }
  t.ok(r.ok || r.errors.every((e) => /cannot read/.test(e)), 'from elsewhere, only file errors');

  process.chdir(cwd);
  const noCa = loadConfig({ flags: { tlsCert: cert, tlsKey: key } });
  t.match(noCa, { ok: true, config: { receivers: { http: { tls: { requireClientCert: false } } } } });
  t.same(loadConfig({ flags: { tlsCert: cert } }), { ok: false, errors: ['--tls-key: required with --tls-cert (TLS needs a certificate and its key)'] });
  t.same(loadConfig({ flags: { tlsClientCa: ca } }), { ok: false, errors: ['--tls-cert: required with --tls-client-ca (TLS needs a certificate and its key)'] });
  const missing = loadConfig({ flags: { tlsCert: join(dir, 'nope.pem'), tlsKey: key } });
  t.same(missing, {
    ok: false,
    errors: [
      `receivers.grpc.tls.certFile: cannot read "${join(dir, 'nope.pem')}": no such file`,
      `receivers.http.tls.certFile: cannot read "${join(dir, 'nope.pem')}": no such file`,
    ],
  });
});

t.test('config validate summarises the TLS of each listener', async (t) => {
  const r = validateConfig({
    receivers: { grpc: { tls: { certFile: cert, keyFile: key, clientCaFile: ca } }, http: { tls: { certFile: cert, keyFile: key, minVersion: 'TLSv1.3' } } },
  });
  t.ok(r.ok);
  if (!r.ok) return;
  const lines = summarise(r.config);
  t.match(lines[1], `(messages up to 16MiB)  mTLS TLSv1.2+ (${cert}; client CA ${ca})`);
  t.match(lines[2], `(bodies up to 16MiB)  TLS TLSv1.3+ (${cert})`);
  t.equal(lines[3], '  admin  127.0.0.1:8888', 'plain listeners unchanged');
});
