// Sealed mode: egress.allow entries parse (or fail naming the entry), match host names, IPs, CIDRs and
// ports; under the airgap profile validation names every destination off the list; and a running airgap
// gateway never connects to anything off the list: a listening server that counts connections stays at
// 0 while exports and Notify events to it are refused and counted, and the allowed backend gets the data.
import t, { type Test } from 'tap';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseEgressRule, type EgressRule } from '../../src/config/sections/egress.js';
import { validateConfig } from '../../src/config/validate.js';
import { allowedBy, configDestinations, createEgressGuard } from '../../src/egress/egress.js';
import { exporterDefaults, type GatewayConfig } from '../../src/config/types.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { generateSpans } from '../helpers/generate-otlp.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { sha256Hex } from '../../src/admin/auth.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/commands/incident-run.js';

const rules = (...texts: string[]): EgressRule[] =>
  texts.map((text) => {
    const r = parseEgressRule(text);
    if (typeof r === 'string') throw new Error(`${text}: ${r}`);
    return r;
  });

t.test('entries: host names, IPs, CIDRs, ports, wildcards', async (t) => {
  const list = rules('tempo.internal', 'loki.internal:3100', '10.20.0.7', '10.30.0.0/16:4317', '[fd00::7]:443', 'fd01::/16', '*.svc.cluster.local');
  const cases: [string, number, boolean][] = [
    ['tempo.internal', 4317, true],
    ['TEMPO.internal.', 9999, true],
    ['tempo.internal.evil.com', 4317, false],
    ['loki.internal', 3100, true],
    ['loki.internal', 3101, false],
    ['10.20.0.7', 1, true],
    ['10.20.0.8', 1, false],
    ['10.30.255.1', 4317, true],
    ['10.30.255.1', 4318, false],
    ['10.31.0.1', 4317, false],
    ['fd00::7', 443, true],
    ['[fd00::7]', 443, true],
    ['fd00::7', 80, false],
    ['fd01:1::1', 80, true],
    ['fd02::1', 80, false],
    ['tempo.monitoring.svc.cluster.local', 4317, true],
    ['svc.cluster.local', 4317, false],
    ['hooks.example.com', 443, false],
  ];
  for (const [host, port, want] of cases) t.equal(allowedBy(list, host, port), want, `${host}:${port} ${want ? 'allowed' : 'refused'}`);
  // A host name is matched as a name, never resolved: an IP rule does not allow a name.
  t.equal(allowedBy(rules('127.0.0.1'), 'localhost', 80), false);

  for (const bad of ['', 'http://x', 'a b', '10.0.0.0/33', 'host:0', 'host:70000', '*.', '[zz::1]:80', '300.1.1.1/8']) {
    t.type(parseEgressRule(bad), 'string', `${JSON.stringify(bad)} is refused`);
  }
});

t.test('validation: under airgap every destination must be on the list, named by its path', async (t) => {
  const webhook = { url: 'https://hooks.example.com/stella', secret: 's' };
  const off = validateConfig({ profile: 'airgap', incidents: { notify: { webhooks: [webhook] } } });
  t.notOk(off.ok);
  if (!off.ok) t.match(off.errors, [/^incidents\.notify\.webhooks\[0\]\.url: destination hooks\.example\.com:443 is not on egress\.allow/]);

  const on = validateConfig({ profile: 'airgap', egress: { allow: ['hooks.example.com:443'] }, incidents: { notify: { webhooks: [webhook] } } });
  t.ok(on.ok, on.ok ? '' : on.errors.join('\n'));

  const exporter = validateConfig({
    profile: 'airgap',
    profiles: { airgap: { allowNetworkExporters: true } },
    egress: { allow: ['10.0.0.0/8:4317'] },
    exporters: [{ name: 'tempo', endpoint: 'otlp-grpc://10.1.2.3:4317' }, { name: 'loki', endpoint: 'otlp-http://10.1.2.3:3100' }],
    tenancy: { exportOverrides: { acme: { tempo: '192.168.1.1:4317' } } },
  });
  t.notOk(exporter.ok);
  if (!exporter.ok) {
    t.ok(exporter.errors.some((e) => /^exporters\[1\]\.endpoint: destination 10\.1\.2\.3:3100 is not on egress\.allow/.test(e)), exporter.errors.join('\n'));
    t.ok(exporter.errors.some((e) => /^tenancy\.exportOverrides\.acme\.tempo: destination 192\.168\.1\.1:4317/.test(e)), exporter.errors.join('\n'));
    t.notOk(exporter.errors.some((e) => e.startsWith('exporters[0]')), 'the listed exporter passes');
  }

  // Outside airgap the list applies once it is written; without it, nothing is checked.
  t.ok(validateConfig({ incidents: { notify: { webhooks: [webhook] } } }).ok);
  const listed = validateConfig({ egress: { allow: [] }, incidents: { notify: { webhooks: [webhook] } } });
  t.notOk(listed.ok, 'an empty list written in the default profile allows nothing');

  const bad = validateConfig({ egress: { allow: ['ok.example.com', 'not a host', 7] } });
  t.notOk(bad.ok);
  if (!bad.ok) {
    t.ok(bad.errors.some((e) => e.startsWith('egress.allow[1]: expected a host name')), bad.errors.join('\n'));
    t.ok(bad.errors.some((e) => e.startsWith('egress.allow[2]: expected a string')), bad.errors.join('\n'));
  }
});

