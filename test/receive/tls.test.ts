// The TLS reloader on its own: loading and checking PEM files, reacting to changes (directory watch and
// the stat fallback), and rejecting bad versions once each while the last good one stays in use.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { issueLeaf, validityFor } from '../../src/cli/commands/certs-init.js';
import { createTlsReloader, loadTlsMaterial, tlsServerOptions } from '../../src/receive/tls.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../helpers/gateway.js';
import { eventually, fingerprintOf, loadCa, makePki, replaceFile, serverTls } from '../helpers/tls.js';

async function failures(metrics: ReturnType<typeof createMetrics>, listener: string): Promise<number> {
  return (await metrics.tlsReloadFailures.get()).values.find((v) => v.labels.listener === listener)?.value ?? 0;
}

t.test('loadTlsMaterial: good files load; each bad file is named', async (t) => {
  const pki = await makePki(['acme']);
  const ok = loadTlsMaterial(serverTls(pki));
  t.ok(ok.ok);
  if (ok.ok) {
    t.equal(ok.material.fingerprint256, fingerprintOf(pki.read(pki.server)));
    t.ok(ok.material.ca?.equals(pki.read(pki.ca)));
  }
  const options = ok.ok ? tlsServerOptions(serverTls(pki), ok.material) : {};
  t.match(options, { requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' });
  t.match(ok.ok && tlsServerOptions(serverTls(pki, { clientCaFile: undefined, requireClientCert: false }), ok.material), {
    requestCert: false,
    rejectUnauthorized: false,
  });

  const missing = loadTlsMaterial(serverTls(pki, { certFile: `${pki.dir}/nope.pem` }));
  t.same(missing, { ok: false, error: `cannot read ${pki.dir}/nope.pem: no such file` });
  const notCert = loadTlsMaterial(serverTls(pki, { certFile: pki.serverKey }));
  t.match(notCert, { ok: false, error: new RegExp(`^${pki.serverKey}: not a PEM certificate`) });
  const wrongKey = loadTlsMaterial(serverTls(pki, { keyFile: pki.clients.acme!.key }));
  t.match(wrongKey, { ok: false, error: /key values mismatch/ }, 'a key that does not match the certificate');
  const badCa = loadTlsMaterial(serverTls(pki, { clientCaFile: pki.serverKey }));
  t.match(badCa, { ok: false, error: new RegExp(`^${pki.serverKey}: not a PEM CA certificate`) });
});

t.test('start-up fails fast on bad files', async (t) => {
  const pki = await makePki(['acme']);
  const metrics = createMetrics({ defaultMetrics: false });
  t.throws(() => createTlsReloader(serverTls(pki, { keyFile: pki.clients.acme!.key }), { listener: 'http', metrics, logger: silentLogger }), {
    message: /^TLS for the http listener: .*key values mismatch/,
  });
});

t.test('a replaced certificate is picked up by the watch; a bad one is counted once and ignored', async (t) => {
  const pki = await makePki(['acme']);
  const metrics = createMetrics({ defaultMetrics: false });
  const errors: string[] = [];
  const logger = { ...silentLogger, error: (o: object) => errors.push(JSON.stringify(o)) };
  // A long poll interval: only the watch can see the change in time.
  const reloader = createTlsReloader(serverTls(pki), { listener: 'grpc', metrics, logger, debounceMs: 50, pollIntervalMs: 60_000 });
  t.teardown(() => reloader.close());
  const seen: string[] = [];
  reloader.onReload((_options, m) => seen.push(m.fingerprint256));
  t.equal(await failures(metrics, 'grpc'), 0);
  const oldFp = reloader.current().fingerprint256;

  const ca = await loadCa(pki);
  const next = await issueLeaf(ca, { commonName: 'localhost', usage: 'server', dns: ['localhost'], validity: validityFor(1) });
  // Key first, then certificate: in between the pair does not match, which must not count as a
  // failure once the debounce has let both writes land.
  replaceFile(pki.serverKey, next.keyPem);
  replaceFile(pki.server, next.certPem);
  await eventually(() => (seen.length > 0 ? true : undefined));
  t.same(seen, [fingerprintOf(next.certPem)]);
  t.equal(reloader.current().fingerprint256, fingerprintOf(next.certPem));
  t.not(reloader.current().fingerprint256, oldFp);
  t.equal(await failures(metrics, 'grpc'), 0);

  // Unchanged contents (touching the file) are not a reload.
  writeFileSync(pki.server, next.certPem);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(reloader.check(), 'unchanged');
  t.equal(seen.length, 1);

  writeFileSync(pki.server, 'garbage');
  await eventually(async () => ((await failures(metrics, 'grpc')) === 1 ? true : undefined));
  t.equal(reloader.check(), 'failed', 'still bad');
  t.equal(await failures(metrics, 'grpc'), 1, 'the same bad version is counted once');
  t.match(errors[0], /not a PEM certificate/);
  t.equal(reloader.current().fingerprint256, fingerprintOf(next.certPem), 'the last good certificate stays');
  writeFileSync(pki.server, 'other garbage');
  await eventually(async () => ((await failures(metrics, 'grpc')) === 2 ? true : undefined));
  t.pass('a different bad version is counted again');

  // Recovery.
  replaceFile(pki.server, next.certPem);
  replaceFile(pki.serverKey, next.keyPem);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(reloader.check(), 'unchanged', 'back to the good version (same contents as in use)');
  t.equal(seen.length, 1);
});

t.test('the stat fallback sees a change without the watch', async (t) => {
  const pki = await makePki(['acme']);
  const metrics = createMetrics({ defaultMetrics: false });
  // No directory watches, only the poll (as on file systems without change events).
  const reloader = createTlsReloader(serverTls(pki), { listener: 'admin', metrics, logger: silentLogger, debounceMs: 10, pollIntervalMs: 100, watch: false });
  t.teardown(() => reloader.close());
  const seen: string[] = [];
  reloader.onReload((_o, m) => seen.push(m.fingerprint256));
  const ca = await loadCa(pki);
  const next = await issueLeaf(ca, { commonName: 'localhost', usage: 'server', dns: ['localhost'], validity: validityFor(1) });
  // Rewrite in place (no rename): the poll compares size / mtime / inode.
  writeFileSync(pki.serverKey, next.keyPem);
  writeFileSync(pki.server, next.certPem);
  await eventually(() => (seen.length > 0 ? true : undefined), 3000);
  t.same(seen, [fingerprintOf(next.certPem)]);
});
