// The offline kit end to end, with real processes and files, as a sealed site would use it:
// `kit build` → copy to an empty directory → `kit verify` (and a tampered copy fails, naming the file)
// → extract with tar → install.sh with npm in offline mode, its registry an unreachable address and an
// empty cache (so nothing can come from anywhere but the kit) → start the installed gateway → an
// OpenTelemetry SDK exporter sends a span → stop (the tee seals its segment) → capture and verify with
// the installed CLI → start again → replay the capture into it → the span arrives a second time.
// Most of the time is npm unpacking the bundled dependencies (tens of seconds on a busy machine).
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { KIT_MANIFEST_NAME } from '../../src/kit/kit-manifest.js';
import { nextTarHeader, parseTarHeader, TAR_BLOCK } from '../../src/tee/tar.js';
import { generateSigningKeyPair } from '../../src/tee/sign.js';
import { packageRoot } from '../../src/paths.js';
import { freePort, httpGet, parseMetrics } from '../helpers/gateway-child.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const VERSION = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (a hung one is killed after `timeoutMs`). */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(c);
    let stdout = '';
    let stderr = '';
    c.stdout!.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    c.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    c.once('error', reject);
    c.once('close', (code) => {
      clearTimeout(timer);
      children.delete(c);
      resolve({ code, stdout, stderr });
    });
  });
}

const stella = (args: string[], cwd?: string) => run(process.execPath, [CLI, 'telemetry', ...args], { cwd });

/** The environment without npm's own variables (a test run by `npm test` inherits them), offline. */
function offlineNpmEnv(cache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, npm_config_offline: 'true', npm_config_registry: 'http://127.0.0.1:9/', npm_config_cache: cache, npm_config_update_notifier: 'false' };
}

/** Where the data of the entry `name` starts in the tar at `path`. */
function entryDataOffset(path: string, name: string): number {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(TAR_BLOCK);
    for (let at = 0; ; ) {
      readSync(fd, h, 0, TAR_BLOCK, at);
      const parsed = parseTarHeader(h, at);
      if (parsed.kind !== 'file') throw new Error(`${name} not found in ${path}`);
      if (parsed.name === name) return at + TAR_BLOCK;
      at = nextTarHeader(at, parsed.size);
    }
  } finally {
    closeSync(fd);
  }
}

/** Changes one byte of the file at `at` (flips a bit, so it surely differs). */
function flipByte(path: string, at: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x01;
    writeSync(fd, b, 0, 1, at);
  } finally {
    closeSync(fd);
  }
}

interface Gateway {
  stop(): Promise<number | null>;
  metrics(): Promise<Map<string, number>>;
}

