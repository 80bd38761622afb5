// The three-replica bench of trace-affine routing: `node dist/bench/cluster.js [flags]` (after
// `npm run build`; docs/guides/bench.md "Three replicas").
//
// Two targets, alternating in one run, the same gRPC load (500-span requests, fresh trace ids per send):
//   single   one gateway, sampling on with a keep-everything policy;
//   cluster  three gateways on loopback forming a cluster (mTLS peer listeners, certificates made here),
//            the same sampling, the load spread round-robin over the three (as a load balancer would).
// Both export every span once (keep-all) to an acknowledge-only sink. The figure: CPU seconds (all
// threads, all gateways: process_cpu_seconds_total) per million acknowledged spans, medians over runs.
// The cluster's extra CPU per span, divided by the share of spans forwarded (cluster_routed_spans_total
// {route="forwarded"} / all routed), is the forwarding cost per forwarded span (target ≤ +1.5 µs).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeDevCerts } from '../src/cli/commands/certs-init.js';
import { packageRoot } from '../src/paths.js';
import { generateRequestPool } from './generate.js';
import { freePort, httpGet, readProcMemory, startGatewayProcess, startRawServerProcess, type GatewayProcess } from './gateway-process.js';
import { createGrpcDriver, runLoad, type Driver } from './load.js';
import { median } from './report.js';
import { DEFAULT_SINK_WINDOW_BYTES, parseDuration } from './run.js';
import { freshIds } from './sampling.js';
import { runAsScript } from './script.js';

const USAGE = `usage: node dist/bench/cluster.js [--runs K] [--duration D] [--warmup D] [--spans M] [--concurrency N] [--workers W] [--rate R]
       [--targets single,cluster,cluster-no-routing] [--node-arg FLAG]...
  --node-arg passes a flag to every gateway's node (e.g. --node-arg=--cpu-prof --node-arg=--cpu-prof-dir=DIR).
  Alternates one gateway and three clustered gateways (sampling on, keep everything) under the same gRPC
  load; reports CPU s per million spans of each, the share of spans forwarded and the cost per forwarded span.`;

/** Round-robin over several drivers: a load balancer in front of the replicas. */
function roundRobin(drivers: Driver[]): Driver {
  let next = 0;
  return {
    protocol: 'grpc',
    send: (body) => drivers[next++ % drivers.length]!.send(body),
    close: async () => void (await Promise.all(drivers.map((d) => d.close()))),
  };
}

interface Target {
  name: 'single' | 'cluster' | 'cluster-no-routing';
  start(sinkPort: number): Promise<GatewayProcess[]>;
}

const SAMPLING = ['sampling:', '  enabled: true', '  decisionWait: 1s', '  rootGrace: 500ms'];

