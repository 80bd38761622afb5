// The `cluster` section: absent = a single replica; defaults; static and DNS peers (this replica's
// own entry skipped, bare host:port accepted); relative certificate paths resolved by the loader.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CLUSTER } from '../../../src/config/sections/cluster.js';
import { loadConfig } from '../../../src/config/load.js';
import { validateConfig } from '../../../src/config/validate.js';

const tls = { certFile: 'package.json', keyFile: 'package.json', caFile: 'package.json', peerNames: ['spiffe://stella.local/peer/*', '*.stella-gateway-peers.stella.svc.cluster.local'] };

t.test('no section: a single replica', async (t) => {
  const r = validateConfig({});
  t.ok(r.ok);
  if (r.ok) t.equal(r.config.cluster, undefined);
});

t.test('defaults, a static list with this replica in it, and DNS peers', async (t) => {
  const r = validateConfig({ cluster: { self: 'gw-1', peers: [{ id: 'gw-0', endpoint: '10.0.0.1:4319' }, { id: 'gw-1', endpoint: '10.0.0.2:4319' }, '10.0.0.3:4319'], tls } });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const c = r.config.cluster!;
  t.same(c.listen, { host: '0.0.0.0', port: 4319 });
  t.equal(c.probeIntervalMs, DEFAULT_CLUSTER.probeIntervalMs);
  t.equal(c.probeIntervalMs, 2000);
  t.equal(c.probeMisses, 2);
  t.same(c.peers, { kind: 'static', peers: [{ id: 'gw-0', endpoint: '10.0.0.1:4319' }, { endpoint: '10.0.0.3:4319' }] }, 'own entry skipped');
  t.same(c.tls.peerNames, tls.peerNames);

  const d = validateConfig({ cluster: { self: 'gw-0', listen: '127.0.0.1:5000', peers: 'dns:stella-gateway-peers.stella.svc:4319', probeInterval: '500ms', tls } });
  if (!d.ok) throw new Error(d.errors.join('\n'));
  t.same(d.config.cluster!.peers, { kind: 'dns', name: 'stella-gateway-peers.stella.svc', port: 4319 });
  t.equal(d.config.cluster!.probeTimeoutMs, 500, 'the probe timeout defaults to at most the interval');
});

t.test('duplicate peers and a bad peer name are named', async (t) => {
  const r = validateConfig({ cluster: { self: 'gw-0', peers: [{ id: 'gw-1', endpoint: 'a:1' }, { id: 'gw-1', endpoint: 'b:1' }, 'a:1'], tls: { ...tls, peerNames: ['*'] } } });
  t.notOk(r.ok);
  if (r.ok) return;
  t.ok(r.errors.some((e) => e.includes('cluster.peers[1].id: duplicate peer id "gw-1"')), r.errors.join('\n'));
  t.ok(r.errors.some((e) => e.includes('cluster.peers[2].endpoint: duplicate peer endpoint "a:1"')), r.errors.join('\n'));
  t.ok(r.errors.some((e) => e.includes('cluster.tls.peerNames[0]: expected a SPIFFE ID')), r.errors.join('\n'));
});

t.test('the loader resolves relative certificate paths against the working directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-cluster-config-'));
  const file = join(dir, 'config.yaml');
  // Validation checks the files from the working directory, as for the listeners' TLS files.
  writeFileSync(file, JSON.stringify({ cluster: { self: 'gw-0', peers: [], tls: { certFile: 'package.json', keyFile: 'package.json', caFile: 'package.json', peerNames: ['spiffe://x/peer/*'] } } }));
  const r = loadConfig({ file, flags: {}, cwd: process.cwd() });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  t.equal(r.config.cluster!.tls.certFile, join(process.cwd(), 'package.json'));
  t.equal(r.config.cluster!.tls.caFile, join(process.cwd(), 'package.json'));
});
