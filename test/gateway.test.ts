// Start-up fails at each stage in turn (a broken policy, an exporter whose queue cannot open, broken
// tenants.yaml, a corrupt incident state, broken sampling.yaml, an occupied admin, gRPC or HTTP port),
// and each time nothing the gateway started is left behind: no SIGHUP handler (which would keep a
// reload running, and swallow the signal's default action), no listener, timer, watcher or worker
// thread, and the ports it bound are free again. Then a full start and stop leaves nothing either.
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createHook } from 'node:async_hooks';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { GatewayConfig } from '../src/config/types.js';
import { exporterDefaults } from '../src/config/types.js';
import { startGateway } from '../src/gateway.js';
import { defaultPoliciesDir } from '../src/paths.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import { silentLogger, testConfig } from './helpers/gateway.js';

// Requests and callbacks that end by themselves; everything else (servers, sockets, timers, file
// watchers, worker threads, signal handles) stays until someone closes it. `Piscina` is the pool
// object itself (an AsyncResource, destroyed when collected); its threads are the WORKER entries.
const TRANSIENT = new Set(['Piscina', 'PROMISE', 'TickObject', 'Immediate', 'FSREQCALLBACK', 'FSREQPROMISE', 'GETADDRINFOREQWRAP', 'SHUTDOWNWRAP', 'WRITEWRAP', 'TCPCONNECTWRAP', 'ZLIB', 'TTYWRAP', 'PIPEWRAP']);

/**
 * Runs `run` while recording every async resource it creates, then waits until they are destroyed.
 * Returns the run's error and the types of what is still alive after `hungMs` (a leak; the wait is
 * long only so that a busy machine does not report one).
 */
async function leftBehind(run: () => Promise<unknown>, hungMs = 10_000): Promise<{ error: unknown; alive: string[] }> {
  const live = new Map<number, string>();
  let recording = true;
  const hook = createHook({
    init(id, type) {
      if (recording && !TRANSIENT.has(type)) live.set(id, type);
    },
    destroy(id) {
      live.delete(id);
    },
  });
  hook.enable();
  let error: unknown;
  try {
    await run();
  } catch (err) {
    error = err;
  }
  recording = false;
  for (const until = Date.now() + hungMs; live.size > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
  hook.disable();
  return { error, alive: [...live.values()].sort() };
}

function listen(port = 0): Promise<Server> {
  const s = createServer();
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const portOf = (s: Server): number => (s.address() as { port: number }).port;
const close = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

/** A port nothing listens on now (the OS's choice, released at once). */
async function freePort(): Promise<number> {
  const s = await listen();
  const port = portOf(s);
  await close(s);
  return port;
}

/** A copy of the shipped policies directory with one file replaced. */
function policies(file?: string, text?: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'stella-start-')), 'policies');
  cpSync(defaultPoliciesDir, dir, { recursive: true });
  if (file !== undefined) writeFileSync(join(dir, file), text ?? '');
  return dir;
}

interface Case {
  stage: string;
  /** The start-up error names the cause. */
  error: RegExp;
  patch(c: GatewayConfig, blocked: number): void;
}

const cases: Case[] = [
  { stage: 'policy store', error: /invalid/i, patch: (c) => (c.policiesDir = policies('redaction.yaml', 'rules: 5\nversion: 1\n')) },
  {
    stage: 'exporters',
    error: /queue/i,
    patch: (c) => {
      // The persistent queue lives under <data-dir>/queue: a file there cannot become its directory.
      writeFileSync(join(c.dataDir, 'queue'), 'not a directory');
      const e = exporterDefaults('file');
      c.exporters = [{ ...e, name: 'durable', kind: 'file', endpoint: join(c.dataDir, 'out'), queue: { ...e.queue, persistent: true } }];
    },
  },
  { stage: 'tenant store', error: /tenants/i, patch: (c) => (c.policiesDir = policies('tenants.yaml', 'identities: 7\nversion: 1\n')) },
  {
    stage: 'incident store',
    error: /incident state/,
    patch: (c) => {
      mkdirSync(join(c.dataDir, 'incidents'), { recursive: true });
      writeFileSync(join(c.dataDir, 'incidents', 'state.json'), '{"version": 1, "incidents": [');
    },
  },
  {
    stage: 'sampling policy store',
    error: /sampling/i,
    patch: (c) => {
      c.sampling.enabled = true;
      c.policiesDir = policies('sampling.yaml', 'rules: nope\nversion: 1\n');
    },
  },
  { stage: 'admin listener', error: /EADDRINUSE/, patch: (c, blocked) => (c.admin.endpoint = { host: '127.0.0.1', port: blocked }) },
  { stage: 'gRPC receiver', error: /EADDRINUSE|address in use|No address added/i, patch: (c, blocked) => (c.receivers.grpc.endpoint = { host: '127.0.0.1', port: blocked }) },
  { stage: 'HTTP receiver', error: /EADDRINUSE/, patch: (c, blocked) => (c.receivers.http.endpoint = { host: '127.0.0.1', port: blocked }) },
];

for (const c of cases) {
  t.test(`start-up fails at the ${c.stage}: everything started before it is stopped`, async (t) => {
    // A port some other process holds (for the listener cases).
    const blocker = await listen();
    t.teardown(() => close(blocker));
    // The listeners that do start get ports chosen here, to check afterwards that they are free again.
    const ports = { admin: await freePort(), grpc: await freePort(), http: await freePort() };
    const config = testConfig([], (cfg) => {
      cfg.admin.endpoint = { host: '127.0.0.1', port: ports.admin };
      cfg.receivers.grpc.endpoint = { host: '127.0.0.1', port: ports.grpc };
      cfg.receivers.http.endpoint = { host: '127.0.0.1', port: ports.http };
      cfg.sampling.enabled = true;
      // The tee archives every tenant (its timers run from start).
      cfg.forensic.mode = 'always';
      c.patch(cfg, portOf(blocker));
    });
    const sighup = process.listenerCount('SIGHUP');
    // The registry is the caller's (its event-loop-delay monitor lives as long as the process).
    const metrics = createMetrics();
    const { error, alive } = await leftBehind(() => startGateway(config, { logger: silentLogger, metrics }));
    t.match(String(error), c.error, 'the start fails, naming the cause');
    t.equal(process.listenerCount('SIGHUP'), sighup, 'no SIGHUP handler left installed');
    t.same(alive, [], 'nothing left open (servers, timers, watchers, worker threads)');
    for (const [name, port] of Object.entries(ports)) {
      const again = await listen(port);
      await close(again);
      t.pass(`the ${name} port is free again`);
    }
  });
}

t.test('a full start and stop leaves nothing behind either', async (t) => {
  const config = testConfig([], (cfg) => {
    cfg.sampling.enabled = true;
    cfg.forensic.mode = 'always';
  });
  const sighup = process.listenerCount('SIGHUP');
  const metrics = createMetrics();
  const { error, alive } = await leftBehind(async () => {
    const gw = await startGateway(config, { logger: silentLogger, metrics });
    t.equal(process.listenerCount('SIGHUP'), sighup + 3, 'running, the three stores reload on SIGHUP');
    await gw.stop(5000);
  });
  t.equal(error, undefined);
  t.equal(process.listenerCount('SIGHUP'), sighup, 'no SIGHUP handler left installed');
  t.same(alive, [], 'nothing left open');
});
