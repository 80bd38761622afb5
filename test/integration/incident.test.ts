// Incident mode through a whole running gateway: the admin API turns it on, the Notify webhook hears
// about it (signed), /metrics shows it, and a restart over the same data dir keeps it; with tail
// sampling dropping everything, `stella telemetry incident on` brings the backend to 100% and `off` back.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../../src/admin/auth.js';
import { verifySignature, type NotifyEvent } from '../../src/incident/notify.js';
import { flattenRequests } from '../helpers/flatten.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { startOtlpSink, type OtlpSink } from '../helpers/otlp-sink.js';
import { bytes, len, span } from '../helpers/wire-builder.js';
import { runCli } from '../cli/commands/incident-run.js';
import { complete } from '../helpers/policy-file.js';

t.test('API → store → Notify → metrics; a restart keeps the incident', async (t) => {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  let wake: (() => void) | undefined;
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.end();
      wake?.();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => hook.close(() => r())));
  const waitFor = async (n: number) => {
    while (received.length < n) await new Promise<void>((r) => (wake = r));
  };

  const dataDir = mkdtempSync(join(tmpdir(), 'stella-incident-gw-'));
  const patch = (c: Parameters<NonNullable<Parameters<typeof startTestGateway>[1]>>[0]) => {
    c.dataDir = dataDir;
    c.incidents.adminTokens = [{ name: 'sre', sha256: sha256Hex('sre-token'), role: 'admin', tenants: '*' }];
    c.incidents.notify.webhooks = [
      { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, secret: 'hook-secret', timeoutMs: 2000, retries: 2, initialBackoffMs: 20, maxBackoffMs: 100 },
    ];
  };
  const auth = { authorization: 'Bearer sre-token' };

  const gw1 = await startTestGateway([], patch);
  const admin1 = baseUrl(gw1, 'admin');
  const on = await fetch(`${admin1}/admin/v1/incidents`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: 'acme', reason: 'checkout errors', ttl: '30m' }),
  });
  t.equal(on.status, 200);
  const { incident } = (await on.json()) as { incident: { expiresAt: string } };
  t.ok(gw1.incidents.isActive('acme'));
  t.match(await (await fetch(`${admin1}/metrics`)).text(), /^telemetry_incident_mode\{tenant="acme"\} 1$/m);

  await waitFor(1);
  const start = JSON.parse(received[0]!.body) as NotifyEvent;
  t.equal(start.type, 'incident.start');
  t.equal(start.incident.scope, 'acme');
  t.equal(start.incident.by, 'sre');
  t.ok(verifySignature('hook-secret', received[0]!.body, received[0]!.headers['x-stella-signature'] as string), 'signed');
  await gw1.stop(2000);

  // Same data dir: the incident is back, with the same expiry, and the gauge says so.
  const gw2 = await startTestGateway([], patch);
  t.teardown(() => gw2.stop(2000));
  const admin2 = baseUrl(gw2, 'admin');
  t.ok(gw2.incidents.isActive('acme'), 'restored after a restart');
  const listed = (await (await fetch(`${admin2}/admin/v1/incidents`, { headers: auth })).json()) as { incidents: { scope: string; expiresAt: string }[] };
  t.same(listed.incidents.map((i) => [i.scope, i.expiresAt]), [['acme', incident.expiresAt]]);
  t.match(await (await fetch(`${admin2}/metrics`)).text(), /^telemetry_incident_mode\{tenant="acme"\} 1$/m);
  t.equal(received.length, 1, 'a restore is not a new start: no notification');

  const off = await fetch(`${admin2}/admin/v1/incidents/acme`, { method: 'DELETE', headers: auth });
  t.equal(off.status, 200);
  t.notOk(gw2.incidents.isActive('acme'));
  await waitFor(2);
  t.equal((JSON.parse(received[1]!.body) as NotifyEvent).type, 'incident.end');
  t.match(await (await fetch(`${admin2}/metrics`)).text(), /^telemetry_incident_mode\{tenant="acme"\} 0$/m);

  const audit = readFileSync(join(dataDir, 'incidents', 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; by: string }).filter((a) => !a.action.startsWith('reload.'));
  t.same(audit.map((a) => [a.action, a.by]), [['gateway.start', 'gateway'], ['start', 'sre'], ['gateway.start', 'gateway'], ['end', 'sre']], 'both starts and both changes, in order');
});

/** One OTLP request: per trace id a root span and a child (status OK unless `error`). */
function traces(ids: string[], error = false): Uint8Array {
  const spans = ids.flatMap((id) => [
    len(2, span({ traceId: id, spanId: '0000000000000001', name: `root-${id}` })),
    len(2, span({ traceId: id, spanId: '0000000000000002', parentSpanId: '0000000000000001', name: `child-${id}`, statusCode: error ? 2 : 1 })),
  ]);
  return bytes(len(1, len(2, ...spans)));
}

const traceIds = (from: number, n: number) => Array.from({ length: n }, (_, i) => (from + i).toString(16).padStart(32, 'a'));

function receivedIds(sink: OtlpSink): Set<string> {
  const ids = new Set<string>();
  for (const f of flattenRequests('traces', sink.received('traces').map((r) => r.body))) ids.add(((f.item as { traceId?: string }).traceId ?? '').toLowerCase());
  return ids;
}

t.test('sampling drops everything but errors; incident on (CLI) → 100% at the sink; off → back', async (t) => {
  const sink = await startOtlpSink();
  const policies = mkdtempSync(join(tmpdir(), 'stella-incident-sampling-'));
  writeFileSync(join(policies, 'sampling.yaml'), complete('rules:\n  - name: errors\n    when: { error: true }\notherwise: drop\n'));
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.policiesDir = policies;
    c.sampling = { ...c.sampling, enabled: true, decisionWaitMs: 60_000, rootGraceMs: 100 };
    c.incidents.adminTokens = [{ name: 'oncall', sha256: sha256Hex('oncall-token'), role: 'operator', tenants: ['default'] }];
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  const url = `${baseUrl(gw, 'http')}/v1/traces`;
  const post = async (body: Uint8Array) => {
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
    await res.arrayBuffer();
    return res.status;
  };
  const cli = (...args: string[]) => runCli(['incident', ...args, '--admin', baseUrl(gw, 'admin'), '--token', 'oncall-token']);
  /** Sends `ok` traces then one error trace (always kept); once that arrives, the `ok` ones were decided too. */
  const round = async (ok: string[], marker: string) => {
    t.equal(await post(traces(ok)), 200);
    t.equal(await post(traces([marker], true)), 200);
    await sink.waitFor(() => receivedIds(sink).has(marker), 10_000);
    const got = receivedIds(sink);
    return ok.filter((id) => got.has(id)).length;
  };

  const before = traceIds(0x100, 20);
  t.equal(await round(before, traceIds(0x1ff, 1)[0]!), 0, 'before: the policy drops every non-error trace');

  const on = await cli('on', '--tenant', 'default', '--ttl', '10m', '--reason', 'sampling test');
  t.equal(on.code, 0, on.err);
  const during = traceIds(0x200, 20);
  t.equal(await round(during, traceIds(0x2ff, 1)[0]!), 20, 'during the incident: 100% at the sink');

  const off = await cli('off', '--tenant', 'default');
  t.equal(off.code, 0, off.err);
  const after = traceIds(0x300, 20);
  t.equal(await round(after, traceIds(0x3ff, 1)[0]!), 0, 'after: back to the policy');
});
