// Three real gateway processes on loopback forming a cluster (mTLS peer listeners, certificates made
// here), tail sampling on (keep traces with an error, drop the rest), exporting to one OTLP backend.
// The spans of each trace are sent to three different replicas:
//   - while membership is stable, every trace gets exactly one decision and arrives whole or not at all;
//   - after one replica is SIGKILLed, every span sent to the other two is accounted for (decided, and
//     delivered when kept), and once membership has dropped the dead replica, its traces are decided
//     whole again by the two that are left.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { writeDevCerts } from '../../src/cli/commands/certs-init.js';
import { createRendezvous, traceHashHex } from '../../src/cluster/rendezvous.js';
import { flattenRequests } from '../helpers/flatten.js';
import { createGatewayChild, freePort, httpGet, type GatewayChild } from '../helpers/gateway-child.js';
import { startOtlpSink, type OtlpSink } from '../helpers/otlp-sink.js';
import { complete } from '../helpers/policy-file.js';
import { bytes, len, span } from '../helpers/wire-builder.js';
import { traceId } from '../sample/helpers.js';

const IDS = ['gw-a', 'gw-b', 'gw-c'];
const DECISION_WAIT = '2s';

function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      check().then(
        (ok) => {
          if (ok) return resolve();
          if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
          // Polling other processes' metrics: there is no event to wait on across processes.
          setTimeout(tick, 50);
        },
        reject,
      );
    };
    tick();
  });
}

/** One replica's value of a metric: the series `name{labels}` as written, or the sum of every series of `name`. */
async function metric(g: GatewayChild, name: string): Promise<number> {
  const text = (await httpGet(`${g.adminUrl}/metrics`)).body;
  let n = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && (m[1] + (m[2] ?? '') === name || (!name.includes('{') && m[1] === name))) n += Number(m[3]);
  }
  return n;
}

async function sum(gws: GatewayChild[], name: string): Promise<number> {
  let n = 0;
  for (const g of gws) n += await metric(g, name);
  return n;
}

/** Span number `part` of each trace (the first one is the root), an ERROR status where `error` says. */
function request(ids: string[], part: number, error: (i: number) => boolean): Uint8Array {
  const spans = ids.map((id, i) =>
    len(
      2,
      span({
        traceId: id,
        spanId: (part + 1).toString(16).padStart(16, '0'),
        ...(part > 0 && { parentSpanId: '0000000000000001' }),
        name: `${id}-${part}`,
        statusCode: error(i) ? 2 : 1,
      }),
    ),
  );
  return bytes(len(1, len(2, ...spans)));
}

