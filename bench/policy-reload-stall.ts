// How long a large policy reload stalls the gateway's event loop (issue 18, finding 4). A gateway in this
// process serves a steady HTTP load (small trace requests, --clients loops); its redaction.yaml gets
// --patterns custom patterns (within the policy.* limits) and a reload (SIGHUP). Reported:
//
//   - main-thread compile: the time loadPolicy takes for that directory on this thread, i.e. the stall
//     every reload caused when it compiled on the event loop;
//   - the same load without a reload (2,000 requests), for what the machine's other work costs the loop;
//   - reload: from the signal to the swap, the longest event-loop stall (perf_hooks
//     monitorEventLoopDelay, 10 ms resolution), the slowest request answered and the requests
//     acknowledged in that window.
//
//   node dist/bench/policy-reload-stall.js [--patterns 20000] [--clients 4]
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG, type GatewayConfig } from '../src/config/types.js';
import { startGateway } from '../src/gateway.js';
import { defaultPoliciesDir } from '../src/paths.js';
import { loadPolicy } from '../src/policy/load.js';
import { requestType } from '../src/process/wire/otlp-schema.js';
import { runAsScript } from './script.js';

const usage = 'node dist/bench/policy-reload-stall.js [--patterns 20000] [--clients 4]';

function withPatterns(n: number): string {
  const custom = Array.from({ length: n }, (_, i) => `  p${i}: { regex: "ORD${i}-[0-9]{8}", action: mask }\n`).join('');
  return readFileSync(join(defaultPoliciesDir, 'redaction.yaml'), 'utf8').replace('custom: {}\n', `custom:\n${custom}`);
}

function request(): Uint8Array {
  const type = requestType('traces');
  const spans = Array.from({ length: 10 }, (_, i) => ({
    traceId: Buffer.alloc(16, 1 + i),
    spanId: Buffer.alloc(8, 1 + i),
    name: `op ${i}`,
    attributes: [{ key: 'note', value: { stringValue: `order for jane@example.com from 10.0.0.${i}` } }],
  }));
  return type.encode(type.fromObject({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans }] }] })).finish();
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { patterns: { type: 'string', default: '20000' }, clients: { type: 'string', default: '4' } } });
  const patterns = Number(values.patterns);
  const clients = Number(values.clients);
  const dir = mkdtempSync(join(tmpdir(), 'stella-reload-stall-'));
  const policies = join(dir, 'policies');
  cpSync(defaultPoliciesDir, policies, { recursive: true });
  const big = join(dir, 'big');
  cpSync(defaultPoliciesDir, big, { recursive: true });
  const text = withPatterns(patterns);
  writeFileSync(join(big, 'redaction.yaml'), text);

  // 1. What the same compile costs on the main thread (the stall before).
  const t0 = performance.now();
  const sync = loadPolicy(big, 'default');
  const syncMs = performance.now() - t0;
  if (!sync.ok) throw new Error(sync.errors.join('\n'));

  // 2. The gateway under load, reloading it in its worker thread.
  const config: GatewayConfig = structuredClone(DEFAULT_CONFIG);
  config.dataDir = join(dir, 'data');
  config.policiesDir = policies;
  config.receivers.grpc.endpoint = { host: '127.0.0.1', port: 0 };
  config.receivers.http.endpoint = { host: '127.0.0.1', port: 0 };
  config.admin.endpoint = { host: '127.0.0.1', port: 0 };
  // No exporter: the gateway writes to files under the data dir.
  config.exporters = [];
  config.log.level = 'warn';
  const quiet = { info() {}, warn() {}, error() {}, debug() {} };
  const gw = await startGateway(config, { logger: quiet });
  const http = gw.addresses.http!;
  const admin = gw.addresses.admin!;
  const url = `http://${http.host}:${http.port}/v1/traces`;
  const body = request();
  let running = true;
  let window: { acked: number; slowestMs: number } | undefined;
  let acked = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      const start = performance.now();
      const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
      await res.arrayBuffer();
      if (res.status !== 200) continue;
      acked++;
      if (window) {
        window.acked++;
        window.slowestMs = Math.max(window.slowestMs, performance.now() - start);
      }
    }
  };
  const loops = Array.from({ length: clients }, loop);
  const version = async (): Promise<string | undefined> =>
    (await (await fetch(`http://${admin.host}:${admin.port}/metrics`)).text()).split('\n').find((l) => l.startsWith('policy_version_info{'));
  while (acked < 200) await new Promise((r) => setTimeout(r, 50));
  // The same load without a reload, for comparison: what the machine's other work costs the loop.
  const idle = monitorEventLoopDelay({ resolution: 10 });
  idle.enable();
  const idleUntil = acked + 2000;
  while (acked < idleUntil) await new Promise((r) => setTimeout(r, 50));
  idle.disable();
  const before = await version();
  writeFileSync(join(policies, '.redaction.tmp'), text);
  renameSync(join(policies, '.redaction.tmp'), join(policies, 'redaction.yaml'));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  window = { acked: 0, slowestMs: 0 };
  delay.enable();
  const r0 = performance.now();
  process.emit('SIGHUP', 'SIGHUP');
  while ((await version()) === before) await new Promise((r) => setTimeout(r, 20));
  const reloadMs = performance.now() - r0;
  delay.disable();
  const seen = window;
  window = undefined;
  running = false;
  await Promise.all(loops);
  await gw.stop(5000);
  rmSync(dir, { recursive: true, force: true });
  const report = {
    node: process.version,
    date: new Date().toISOString(),
    patterns,
    fileBytes: Buffer.byteLength(text),
    clients,
    mainThreadCompileMs: Math.round(syncMs),
    reloadMs: Math.round(reloadMs),
    withoutReload: { maxEventLoopStallMs: Math.round(idle.max / 1e6), p99EventLoopDelayMs: Math.round(idle.percentile(99) / 1e6) },
    maxEventLoopStallMs: Math.round(delay.max / 1e6),
    p99EventLoopDelayMs: Math.round(delay.percentile(99) / 1e6),
    requestsAckedDuringReload: seen.acked,
    slowestRequestDuringReloadMs: Math.round(seen.slowestMs),
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

runAsScript('policy-reload-stall', import.meta.url, main, usage);
