// Forwarding in one process, without the rest of the gateway: `node dist/bench/forward-micro.js`
// (docs/guides/bench.md "Three replicas"). Replica gw-0's trace router in front of a no-op sampler,
// forwarding over the cluster's real peer client (HTTP/2, mTLS) to the real peer listeners of gw-1 and
// gw-2 (in this process, their receivers offering to no-op samplers). The same request pool as
// bench/cluster.ts (fresh trace ids per send), walked and located as the worker does, `concurrency`
// requests in flight. Rounds alternate `local` (gw-0 alone: every trace stays) and `forward` (three live
// members: two thirds forwarded); the figure is the CPU of this process (both sides of every forward)
// per forwarded span, forward minus local. Run with --cpu-prof to see where it goes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeDevCerts } from '../src/cli/commands/certs-init.js';
import { createForwardClient, createForwardReceiver, TRACES_EXPORT_PATH } from '../src/cluster/forward-grpc.js';
import { readForward } from '../src/cluster/forward-wire.js';
import { createPeerClient } from '../src/cluster/peer-client.js';
import { clusterTlsReloader, createPeerServer } from '../src/cluster/peer-server.js';
import { createTraceRouter, DEFAULT_ROUTING, type LiveMembers } from '../src/cluster/trace-router.js';
import { DEFAULT_CLUSTER, type ClusterConfig } from '../src/config/sections/cluster.js';
import { summariesOf } from '../src/process/wire/trace-columns.js';
import { locateTraces } from '../src/process/wire/locate-traces.js';
import { walkRequest } from '../src/process/worker/walk.js';
import { silentLogger } from '../src/telemetry/logger-types.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import { generateRequestPool } from './generate.js';
import { freePort } from './gateway-process.js';
import { median } from './report.js';
import { traceIdOffsets } from './sampling.js';
import { runAsScript } from './script.js';

const USAGE = `usage: node dist/bench/forward-micro.js [--rounds K] [--requests N] [--spans M] [--concurrency C] [--transport mtls|none] [--only local|forward]
  Trace routing and forwarding over real mTLS peer listeners in one process; prints CPU µs per forwarded
  span (forward rounds minus local rounds, medians).`;