function writePolicies(dir: string): string {
  const policies = join(dir, 'policies');
  mkdirSync(policies, { recursive: true });
  // Explicitly empty redaction and allowlists: the bench measures routing, not redaction.
  for (const f of ['redaction.yaml', 'allowlists.yaml']) writeFileSync(join(policies, f), 'version: 1\n');
  writeFileSync(join(policies, 'sampling.yaml'), 'rules: []\notherwise: keep\nversion: 1\n');
  return policies;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10s' },
      warmup: { type: 'string', default: '3s' },
      spans: { type: 'string', default: '500' },
      concurrency: { type: 'string', default: '8' },
      workers: { type: 'string', default: '1' },
      rate: { type: 'string' },
      targets: { type: 'string', default: 'single,cluster,cluster-no-routing' },
      'node-arg': { type: 'string', multiple: true, default: [] },
    },
  });
  const runs = Number(values.runs);
  const durationMs = parseDuration('--duration', values.duration!);
  const warmupMs = parseDuration('--warmup', values.warmup!);
  const spans = Number(values.spans);
  const concurrency = Number(values.concurrency);
  const workers = Number(values.workers);
  // Offered requests per second (open loop): compares the targets at the same throughput, where the
  // exporters batch alike. Unset: closed loop (each target saturated).
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  const nodeArgs = values['node-arg']!;
  const only = new Set(values.targets!.split(','));
  const log = (s: string): void => void process.stderr.write(`${s}\n`);

  const dir = mkdtempSync(join(tmpdir(), 'stella-cluster-bench-'));
  const policies = writePolicies(dir);
  const certs = await writeDevCerts({ out: join(dir, 'certs'), tenants: [], peers: ['gw-0', 'gw-1', 'gw-2'], days: 2, trustDomain: 'stella.local', force: false });
  if (!certs.ok) throw new Error(certs.error);
  const certFiles = certs.files;

  const singleConfig = join(dir, 'single.yaml');
  writeFileSync(singleConfig, [`policiesDir: ${policies}`, ...SAMPLING, ''].join('\n'));

  async function startCluster(sinkPort: number, routing: boolean): Promise<GatewayProcess[]> {
        const ports = [await freePort(), await freePort(), await freePort()];
        const ids = ports.map((_, i) => `gw-${i}`);
        const gateways = await Promise.all(
          ids.map((self, i) => {
            const file = join(dir, `cluster-${self}.yaml`);
            writeFileSync(file, [`policiesDir: ${policies}`, ...SAMPLING, ...clusterSection(self, i, ids, ports, certFiles), `  routing: { enabled: ${routing} }`, ''].join('\n'));
            return startGatewayProcess({ exportUrl: `otlp-grpc://127.0.0.1:${sinkPort}`, configFile: file, workers, nodeArgs });
          }),
        );
        // Wait until every replica sees all three live (membership is asynchronous).
        const deadline = Date.now() + 30_000;
        for (;;) {
          const live = await Promise.all(gateways.map(async (g) => (await g.metrics()).get('cluster_peers_live') ?? 0));
          if (live.every((n) => n >= 3)) break;
          if (Date.now() > deadline) throw new Error(`the cluster did not form within 30 s (live members seen: ${live.join(', ')})`);
          await new Promise((r) => setTimeout(r, 100));
        }
        return gateways;
  }

  const allTargets: Target[] = [
    {
      name: 'single',
      start: async (sinkPort) => [await startGatewayProcess({ exportUrl: `otlp-grpc://127.0.0.1:${sinkPort}`, configFile: singleConfig, workers, nodeArgs })],
    },
    { name: 'cluster', start: (sinkPort) => startCluster(sinkPort, true) },
    // Three replicas without routing: what three processes cost by themselves (forwarding excluded).
    { name: 'cluster-no-routing', start: (sinkPort) => startCluster(sinkPort, false) },
  ];
  const targets = allTargets.filter((t) => only.has(t.name));

  const pool = generateRequestPool({ count: 64, spansPerRequest: spans, seed: 1 });
  const results: Array<{ target: string; run: number; spans: number; spansPerSecond: number; cpuSecondsPerMillionSpans: number; forwardedShare: number; forwardFailures: number; failureReasons: Record<string, number>; exported: number; accepted: number; peakRssMiB: number }> = [];
  for (let run = 1; run <= runs; run++) {
    for (const target of targets) {
      log(`${target.name} #${run}: ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s …`);
      const sink = await startRawServerProcess('grpc', undefined, { windowBytes: DEFAULT_SINK_WINDOW_BYTES });
      let gateways: GatewayProcess[] = [];
      try {
        gateways = await target.start(sink.port);
        const bodies = pool.requests.map((b) => Buffer.from(b));
        const driver = freshIds(roundRobin(gateways.map((g) => createGrpcDriver({ address: g.grpcAddress }))), bodies);
        const cpu = async (): Promise<number> => (await Promise.all(gateways.map(async (g) => (await g.metrics()).get('process_cpu_seconds_total') ?? NaN))).reduce((a, b) => a + b, 0);
        let cpu0 = NaN;
        let cpu1 = NaN;
        let peak = 0;
        const load = await runLoad({
          driver,
          bodies,
          spansPerRequest: spans,
          concurrency,
          ...(rate !== undefined && { requestsPerSecond: rate }),
          warmupMs,
          durationMs,
          onWindowStart: async () => void (cpu0 = await cpu()),
          onWindowEnd: async () => void (cpu1 = await cpu()),
          onTick: () => void (peak = Math.max(peak, ...gateways.map((g) => readProcMemory(g.pid)?.rssBytes ?? 0))),
        }).finally(() => driver.close());
        // Let the last decisions (decisionWait 1 s) and exports happen before reading the totals.
        await new Promise((r) => setTimeout(r, 3000));
        const ms = await Promise.all(gateways.map((g) => g.metrics()));
        const sum = (name: string): number => ms.reduce((a, m) => a + (m.get(name) ?? 0), 0);
        const routed = sum('cluster_routed_spans_total');
        const r = {
          target: target.name,
          run,
          spans: load.spans,
          spansPerSecond: load.spansPerSecond,
          cpuSecondsPerMillionSpans: ((cpu1 - cpu0) / load.spans) * 1e6,
          forwardedShare: routed > 0 ? (await Promise.all(gateways.map(forwardedSpans))).reduce((a, b) => a + b, 0) / routed : 0,
          forwardFailures: sum('cluster_forward_failures_total'),
          failureReasons: await failureReasons(gateways),
          accepted: sum('receiver_accepted_items_total'),
          exported: sum('exporter_sent_items_total'),
          peakRssMiB: peak / 2 ** 20,
        };
        results.push(r);
        log(`  ${r.spansPerSecond.toFixed(0)} spans/s, ${r.cpuSecondsPerMillionSpans.toFixed(2)} CPU s/Mspans, forwarded ${(100 * r.forwardedShare).toFixed(1)}%, forward failures ${r.forwardFailures} ${JSON.stringify(r.failureReasons)}, exported ${r.exported}/${r.accepted}`);
      } finally {
        await Promise.all(gateways.map((g) => g.stop()));
        await sink.stop();
      }
    }
  }
  const med = (name: string, f: (r: (typeof results)[number]) => number): number => median(results.filter((r) => r.target === name).map(f));
  const single = med('single', (r) => r.cpuSecondsPerMillionSpans);
  const noRouting = med('cluster-no-routing', (r) => r.cpuSecondsPerMillionSpans);
  const cluster = med('cluster', (r) => r.cpuSecondsPerMillionSpans);
  const share = med('cluster', (r) => r.forwardedShare);
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    spansPerRequest: spans,
    concurrency,
    workers,
    requestsPerSecond: rate ?? null,
    single: { cpuSecondsPerMillionSpans: single, spansPerSecond: med('single', (r) => r.spansPerSecond) },
    cluster: { cpuSecondsPerMillionSpans: cluster, spansPerSecond: med('cluster', (r) => r.spansPerSecond), forwardedShare: share },
    /** CPU s per million spans read as µs per span: the extra per span, and per forwarded span. */
    extraMicrosPerSpan: cluster - single,
    extraMicrosPerForwardedSpan: share > 0 ? (cluster - single) / share : NaN,
    clusterNoRouting: { cpuSecondsPerMillionSpans: noRouting },
    /** Against three replicas that do not route: the forwarding alone. */
    routingMicrosPerForwardedSpan: share > 0 ? (cluster - noRouting) / share : NaN,
  };
  const out = join(packageRoot, 'bench', 'results', `${summary.date.replace(/[:.]/g, '-')}-cluster.json`);
  mkdirSync(join(packageRoot, 'bench', 'results'), { recursive: true });
  writeFileSync(out, JSON.stringify({ summary, runs: results }, null, 2));
  process.stdout.write(
    [
      `single  ${single.toFixed(2)} CPU s/Mspans (${summary.single.spansPerSecond.toFixed(0)} spans/s)`,
      `cluster ${cluster.toFixed(2)} CPU s/Mspans over 3 replicas (${summary.cluster.spansPerSecond.toFixed(0)} spans/s), ${(100 * share).toFixed(1)}% of spans forwarded`,
      `forwarding: +${summary.extraMicrosPerSpan.toFixed(2)} µs CPU per span, +${summary.extraMicrosPerForwardedSpan.toFixed(2)} µs per forwarded span against one replica (target ≤ 1.5)`,
      `three replicas without routing ${noRouting.toFixed(2)} CPU s/Mspans: routing alone +${summary.routingMicrosPerForwardedSpan.toFixed(2)} µs per forwarded span`,
      `results: ${out}`,
      '',
    ].join('\n'),
  );
  return 0;
}

