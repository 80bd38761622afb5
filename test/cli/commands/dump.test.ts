// `stella telemetry dump`: what a real gateway wrote (file exporter and forensic archive) printed back as
// OTLP/JSON, filtered, limited, and a damaged file reported without losing the records before it.
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../../src/paths.js';
import { forensicDir } from '../../../src/tee/layout.js';
import { otlpJsonFixtures } from '../../helpers/fixtures.js';
import { startGateway } from '../../../src/gateway.js';
import { baseUrl, silentLogger, testConfig } from '../../helpers/gateway.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');

function dump(args: string[]): Promise<{ code: number | null; lines: string[]; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'telemetry', 'dump', ...args], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, lines: out.split('\n').filter((l) => l !== ''), err }));
  });
}

type Json = Record<string, unknown>;
const spanNames = (request: Json): string[] =>
  (request.resourceSpans as Json[]).flatMap((rs) => (rs.scopeSpans as Json[]).flatMap((ss) => (ss.spans as Json[]).map((s) => s.name as string)));

function files(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => f.endsWith(suffix) && statSync(f).isFile());
}

t.test('dump prints what the file exporter and the archive hold, as OTLP/JSON', async (t) => {
  const config = testConfig([], (c) => {
    c.forensic.mode = 'always';
  });
  const gw = await startGateway(config, { logger: silentLogger });
  const trace = readFileSync(join(otlpJsonFixtures, 'trace.json'));
  const logs = readFileSync(join(otlpJsonFixtures, 'logs.json'));
  for (const [path, body] of [['/v1/traces', trace], ['/v1/traces', trace], ['/v1/logs', logs]] as const) {
    const res = await fetch(baseUrl(gw, 'http') + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    t.equal(res.status, 200);
  }
  await gw.stop(10_000);
  const root = forensicDir(config);
  const exportDir = join(config.dataDir, 'export');
  const wanted = spanNames(JSON.parse(trace.toString()) as Json);

  const all = await dump([exportDir, '--meta']);
  t.equal(all.code, 0, all.err);
  const entries = all.lines.map((l) => JSON.parse(l) as { signal: string; tenant: string; file: string; request: Json });
  const traces = entries.filter((e) => e.signal === 'traces');
  t.ok(traces.length >= 1, 'the traces are there');
  t.same(traces.flatMap((e) => spanNames(e.request)), [...wanted, ...wanted], 'every span of both requests, in order');
  t.ok(entries.some((e) => e.signal === 'logs'), 'the logs are there');
  t.ok(entries.every((e) => e.tenant === 'default'));
  // Tenant stamping happened on the way: the dump shows the processed data.
  t.match(JSON.stringify(traces[0]!.request), /"tenant\.id"/);

  const onlyLogs = await dump([exportDir, '--signal', 'logs']);
  t.equal(onlyLogs.code, 0);
  t.ok(onlyLogs.lines.length >= 1 && onlyLogs.lines.every((l) => 'resourceLogs' in (JSON.parse(l) as Json)), 'plain OTLP/JSON requests, logs only');
  const one = await dump([exportDir, '--limit', '1']);
  t.equal(one.lines.length, 1);
  t.equal((await dump([exportDir, '--tenant', 'nobody'])).lines.length, 0);

  const archived = await dump([root, '--signal', 'traces']);
  t.equal(archived.code, 0, archived.err);
  t.same(archived.lines.flatMap((l) => spanNames(JSON.parse(l) as Json)), [...wanted, ...wanted], 'the archive holds the same spans');

  // A torn tail: the records before it are printed, the damage is named, exit 1.
  const segment = files(join(exportDir, 'traces'), '.pb')[0]!;
  appendFileSync(segment, Buffer.from([0xff, 0xff, 0x03, 0x01]));
  const torn = await dump([segment]);
  t.equal(torn.code, 1);
  t.ok(torn.lines.length >= 1, 'the intact records are printed');
  t.match(torn.err, `stella telemetry dump: ${segment}: record at byte`);
});

t.test('dump: usage and unreadable paths', async (t) => {
  const none = await dump([]);
  t.equal(none.code, 2);
  t.match(none.err, /expected at least one PATH/);
  const bad = await dump(['/nonexistent/x', '--signal', 'traces']);
  t.equal(bad.code, 1);
  t.match(bad.err, 'stella telemetry dump: /nonexistent/x: no such file or directory');
  const wrong = await dump([cli]);
  t.equal(wrong.code, 1);
  t.match(wrong.err, 'not a file exporter segment');
  t.equal((await dump(['x', '--signal', 'spans'])).code, 2);
});