const IDS = ['gw-0', 'gw-1', 'gw-2'];

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '5' },
      requests: { type: 'string', default: '2000' },
      spans: { type: 'string', default: '500' },
      concurrency: { type: 'string', default: '8' },
      // One kind of round only (for profiling one side): local or forward.
      only: { type: 'string' },
      // none: no network; the owner's side in place (the message copied as the receiver assembles it, then read).
      transport: { type: 'string', default: 'mtls' },
    },
  });
  const rounds = Number(values.rounds);
  const requests = Number(values.requests);
  const spans = Number(values.spans);
  const concurrency = Number(values.concurrency);

  const dir = mkdtempSync(join(tmpdir(), 'stella-forward-micro-'));
  const certs = await writeDevCerts({ out: dir, tenants: [], peers: IDS, days: 2, trustDomain: 'stella.local', force: false });
  if (!certs.ok) throw new Error(certs.error);
  const files = certs.files;
  const config = async (self: string): Promise<ClusterConfig> => ({
    ...DEFAULT_CLUSTER,
    self,
    listen: { host: '127.0.0.1', port: await freePort() },
    peers: { kind: 'static', peers: [] },
    tls: { certFile: files.peers[self]!.cert, keyFile: files.peers[self]!.key, caFile: files.ca, peerNames: ['spiffe://stella.local/peer/*'], minVersion: 'TLSv1.2' },
  });
  const logger = silentLogger;
  const metrics = createMetrics({ defaultMetrics: false });
  let received = 0;
  const endpoints = new Map<string, string>();
  const servers = [];
  for (const self of IDS.slice(1)) {
    const c = await config(self);
    const server = createPeerServer(c, { logger, metrics });
    const receiver = createForwardReceiver({ maxInflightBytes: 64 << 20, maxMessageBytes: 64 << 20 }, { offer: (_t, _b, traces) => void (received += traces.length), metrics });
    server.route(TRACES_EXPORT_PATH, receiver.handler);
    const a = await server.start();
    endpoints.set(self, `127.0.0.1:${a.port}`);
    servers.push(server);
  }
  const c0 = await config('gw-0');
  const tls = clusterTlsReloader(c0, { logger, metrics });
  const peerClient = createPeerClient(c0, { tls });
  const client = createForwardClient({ endpointOf: (p) => endpoints.get(p), session: (e) => peerClient.session(e) });

  const pool = generateRequestPool({ count: 64, spansPerRequest: spans, seed: 1 });
  const offsets = pool.requests.map((b) => traceIdOffsets(b));
  let counter = 0;
  let calls = 0;

  async function round(live: readonly string[]): Promise<{ cpuMicros: number; forwardedSpans: number }> {
    const membership: LiveMembers = { self: 'gw-0', live: () => live, onChange: () => () => {} };
    let forwardedSpans = 0;
    const router = createTraceRouter(DEFAULT_ROUTING, {
      membership,
      local: () => {},
      send: (peer, tenant, message, timeoutMs) => {
        calls++;
        if (values.transport !== 'none') return client.send(peer, tenant, message, timeoutMs);
        const read = readForward(Buffer.concat(message));
        if ('error' in read) throw new Error(read.error);
        received += read.traces.length;
        return Promise.resolve({ status: 'ok' as const });
      },
      metrics: { ...metrics, clusterForwardedSpans: { inc: (n: number) => void (forwardedSpans += n) } } as never,
    });
    let next = 0;
    const cpu0 = process.cpuUsage();
    const lane = async (): Promise<void> => {
      while (next < requests) {
        const i = next++;
        const k = i % pool.requests.length;
        // A body of its own, fresh trace ids (as bench/cluster.ts sends), walked and located as the worker does.
        const body = Buffer.from(pool.requests[k]!);
        const n = ++counter;
        for (const o of offsets[k]!) body.writeUInt32LE(n >>> 0, o);
        const w = walkRequest('traces', body, 'columns');
        if (!w.ok) throw new Error(w.message);
        const traces = summariesOf(w.traceColumns!);
        await router.offer('acme', body, traces, locateTraces(body, traces), true);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    await router.stop();
    const d = process.cpuUsage(cpu0);
    return { cpuMicros: d.user + d.system, forwardedSpans };
  }

  const local: number[] = [];
  const forward: number[] = [];
  const perForwarded: number[] = [];
  await round(IDS); // warm-up: sessions open, code optimised
  await round(['gw-0']);
  if (values.only !== undefined) {
    const t0 = process.cpuUsage();
    let forwarded = 0;
    for (let r = 0; r < rounds; r++) forwarded += (await round(values.only === 'local' ? ['gw-0'] : IDS)).forwardedSpans;
    const d = process.cpuUsage(t0);
    process.stdout.write(`${values.only}: ${((d.user + d.system) / (rounds * requests * spans)).toFixed(2)} µs/span, ${forwarded} spans forwarded in ${calls} calls\n`);
    return 0;
  }
  for (let r = 0; r < rounds; r++) {
    const l = await round(['gw-0']);
    const f = await round(IDS);
    local.push(l.cpuMicros / (requests * spans));
    forward.push(f.cpuMicros / (requests * spans));
    perForwarded.push((f.cpuMicros - l.cpuMicros) / f.forwardedSpans);
    process.stderr.write(`round ${r + 1}: local ${local.at(-1)!.toFixed(2)} µs/span, forward ${forward.at(-1)!.toFixed(2)} µs/span, +${perForwarded.at(-1)!.toFixed(2)} µs per forwarded span (${((100 * f.forwardedSpans) / (requests * spans)).toFixed(1)} % forwarded)\n`);
  }
  process.stdout.write(`${process.version}: local ${median(local).toFixed(2)} µs/span, forward ${median(forward).toFixed(2)} µs/span, +${median(perForwarded).toFixed(2)} µs CPU per forwarded span (median of ${rounds}; ${received} traces received)\n`);
  peerClient.close();
  tls.close();
  await Promise.all(servers.map((s) => s.stop()));
  return 0;
}

runAsScript('forward-micro', import.meta.url, main, USAGE);