/** The installed gateway, started as a user would (its bin) from the install prefix. */
async function startInstalled(prefix: string, ports: { grpc: number; http: number; admin: number }): Promise<Gateway> {
  const bin = join(prefix, 'node_modules', '.bin', 'stella');
  const c = spawn(bin, ['telemetry', 'serve', '--config', 'configs/forensic.yaml', '--grpc', `127.0.0.1:${ports.grpc}`, '--http', `127.0.0.1:${ports.http}`, '--admin', `127.0.0.1:${ports.admin}`], {
    cwd: prefix,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(c);
  let output = '';
  c.stdout!.on('data', (b: Buffer) => (output += b.toString('utf8')));
  c.stderr!.on('data', (b: Buffer) => (output += b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => (children.delete(c), resolve(code))));
  const admin = `http://127.0.0.1:${ports.admin}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (c.exitCode !== null || c.signalCode !== null) throw new Error(`the installed gateway exited at start-up:\n${output.slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`the installed gateway was not ready within 90 s:\n${output.slice(-4000)}`);
    if (await httpGet(`${admin}/readyz`, 1000).then((r) => r.status === 200, () => false)) break;
    // Polling another process's readiness: there is no event to wait for across processes.
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    stop: async () => {
      c.kill('SIGTERM');
      return exited;
    },
    metrics: async () => parseMetrics((await httpGet(`${admin}/metrics`)).body),
  };
}

// A hung step, not a slow machine, should fail this: npm's offline install alone took 70 s on two cores under eight parallel test runs.
t.setTimeout(600_000);

t.test('build, carry, verify, install offline, run, capture, replay', async (t) => {
  const started = Date.now();
  const base = mkdtempSync(join(tmpdir(), 'stella-kit-e2e-'));
  const keys = generateSigningKeyPair();
  writeFileSync(join(base, 'kit.pem'), keys.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(base, 'kit.pub.pem'), keys.publicKeyPem);
  const kitName = `stella-kit-${VERSION}.tar`;

  // Build (the connected side).
  mkdirSync(join(base, 'build'));
  const built = await stella(['kit', 'build', '--key', join(base, 'kit.pem'), '--out', join(base, 'build', kitName)]);
  t.equal(built.code, 0, `kit build: ${built.stderr}`);
  t.match(built.stdout, /bundles \d+ production dependencies/);
  for (const f of ['install.sh', 'COMPLIANCE.md', 'README.txt', `packages/stella-telemetry-gateway-${VERSION}.tgz`, 'configs/default.yaml', 'configs/forensic.yaml', 'configs/airgap.yaml', 'policies/redaction.yaml', 'dashboards/grafana/stella-ingestion.json', 'alerts/prometheus/stella-rules.yml']) {
    t.match(built.stdout, new RegExp(`^  ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  \\d+$`, 'm'), `the kit holds ${f}`);
  }

  // Carry: a copy in an empty directory verifies.
  const site = mkdtempSync(join(tmpdir(), 'stella-kit-site-'));
  // The install holds ~25 MB of node_modules: removed when the test ends (the build dir too).
  t.teardown(() => {
    rmSync(site, { recursive: true, force: true });
    rmSync(base, { recursive: true, force: true });
  });
  const kit = join(site, kitName);
  copyFileSync(join(base, 'build', kitName), kit);
  const verified = await stella(['kit', 'verify', kit, '--key', join(base, 'kit.pub.pem')]);
  t.equal(verified.code, 0, `kit verify: ${verified.stderr}`);
  t.match(verified.stdout, /^OK: .* signed by key [0-9a-f]{64}\n.*\d+ files verified/);

  // One changed byte in one file: verify fails and names that file.
  const tampered = join(base, `tampered-${kitName}`);
  copyFileSync(kit, tampered);
  flipByte(tampered, entryDataOffset(tampered, 'configs/airgap.yaml') + 100);
  const bad = await stella(['kit', 'verify', tampered, '--key', join(base, 'kit.pub.pem')]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^FAILED tampered-file: tampered file: configs\/airgap\.yaml has sha256 [0-9a-f]{64} \(\d+ bytes\), the manifest says [0-9a-f]{64}/m);
  t.match(bad.stderr, /INVALID: .*\(1 failure\)/);
  // The manifest itself changed: the signature no longer covers it.
  copyFileSync(kit, tampered);
  flipByte(tampered, entryDataOffset(tampered, KIT_MANIFEST_NAME) + 40);
  const badManifest = await stella(['kit', 'verify', tampered, '--key', join(base, 'kit.pub.pem')]);
  t.equal(badManifest.code, 1);
  t.match(badManifest.stderr, /FAILED tampered-manifest: tampered manifest: kit-manifest\.json has sha256/);

  // Install with npm offline: unreachable registry, empty cache.
  const extracted = join(site, 'kit');
  mkdirSync(extracted);
  const untar = await run('tar', ['-xf', kit, '-C', extracted]);
  t.equal(untar.code, 0, untar.stderr);
  const prefix = join(site, 'opt-stella');
  const cache = join(site, 'empty-npm-cache');
  const installStarted = Date.now();
  const install = await run('sh', [join(extracted, 'install.sh'), prefix], { env: offlineNpmEnv(cache), timeoutMs: 170_000 });
  const installMs = Date.now() - installStarted;
  t.equal(install.code, 0, `install.sh:\n${install.stdout}\n${install.stderr}`);
  t.match(install.stdout, new RegExp(`installed stella-telemetry-gateway ${VERSION.replace(/\./g, '\\.')} in `));
  t.ok(existsSync(join(prefix, 'node_modules', 'stella-telemetry-gateway', 'node_modules', '@grpc', 'grpc-js', 'package.json')), 'the dependencies came from the bundle');
  t.ok(existsSync(join(prefix, 'configs', 'airgap.yaml')) && existsSync(join(prefix, 'policies', 'redaction.yaml')), 'configs and policies are in place');
  t.ok(existsSync(join(prefix, `kit-${VERSION}`, 'COMPLIANCE.md')), 'the kit reference copy is kept');
  const installedStella = (args: string[]) => run(join(prefix, 'node_modules', '.bin', 'stella'), ['telemetry', ...args], { cwd: prefix });
  const version = await installedStella(['--help']);
  t.equal(version.code, 0);

  // Run the installed gateway (forensic profile: every tenant archived) and send it a span.
  const ports = { grpc: await freePort(), http: await freePort(), admin: await freePort() };
  let gateway = await startInstalled(prefix, ports);
  const spanName = `kit-offline-${process.pid}-${Date.now()}`;
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'kit-test' }), spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
  provider.getTracer('kit').startSpan(spanName, { kind: SpanKind.SERVER }).end();
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${ports.grpc}` });
  const sent = await new Promise<ExportResult>((resolve) => exporter.export(memory.getFinishedSpans(), resolve));
  await exporter.shutdown();
  await provider.shutdown();
  t.equal(sent.code, ExportResultCode.SUCCESS, `the gateway acknowledged the span: ${sent.error?.message ?? ''}`);
  t.equal(await gateway.stop(), 0, 'the gateway drained and exited 0');

  // Capture with the site's own key, verify it (what is carried back).
  const site_keys = await installedStella(['keys', 'init', '--out', 'keys']);
  t.equal(site_keys.code, 0, site_keys.stderr);
  const capture = join(site, 'capture.tar');
  const captured = await installedStella(['capture', '--tenant', 'default', '--out', capture, '--key', 'keys/signing-key.pem', '--config', 'configs/forensic.yaml']);
  t.equal(captured.code, 0, captured.stderr);
  t.match(captured.stdout, /spans 1,/);
  const capVerified = await installedStella(['verify', capture, '--key', 'keys/signing-key.pub.pem']);
  t.equal(capVerified.code, 0, capVerified.stderr);
  t.match(capVerified.stdout, /spans 1, data points 0, log records 0/);

  // Replay it into the installed gateway, started again.
  gateway = await startInstalled(prefix, ports);
  const replayed = await installedStella(['replay', capture, '--key', 'keys/signing-key.pub.pem', '--export', `otlp-grpc://127.0.0.1:${ports.grpc}`]);
  t.equal(replayed.code, 0, replayed.stderr);
  t.match(replayed.stdout, /1 requests \(spans 1, data points 0, log records 0\)/);
  const m = await gateway.metrics();
  t.equal(m.get('receiver_accepted_items_total{signal="traces",tenant="default",protocol="grpc"}'), 1, 'the restarted gateway accepted the replayed span');
  t.equal(await gateway.stop(), 0);
  const dumped = await installedStella(['dump', 'data/export']);
  t.equal(dumped.code, 0, dumped.stderr);
  t.equal(dumped.stdout.split(`"name":"${spanName}"`).length - 1, 2, 'the span was exported twice: sent, then replayed');

  t.comment(`kit ${readFileSync(kit).length} bytes; install ${installMs} ms; whole flow ${Date.now() - started} ms`);
});