t.test('cluster peers are destinations: a static list by endpoint, a DNS name by name', async (t) => {
  const base = { exporters: [], tenancy: { exportOverrides: {} }, incidents: { notify: { webhooks: [] } } };
  const staticPeers = configDestinations({
    ...base,
    cluster: { peers: { kind: 'static', peers: [{ id: 'gw-1', endpoint: '10.0.0.2:4319' }, { endpoint: '[fd00::2]:4319' }] } },
  } as unknown as GatewayConfig);
  t.same(staticPeers, [
    { host: '10.0.0.2', port: 4319, path: 'cluster.peers[0]' },
    { host: 'fd00::2', port: 4319, path: 'cluster.peers[1]' },
  ]);
  const dns = configDestinations({ ...base, cluster: { peers: { kind: 'dns', name: 'stella-peers.ns.svc', port: 4319 } } } as unknown as GatewayConfig);
  t.same(dns, [{ host: 'stella-peers.ns.svc', port: 4319, path: 'cluster.peers' }]);
});

t.test('the guard counts what it refuses and allows everything when not enforced', async (t) => {
  const counted: string[] = [];
  const metrics = { egressRefused: { inc: (l: { destination: string }) => void counted.push(l.destination) } };
  const open = createEgressGuard({ profile: 'default' }, { metrics });
  t.equal(open.enforced, false);
  t.ok(open.check('anywhere.example.com', 443).ok);
  const sealed = createEgressGuard({ profile: 'airgap', egress: { allow: rules('10.0.0.1'), listed: true } }, { metrics });
  t.ok(sealed.check('10.0.0.1', 80).ok);
  const refused = sealed.check('fd00::1', 443);
  t.notOk(refused.ok);
  if (!refused.ok) t.match(refused.message, /^\[fd00::1\]:443 is not on egress\.allow/);
  t.same(counted, ['[fd00::1]:443']);
});

