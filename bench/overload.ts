// Overload bench (docs/guides/overload.md, issue 18 finding 5): does throughput level off past saturation?
//
//   node dist/bench/overload.js [--protocol grpc|http] [--factor 2] [--overload 30s] [--deadline 10s]
//
// 1. Starts the gateway (child process, exporting to the null sink) and finds its saturated throughput:
//    a closed loop with --concurrency requests in flight for --saturate (after --warmup).
// 2. Offers --factor × that load as an open loop (arrivals at a fixed rate, whatever the answers) for
//    --overload, every request with the client deadline --deadline (the OTLP SDK default is 10 s): over
//    gRPC a real call deadline (grpc-timeout), over HTTP the client gives up and closes the request as the
//    OTLP/HTTP exporter does. Clients do not retry (the offered load stays what it is said to be).
// 3. Reports the goodput (spans acknowledged per second) over time against the saturated throughput, the
//    refusals, the gateway's PROCESSING_TIMEOUTs and dropped tasks, and the requests acknowledged after
//    their deadline: acknowledged by the gateway (receiver_accepted_items_total) or exported
//    (exporter_sent_items_total) beyond what the clients saw acknowledged in time. Those are what
//    clients retry as duplicates.
import * as grpc from '@grpc/grpc-js';
import { readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';
import { SIGNAL_WIRE } from '../src/signals.js';
import { parseDuration } from '../src/config/units.js';
import { defaultPoolSize, generateRequestPool } from './generate.js';
import { httpGet, startGatewayProcess, startRawServerProcess, type GatewayProcess } from './gateway-process.js';
import { runAsScript } from './script.js';

const USAGE = `usage: node dist/bench/overload.js [options]
  --protocol grpc|http   OTLP/gRPC (default) or OTLP/HTTP protobuf
  --spans N              spans per request (500)
  --concurrency N        requests in flight while finding saturation (8: on one gRPC connection more in flight
                         gives less throughput here, before and after the overload work)
  --warmup D             load before the saturation window (3s)
  --saturate D           saturation window (10s)
  --factor X             offered load in the overload phase, × saturation (2)
  --overload D           overload phase (30s)
  --deadline D           each request's client deadline (10s)
  --workers N            gateway worker threads (default: the gateway's)
  --config FILE          gateway config file (e.g. another process.maxQueueWait)
  --max-outstanding N    open-loop requests in flight at most; arrivals beyond are counted as skipped (20000)
  --node-arg FLAG        a flag for the gateway's node, repeatable (e.g. --node-arg=--cpu-prof --node-arg=--cpu-prof-dir=DIR)`;

type Answer = { ok: true } | { ok: false; code: string };

interface Client {
  send(body: Buffer, deadlineMs: number): Promise<Answer>;
  close(): void;
}

function grpcClient(address: string): Client {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
  const identity = (b: Buffer): Buffer => b;
  return {
    send(body, deadlineMs) {
      return new Promise((resolve) => {
        client.makeUnaryRequest(SIGNAL_WIRE.traces.grpcPath, identity, identity, body, { deadline: Date.now() + deadlineMs }, (err) =>
          resolve(err ? { ok: false, code: `grpc_${(grpc.status[err.code] ?? String(err.code)).toLowerCase()}` } : { ok: true }),
        );
      });
    },
    close: () => client.close(),
  };
}

function httpClient(baseUrl: string, maxSockets: number): Client {
  const url = new URL(SIGNAL_WIRE.traces.httpPath, baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: 256 });
  return {
    send(body, deadlineMs) {
      return new Promise((resolve) => {
        let settled = false;
        const settle = (a: Answer): void => {
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            resolve(a);
          }
        };
        const req = http.request(
          { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-length': String(body.length) } },
          (res) => {
            res.on('data', () => {});
            res.on('end', () => settle(res.statusCode === 200 ? { ok: true } : { ok: false, code: `http_${res.statusCode}` }));
            res.on('error', () => settle({ ok: false, code: 'response_error' }));
          },
        );
        // The OTLP/HTTP exporter's timeout: it aborts the request (the connection closes) and gives up.
        const timer = setTimeout(() => {
          settle({ ok: false, code: 'client_timeout' });
          req.destroy();
        }, deadlineMs);
        req.on('error', (e: NodeJS.ErrnoException) => settle({ ok: false, code: e.code ?? 'request_error' }));
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}

/** Sample lines of one metric, by a label's value. */
function byLabel(text: string, metric: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const m = new RegExp(`${label}="([^"]*)"`).exec(line);
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (m && Number.isFinite(value)) out[m[1]!] = (out[m[1]!] ?? 0) + value;
  }
  return out;
}

function sum(text: string, metric: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

/** utime + stime of a /proc/<pid>[/task/<tid>]/stat line, in seconds (clock ticks of 10 ms). */
function statCpuSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds this process (the clients) has used so far. */
function clientCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** CPU seconds a process has used so far; NaN when unreadable. */
function procCpuSeconds(pid: number): number {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return NaN;
  }
}

/** CPU seconds per thread name of a process so far (/proc/<pid>/task/<tid>/{comm,stat}); threads of one name summed. */
function threadCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out[name] = (out[name] ?? 0) + statCpuSeconds(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Cores used by the gateway, this process (the clients) and the sink between two readings. */
interface CpuShare {
  gateway: number;
  client: number;
  sink: number;
  /** The gateway's cores by thread name (MainThread, the workers, libuv's pool, V8's helpers). */
  threads: Record<string, number>;
}

function duration(flag: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new Error(`--${flag}: expected a duration such as 10s (got "${value}")`);
  return ms;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      protocol: { type: 'string', default: 'grpc' },
      spans: { type: 'string', default: '500' },
      concurrency: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '3s' },
      saturate: { type: 'string', default: '10s' },
      factor: { type: 'string', default: '2' },
      overload: { type: 'string', default: '30s' },
      deadline: { type: 'string', default: '10s' },
      workers: { type: 'string' },
      config: { type: 'string' },
      'max-outstanding': { type: 'string', default: '20000' },
      'node-arg': { type: 'string', multiple: true, default: [] },
    },
  });
  const protocol = values.protocol === 'http' ? 'http' : 'grpc';
  const spans = Number(values.spans);
  const concurrency = Number(values.concurrency);
  const factor = Number(values.factor);
  const warmupMs = duration('warmup', values.warmup);
  const saturateMs = duration('saturate', values.saturate);
  const overloadMs = duration('overload', values.overload);
  const deadlineMs = duration('deadline', values.deadline);
  const maxOutstanding = Number(values['max-outstanding']);
  const log = (s: string): void => void process.stderr.write(`${s}\n`);

  const pool = generateRequestPool({ spansPerRequest: spans, count: defaultPoolSize(spans) });
  const sink = await startRawServerProcess('grpc');
  let gw: GatewayProcess | undefined;
  try {
    gw = await startGatewayProcess({
      exportUrl: `otlp-grpc://${sink.address}`,
      ...(values.workers ? { workers: Number(values.workers) } : {}),
      ...(values.config ? { configFile: values.config } : {}),
      nodeArgs: values['node-arg']!,
    });
    const client = protocol === 'grpc' ? grpcClient(gw.grpcAddress) : httpClient(gw.httpUrl, maxOutstanding);
    let next = 0;
    const body = (): Buffer => pool.requests[next++ % pool.requests.length]!;
    // The clients run on the same cores as the gateway: what each used, per phase, says whether a phase
    // left the gateway less CPU (the clients sending twice as much) or the gateway did less with it.
    const gatewayPid = gw.pid;
    const cpuNow = (): { at: number } & CpuShare => ({
      at: performance.now(),
      gateway: procCpuSeconds(gatewayPid),
      threads: threadCpuSeconds(gatewayPid),
      client: clientCpuSeconds(),
      sink: procCpuSeconds(sink.pid),
    });
    const cores = (a: { at: number } & CpuShare, b: { at: number } & CpuShare): CpuShare => {
      const s = (b.at - a.at) / 1000;
      const threads: Record<string, number> = {};
      for (const [name, cpu] of Object.entries(b.threads)) threads[name] = (cpu - (a.threads[name] ?? 0)) / s;
      return { gateway: (b.gateway - a.gateway) / s, client: (b.client - a.client) / s, sink: (b.sink - a.sink) / s, threads };
    };
    const shares: Record<string, CpuShare> = {};
    // Every answer, with when it came (ms since start) and how long it took.
    const t0 = performance.now();
    const now = (): number => performance.now() - t0;
    const answers: { at: number; latency: number; answer: Answer }[] = [];
    let okSpans = 0;
    const send = async (): Promise<void> => {
      const sent = now();
      const answer = await client.send(body(), deadlineMs);
      const at = now();
      answers.push({ at, latency: at - sent, answer });
      if (answer.ok) okSpans += spans;
    };

    // 1. Saturation: a closed loop. Measured again after the overload phase (the machine is shared: the
    // reference is the mean of both, and both are reported).
    const closedLoop = async (label: string): Promise<number> => {
      const start = now();
      const windowStart = start + warmupMs;
      const windowEnd = windowStart + saturateMs;
      const first = answers.length;
      log(`overload: ${label}: ${concurrency} in flight, ${warmupMs / 1000}+${saturateMs / 1000} s`);
      let cpu0: ReturnType<typeof cpuNow> | undefined;
      const opens = setTimeout(() => (cpu0 = cpuNow()), warmupMs);
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (now() < windowEnd) await send();
        }),
      );
      clearTimeout(opens);
      if (cpu0) shares[label] = cores(cpu0, cpuNow());
      const mine = answers.slice(first);
      const ok = mine.filter((a) => a.answer.ok && a.at >= windowStart && a.at < windowEnd).length;
      const throughput = (ok * spans) / (saturateMs / 1000);
      log(`overload: ${label}: ${Math.round(throughput)} spans/s (${mine.filter((a) => !a.answer.ok).length} failed answers)`);
      return throughput;
    };
    log(`overload: ${protocol}, ${spans} spans/request`);
    const saturated = await closedLoop('saturation before');

    // 2. Overload: an open loop at factor × saturation, arrivals every 10 ms.
    const rate = (factor * saturated) / spans; // requests per second
    const phaseStart = now();
    const phaseEnd = phaseStart + overloadMs;
    let offered = 0;
    let skipped = 0;
    let outstanding = 0;
    const inFlight = new Set<Promise<void>>();
    const overloadCpu0 = cpuNow();
    log(`overload: offering ${factor}× = ${Math.round(rate * spans)} spans/s (${rate.toFixed(1)} requests/s) for ${overloadMs / 1000} s, deadline ${deadlineMs / 1000} s`);
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const t = now();
        const due = Math.floor(((Math.min(t, phaseEnd) - phaseStart) / 1000) * rate) - offered - skipped;
        for (let i = 0; i < due; i++) {
          if (outstanding >= maxOutstanding) {
            skipped++;
            continue;
          }
          offered++;
          outstanding++;
          const p = send().finally(() => {
            outstanding--;
            inFlight.delete(p);
          });
          inFlight.add(p);
        }
        if (t >= phaseEnd) {
          shares['overload'] = cores(overloadCpu0, cpuNow());
          clearInterval(tick);
          resolve();
        }
      }, 10);
    });
    await Promise.all([...inFlight]);
    const drained = now();
    const after = await closedLoop('saturation after');
    client.close();
    const reference = (saturated + after) / 2;

    // Wait (≤ 15 s) for the export queues to empty, then read the gateway's counters.
    let metrics = '';
    for (const end = Date.now() + 15_000; Date.now() < end; ) {
      metrics = (await httpGet(`${gw.adminUrl}/metrics`)).body;
      if (sum(metrics, 'exporter_queue_size_bytes') === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }

    // 3. Report.
    const phase = answers.filter((a) => a.at >= phaseStart && a.at <= drained);
    const seconds = Math.ceil((drained - phaseStart) / 1000);
    const perSecond = Array.from({ length: seconds }, () => ({ ok: 0, refused: 0, late: 0 }));
    const codes: Record<string, number> = {};
    let latestOk = 0;
    let okAfterDeadline = 0;
    for (const a of phase) {
      const s = perSecond[Math.min(seconds - 1, Math.floor((a.at - phaseStart) / 1000))]!;
      if (a.answer.ok) {
        s.ok += spans;
        latestOk = Math.max(latestOk, a.latency);
        if (a.latency > deadlineMs) okAfterDeadline++;
      } else {
        s.refused++;
        codes[a.answer.code] = (codes[a.answer.code] ?? 0) + 1;
      }
    }
    const full = Math.floor(overloadMs / 1000);
    const goodputs = perSecond.slice(0, full).map((s) => s.ok);
    const meanGoodput = goodputs.reduce((a, b) => a + b, 0) / Math.max(1, goodputs.length);
    const fives: number[] = [];
    for (let i = 0; i + 5 <= goodputs.length; i += 5) fives.push(goodputs.slice(i, i + 5).reduce((a, b) => a + b, 0) / 5);
    const accepted = sum(metrics, 'receiver_accepted_items_total');
    const exported = sum(metrics, 'exporter_sent_items_total');
    const tasks = byLabel(metrics, 'worker_pool_tasks_total', 'outcome');
    const droppedReason = byLabel(metrics, 'worker_pool_dropped_tasks_total', 'reason');
    const droppedStage = byLabel(metrics, 'worker_pool_dropped_tasks_total', 'stage');

    const out: string[] = [];
    out.push(`overload bench, ${new Date().toISOString()}, Node ${process.version}, ${protocol}, ${spans} spans/request, deadline ${deadlineMs / 1000} s`);
    out.push(`saturated throughput: ${Math.round(saturated)} spans/s before, ${Math.round(after)} after (closed loop, ${concurrency} in flight, ${saturateMs / 1000} s); reference ${Math.round(reference)}`);
    out.push(`offered: ${factor}× = ${Math.round(rate * spans)} spans/s for ${overloadMs / 1000} s (${offered} requests, ${skipped} skipped at ${maxOutstanding} outstanding)`);
    out.push(`goodput per 5 s (spans/s): ${fives.map((g) => Math.round(g)).join(', ')}`);
    const pct = (x: number): string => `${((100 * x) / reference).toFixed(1)}%`;
    const vs = (x: number): string => `${((100 * x) / saturated).toFixed(1)}% of before, ${((100 * x) / after).toFixed(1)}% of after`;
    out.push(`goodput mean ${Math.round(meanGoodput)} spans/s = ${pct(meanGoodput)} of saturation (${vs(meanGoodput)}); worst 5 s ${Math.round(Math.min(...fives))} = ${pct(Math.min(...fives))}; worst 1 s ${Math.round(Math.min(...goodputs))} = ${pct(Math.min(...goodputs))}`);
    const coreLine = (label: string): string => {
      const c = shares[label];
      if (!c) return `${label} not measured`;
      const threads = Object.entries(c.threads)
        .filter(([, v]) => v >= 0.01)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ');
      return `${label} gateway ${c.gateway.toFixed(2)} (${threads}), clients ${c.client.toFixed(2)}, sink ${c.sink.toFixed(2)}`;
    };
    for (const label of ['saturation before', 'overload', 'saturation after']) out.push(`cores used: ${coreLine(label)}`);
    const perCore = (spansPerSecond: number, label: string): string => `${Math.round(spansPerSecond / (shares[label]?.gateway ?? NaN))}`;
    out.push(`spans per gateway CPU second: before ${perCore(saturated, 'saturation before')}, overload ${perCore(meanGoodput, 'overload')}, after ${perCore(after, 'saturation after')}`);
    out.push(`refused in the overload phase: ${JSON.stringify(codes)}; slowest ok answer ${(latestOk / 1000).toFixed(2)} s; ok answers after the deadline (client-side) ${okAfterDeadline}`);
    out.push(`gateway: tasks ${JSON.stringify(tasks)}; dropped by reason ${JSON.stringify(droppedReason)}, by stage ${JSON.stringify(droppedStage)}`);
    out.push(
      `acknowledged after the deadline: gateway accepted ${accepted} spans, clients saw ${okSpans} acknowledged (difference ${accepted - okSpans} spans = ${((accepted - okSpans) / spans).toFixed(0)} requests); exported ${exported} spans (exported − acknowledged ${exported - okSpans})`,
    );
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    await gw?.stop().catch(() => {});
    await sink.stop().catch(() => {});
  }
}

runAsScript('overload', import.meta.url, main, USAGE);
