// Hostile bodies against a real gateway process (issue 18, finding 2): 150 concurrent 15 MiB bodies,
// then 150 concurrent gzip bombs, on each protocol, from admitted clients and from clients the gateway
// refuses (tenancy.anonymous: never); each scenario on a fresh gateway with the default limits
// (admit.maxInflightBytes 256 MiB, 16 MiB messages). Reports the gateway's peak RSS (VmHWM) against
// the target (budget + 150 MiB) and what the clients were answered.
//
//   npm run build && node dist/bench/hostile-bodies.js [--concurrency 150] [--mib 15]
import * as http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { grpcCall, httpPost, type RawAnswer } from '../test/helpers/raw-otlp-clients.js';
import { readProcMemory, startGatewayProcess, type GatewayProcess } from './gateway-process.js';

const MiB = 1024 * 1024;
const BUDGET = 256 * MiB; // the default admit.maxInflightBytes

const { values } = parseArgs({
  options: { concurrency: { type: 'string', default: '150' }, mib: { type: 'string', default: '15' } },
});
const N = Number(values.concurrency);
const SIZE = Number(values.mib) * MiB;

const large = Buffer.alloc(SIZE, 0);
// A bomb under the 16 MiB limit (admitted once inflated) and one far past it (refused while inflating).
const bombUnder = gzipSync(Buffer.alloc(SIZE), { level: 9 });
const bombOver = gzipSync(Buffer.alloc(512 * MiB), { level: 9 });

type Kind = 'bodies' | 'bombs';

async function scenario(protocol: 'grpc' | 'http', kind: Kind, refused: boolean): Promise<void> {
  let configFile: string | undefined;
  if (refused) {
    configFile = join(mkdtempSync(join(tmpdir(), 'stella-hostile-')), 'gateway.yaml');
    writeFileSync(configFile, 'tenancy:\n  anonymous: never\n');
  }
  const gw: GatewayProcess = await startGatewayProcess({ configFile, workers: 2 });
  const before = readProcMemory(gw.pid);
  let peakRss = before?.rssBytes ?? 0;
  const sampler = setInterval(() => {
    const m = readProcMemory(gw.pid);
    if (m) peakRss = Math.max(peakRss, m.rssBytes);
  }, 20);
  const sessions: http2.ClientHttp2Session[] = [];
  const started = Date.now();
  try {
    const calls: Promise<RawAnswer>[] = [];
    for (let i = 0; i < N; i++) {
      const body = kind === 'bodies' ? large : i % 2 === 0 ? bombUnder : bombOver;
      if (protocol === 'http') {
        calls.push(httpPost(gw.httpUrl, 'traces', body, kind === 'bombs' ? { 'content-encoding': 'gzip' } : {}, 300_000));
      } else {
        if (i % 15 === 0) {
          const s = http2.connect(`http://${gw.grpcAddress}`, { maxSessionMemory: 4096 });
          s.on('error', () => {});
          sessions.push(s);
        }
        calls.push(grpcCall(sessions[sessions.length - 1]!, 'traces', body, { ...(kind === 'bombs' ? { encoding: 'gzip' } : {}), timeoutMs: 300_000 }));
      }
    }
    const answers = await Promise.all(calls);
    clearInterval(sampler);
    const seconds = (Date.now() - started) / 1000;
    const hwm = readProcMemory(gw.pid)?.hwmBytes ?? peakRss;
    const metrics = await gw.metrics();
    const counts = new Map<string, number>();
    for (const a of answers) {
      const key = a.status !== undefined ? String(a.status) : `error ${a.error}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const peak = Math.max(peakRss, hwm);
    const ok = peak <= BUDGET + 150 * MiB;
    console.log(
      `${protocol.padEnd(4)} ${kind.padEnd(6)} ${refused ? 'refused ' : 'admitted'}  peak RSS ${(peak / MiB).toFixed(0).padStart(4)} MiB ` +
        `(start ${((before?.rssBytes ?? 0) / MiB).toFixed(0)} MiB, target <= ${(BUDGET + 150 * MiB) / MiB} MiB: ${ok ? 'ok' : 'OVER'})  ` +
        `in-flight peak ${((metrics.get('admit_inflight_bytes_peak') ?? 0) / MiB).toFixed(0)} MiB  ${seconds.toFixed(1)} s  answers ${JSON.stringify(Object.fromEntries(counts))}`,
    );
  } finally {
    clearInterval(sampler);
    for (const s of sessions) s.destroy();
    await gw.stop(5000);
    if (configFile) rmSync(dirname(configFile), { recursive: true, force: true });
  }
}

console.log(`hostile bodies: ${N} concurrent, ${SIZE / MiB} MiB bodies; bombs ${(bombUnder.length / 1024).toFixed(0)} KiB -> ${SIZE / MiB} MiB and ${(bombOver.length / 1024).toFixed(0)} KiB -> 512 MiB; node ${process.version}, ${new Date().toISOString()}`);
for (const protocol of ['http', 'grpc'] as const) {
  for (const kind of ['bodies', 'bombs'] as const) {
    for (const refused of [false, true]) await scenario(protocol, kind, refused);
  }
}