/** A TCP server that only counts the connections made to it. */
async function countingServer(t: Test): Promise<{ port: number; connections: () => number }> {
  let n = 0;
  const server: Server = createServer((socket) => {
    n++;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, connections: () => n };
}

t.test('an airgap gateway connects to nothing off the list', async (t) => {
  const sink = await startOtlpSink();
  t.teardown(() => sink.close());
  const forbidden = await countingServer(t);
  const sinkPort = Number(new URL(sink.httpUrl).port);
  const gw = await startTestGateway(
    [
      sinkExporter(sink, 'otlp-http'),
      { ...exporterDefaults('otlp-http'), name: 'forbidden-http', kind: 'otlp-http', endpoint: `http://127.0.0.1:${forbidden.port}`, retry: { initialBackoffMs: 10, maxBackoffMs: 50, maxElapsedMs: 1000 } },
      { ...exporterDefaults('otlp-grpc'), name: 'forbidden-grpc', kind: 'otlp-grpc', endpoint: `127.0.0.1:${forbidden.port}`, retry: { initialBackoffMs: 10, maxBackoffMs: 50, maxElapsedMs: 1000 } },
    ],
    (c) => {
      // Built in code, so validation (which would refuse these) is not what stops them: the run-time guard is.
      c.profile = 'airgap';
      c.egress = { allow: rules(`127.0.0.1:${sinkPort}`), listed: true };
      c.incidents.adminTokens = [{ name: 'sre', sha256: sha256Hex('sre-token'), role: 'admin', tenants: '*' }];
      c.incidents.notify.webhooks = [{ url: `http://127.0.0.1:${forbidden.port}/hook`, secret: 's', timeoutMs: 1000, retries: 0, initialBackoffMs: 10, maxBackoffMs: 10 }];
    },
  );
  t.teardown(() => gw.stop(2000));

  const res = await fetch(`${baseUrl(gw, 'http')}/v1/traces`, { method: 'POST', body: generateSpans(10), headers: { 'content-type': 'application/x-protobuf' } });
  t.equal(res.status, 200);
  await res.arrayBuffer();
  const on = await fetch(`${baseUrl(gw, 'admin')}/admin/v1/incidents`, {
    method: 'POST',
    headers: { authorization: 'Bearer sre-token', 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: '_all', reason: 'egress test', ttl: '10m' }),
  });
  t.equal(on.status, 200, await on.clone().text());

  // Wait for the three refusals (two exporters, one webhook) and for the allowed backend's data.
  const refusedMetric = new RegExp(`^egress_refused_total\\{destination="127\\.0\\.0\\.1:${forbidden.port}"\\} (\\d+)$`, 'm');
  const notifyRefused = /^incident_notify_dropped_total\{webhook="127\.0\.0\.1:\d+\/hook",reason="rejected"\} 1$/m;
  const exportRefused = (name: string) => new RegExp(`^collector_export_failures_total\\{exporter="${name}",signal="traces",reason="egress_refused"\\} 1$`, 'm');
  let text = '';
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    text = await (await fetch(`${baseUrl(gw, 'admin')}/metrics`)).text();
    if (notifyRefused.test(text) && exportRefused('forbidden-http').test(text) && exportRefused('forbidden-grpc').test(text)) break;
    await new Promise((r) => setImmediate(r));
  }
  t.match(text, notifyRefused, 'the webhook event was refused');
  t.match(text, exportRefused('forbidden-http'));
  t.match(text, exportRefused('forbidden-grpc'));
  t.equal(Number(refusedMetric.exec(text)?.[1]), 3, 'egress_refused_total counts each refusal');
  await sink.waitFor(() => sink.received('traces').length > 0, 10_000);
  t.ok(sink.received('traces').length > 0, 'the listed backend got the spans');
  t.equal(forbidden.connections(), 0, 'no connection reached the server off the list');
});

t.test('keyless signing is egress too: the CLI refuses it under airgap unless Fulcio and Rekor are listed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-egress-cli-'));
  const env = { SIGSTORE_ID_TOKEN: 'not-a-real-token' };
  const args = ['capture', '--keyless', '--tenant', 'acme', '--out', join(dir, 'x.tar'), '--data-dir', dir];
  const sealed = await runCli([...args, '--profile', 'airgap'], env);
  t.equal(sealed.code, 2, sealed.err);
  t.match(sealed.err, /--keyless: --fulcio-url fulcio\.sigstore\.dev:443 is not on egress\.allow .*--key/);

  const config = join(dir, 'stella.yaml');
  writeFileSync(config, `profile: airgap\ndataDir: ${JSON.stringify(dir)}\negress:\n  allow: [fulcio.internal:443]\n`);
  const rekor = await runCli(['capture', '--keyless', '--tenant', 'acme', '--out', join(dir, 'x.tar'), '--config', config, '--fulcio-url', 'https://fulcio.internal'], env);
  t.equal(rekor.code, 2, rekor.err);
  t.match(rekor.err, /--rekor-url rekor\.sigstore\.dev:443 is not on egress\.allow/, 'Fulcio passes, Rekor is named');
});
