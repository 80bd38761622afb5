// TLS reloads are administrative acts: a running gateway writes `tls.reload` (fingerprints before and
// after) when a listener's certificate is replaced on disk, and `tls.reload.failed` when a replacement is
// refused (the previous certificate keeps serving), into the same hash-chained audit log.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueLeaf, validityFor } from '../../src/cli/commands/certs-init.js';
import { startTestGateway } from '../helpers/gateway.js';
import { eventually, fingerprintOf, loadCa, makePki, replaceFile, serverTls } from '../helpers/tls.js';

t.test('a replaced and a refused certificate each leave an audit line', async (t) => {
  const pki = await makePki(['acme']);
  let dataDir = '';
  const gw = await startTestGateway([], (c) => {
    dataDir = c.dataDir;
    c.receivers.grpc.enabled = false;
    c.receivers.http.tls = serverTls(pki);
  });
  t.teardown(() => gw.stop(2000));
  const lines = () =>
    readFileSync(join(dataDir, 'incidents', 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => String(l.action).startsWith('tls.'));
  const before = fingerprintOf(readFileSync(pki.server, 'utf8'));

  const next = await issueLeaf(await loadCa(pki), { commonName: 'localhost', usage: 'server', dns: ['localhost'], validity: validityFor(1) });
  replaceFile(pki.serverKey, next.keyPem);
  replaceFile(pki.server, next.certPem);
  const [reload] = await eventually(() => (lines().length > 0 ? lines() : undefined), 30_000);
  t.match(reload, { action: 'tls.reload', scope: '*', by: 'gateway', reason: null, listener: 'http', fingerprintBefore: before, fingerprintAfter: fingerprintOf(next.certPem) });

  writeFileSync(pki.server, 'garbage');
  const all = await eventually(() => (lines().length > 1 ? lines() : undefined), 30_000);
  t.match(all[1], { action: 'tls.reload.failed', listener: 'http', fingerprintBefore: fingerprintOf(next.certPem), reason: /PEM/ });
  t.notOk('fingerprintAfter' in all[1]!, 'nothing replaced the certificate in use');
});