/** The `cluster` section of replica i (self id, the peer list, the peers' mTLS files). */
function clusterSection(self: string, i: number, ids: string[], ports: number[], files: { ca: string; peers: Record<string, { cert: string; key: string }> }): string[] {
  return [
    'cluster:',
    `  self: ${self}`,
    `  listen: 127.0.0.1:${ports[i]}`,
    '  peers:',
    ...ids.map((id, k) => `    - { id: ${id}, endpoint: "127.0.0.1:${ports[k]}" }`),
    '  tls:',
    `    certFile: ${files.peers[self]!.cert}`,
    `    keyFile: ${files.peers[self]!.key}`,
    `    caFile: ${files.ca}`,
    '    peerNames: ["spiffe://stella.local/peer/*"]',
    // Generous probes: a busy bench machine must not flap the membership.
    '  probeInterval: 1s',
    '  probeTimeout: 1s',
    '  probeMisses: 3',
  ];
}

/** Forward failures by reason, summed over the gateways (for the log). */
async function failureReasons(gateways: GatewayProcess[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const g of gateways) {
    const text = (await httpGet(`${g.adminUrl}/metrics`)).body;
    for (const m of text.matchAll(/^cluster_forward_failures_total\{reason="(\w+)"\} (\S+)$/gm)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

/** The forwarded spans of one gateway (the harness's parser sums over label sets). */
async function forwardedSpans(g: GatewayProcess): Promise<number> {
  const text = (await httpGet(`${g.adminUrl}/metrics`)).body;
  const m = /^cluster_routed_spans_total\{route="forwarded"\} (\S+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

runAsScript('cluster', import.meta.url, main, USAGE);