async function post(gw: GatewayChild, body: Uint8Array): Promise<number> {
  const res = await fetch(`${gw.httpUrl}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
  await res.arrayBuffer();
  return res.status;
}

/** Spans at the backend per trace id. */
function atBackend(sink: OtlpSink): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of flattenRequests('traces', sink.received('traces').map((r) => r.body))) {
    const id = ((f.item as { traceId?: string }).traceId ?? '').toLowerCase();
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

t.test('three replicas decide each trace once and whole; a killed replica loses nothing the others took', async (t) => {
  const sink = await startOtlpSink();
  t.teardown(() => sink.close());
  const dir = mkdtempSync(join(tmpdir(), 'stella-routing-'));
  const certs = await writeDevCerts({ out: join(dir, 'certs'), tenants: ['acme'], peers: IDS, days: 2, trustDomain: 'stella.local', force: false });
  if (!certs.ok) throw new Error(certs.error);
  const policies = join(dir, 'policies');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(policies);
  writeFileSync(join(policies, 'sampling.yaml'), complete('rules:\n  - name: errors\n    when: { error: true }\notherwise: drop\n'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const peers = IDS.map((id, i) => ({ id, endpoint: `127.0.0.1:${ports[i]}` }));
  const gws: GatewayChild[] = [];
  for (const [i, self] of IDS.entries()) {
    gws.push(
      await createGatewayChild({
        exporters: [{ name: 'backend', endpoint: sink.httpUrl, signals: ['traces'], batch: { flushInterval: '20ms' }, retry: { initialBackoff: '20ms', maxBackoff: '200ms' } }],
        extra: {
          policiesDir: policies,
          sampling: { enabled: true, decisionWait: DECISION_WAIT, rootGrace: DECISION_WAIT },
          cluster: {
            self,
            listen: `127.0.0.1:${ports[i]}`,
            peers,
            tls: { certFile: certs.files.peers[self]!.cert, keyFile: certs.files.peers[self]!.key, caFile: certs.files.ca, peerNames: ['spiffe://stella.local/peer/*'] },
            // Generous: a replica must not be declared down while the test's machine is busy.
            probeInterval: '1s',
            probeTimeout: '1s',
            probeMisses: 3,
            routing: { timeout: '2s' },
          },
        },
      }),
    );
  }
  t.teardown(() => Promise.all(gws.map((g) => g.kill())));
  await Promise.all(gws.map((g) => g.start()));
  await waitFor('every replica sees three live members', async () => (await Promise.all(gws.map(async (g) => metric(g, 'cluster_peers_live')))).every((n) => n === 3)).catch(async (err: Error) => {
    const seen = await Promise.all(gws.map(async (g) => metric(g, 'cluster_peers_live')));
    throw new Error(`${err.message} (seen: ${seen.join(', ')})\n${gws[0]!.log().slice(-3000)}`);
  });

  // Phase 1, stable membership: 30 traces, span k of every trace sent to replica k; every third trace
  // has its error on one of the three replicas (rotating).
  const stable = Array.from({ length: 30 }, (_, i) => traceId(1000 + i));
  const stableError = (i: number, part: number): boolean => i % 3 === 0 && (i / 3) % 3 === part;
  const answers = await Promise.all(gws.map((g, part) => post(g, request(stable, part, (i) => stableError(i, part)))));
  t.same(answers, [200, 200, 200]);
  await waitFor('30 decisions', async () => (await sum(gws, 'sampling_decisions_total')) >= 30);
  await waitFor('the kept spans exported', async () => (await sum(gws, 'exporter_sent_items_total')) >= 30);
  const got1 = atBackend(sink);
  const kept1 = stable.filter((_, i) => i % 3 === 0);
  t.same([...got1.keys()].sort(), [...kept1].sort(), 'exactly the traces with an error reached the backend');
  t.ok(kept1.every((id) => got1.get(id) === 3), 'each of them whole: the spans from all three replicas');
  t.equal(await sum(gws, 'sampling_decisions_total'), 30, 'one decision per trace, fleet-wide (100%)');
  t.equal(await sum(gws, 'sampling_spans_total'), 90, 'every span decided once');
  t.equal(await sum(gws, 'cluster_forward_failures_total'), 0, 'no forward failed');
  const forwarded = await sum(gws, 'cluster_forwarded_spans_total');
  t.equal(forwarded, 60, 'two spans of every trace travelled to its owner (the third arrived there)');
  t.equal(await sum(gws, 'cluster_received_spans_total'), forwarded, 'received as sent');

  // Phase 2: gw-c dies. Spans sent to gw-a and gw-b right away: those of traces gw-c owned go to a dead
  // peer (or, once membership noticed, to a live owner). Every one is decided somewhere, none is lost.
  const [a, b, c] = gws as [GatewayChild, GatewayChild, GatewayChild];
  await c.kill();
  const live = [a, b];
  const before = { spans: await sum(live, 'sampling_spans_total'), kept: await sum(live, 'sampling_spans_total{tenant="default",decision="keep"}'), exported: await sum(live, 'exporter_sent_items_total'), backend: sink.received('traces').length };
  const afterKill = Array.from({ length: 30 }, (_, i) => traceId(2000 + i));
  const ring3 = createRendezvous(IDS);
  t.ok(afterKill.some((id) => ring3.owner(traceHashHex(id)) === 'gw-c'), 'some of these traces were owned by gw-c');
  t.same(await Promise.all([post(a, request(afterKill, 0, (i) => i % 2 === 0)), post(b, request(afterKill, 1, () => false))]), [200, 200]);
  await waitFor('all 60 spans decided by the two live replicas', async () => (await sum(live, 'sampling_spans_total')) - before.spans >= 60);
  const keptAfterKill = (await sum(live, 'sampling_spans_total{tenant="default",decision="keep"}')) - before.kept;
  await waitFor('the kept ones exported', async () => (await sum(live, 'exporter_sent_items_total')) - before.exported >= keptAfterKill);
  t.equal((await sum(live, 'sampling_spans_total')) - before.spans, 60, 'every span accounted for: kept or dropped, once');
  const got2 = atBackend(sink);
  const delivered2 = afterKill.reduce((n, id) => n + (got2.get(id) ?? 0), 0);
  t.equal(delivered2, keptAfterKill, 'every kept span is at the backend');
  t.ok(keptAfterKill >= 15, `at least the error spans kept (${keptAfterKill})`);
  const failures = await sum(live, 'cluster_forward_failures_total');
  const fallback = await sum(live, 'cluster_forward_fallback_spans_total');
  t.comment(`forwards that failed after the kill: ${failures} (${fallback} spans decided locally)`);

  // Phase 3: membership has dropped gw-c; its traces belong to gw-a and gw-b now, decided whole again.
  await waitFor('gw-a and gw-b see two live members', async () => (await Promise.all(live.map(async (g) => metric(g, 'cluster_peers_live')))).every((n) => n === 2));
  const failuresBefore = await sum(live, 'cluster_forward_failures_total');
  const decisionsBefore = await sum(live, 'sampling_decisions_total');
  const exportedBefore = await sum(live, 'exporter_sent_items_total');
  const moved = Array.from({ length: 30 }, (_, i) => traceId(3000 + i));
  t.ok(moved.filter((id) => ring3.owner(traceHashHex(id)) === 'gw-c').length >= 3, 'several were gw-c\'s traces');
  t.same(await Promise.all([post(a, request(moved, 0, () => false)), post(b, request(moved, 1, (i) => i % 2 === 1))]), [200, 200]);
  await waitFor('30 more decisions', async () => (await sum(live, 'sampling_decisions_total')) - decisionsBefore >= 30);
  await waitFor('the kept spans exported', async () => (await sum(live, 'exporter_sent_items_total')) - exportedBefore >= 30);
  const got3 = atBackend(sink);
  t.equal((await sum(live, 'sampling_decisions_total')) - decisionsBefore, 30, 'one decision per trace again');
  t.ok(moved.every((id, i) => (i % 2 === 1 ? got3.get(id) === 2 : !got3.has(id))), 'kept whole (both spans) or dropped whole');
  t.equal((await sum(live, 'cluster_forward_failures_total')) - failuresBefore, 0, 'no forward to the dead replica any more');
});
