// The CLI as users run it: `node dist/src/cli/main.js telemetry …` in a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const bin = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const example = join(packageRoot, 'stella.example.yaml');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: tmpdir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`stella ${args.join(' ')} did not exit within ${timeoutMs}ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A running `serve`: its JSON log lines as they arrive, and its exit. */
function serve(args: string[]): { child: ChildProcess; lines: Record<string, unknown>[]; stderr: () => string; waitFor: (msg: string) => Promise<Record<string, unknown>>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, 'telemetry', 'serve', ...args], { cwd: tmpdir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  let pending = '';
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    raw += d.toString();
    pending += d.toString();
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        lines.push(obj);
        for (const w of waiters.filter((w) => w.msg === obj.msg)) w.resolve(obj);
      } catch {
        // not a log line
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitFor = (msg: string): Promise<Record<string, unknown>> => {
    const seen = lines.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      waiters.push({ msg, resolve });
      void exited.then((code) => reject(new Error(`serve exited (${code}) before logging "${msg}"; stderr: ${raw}`)));
    });
  };
  return { child, lines, stderr: () => raw, waitFor, exited };
}

// Without tap's NODE_OPTIONS (its process-info hook), as a user runs it; it also starts much faster.
const env = { ...process.env, NODE_OPTIONS: '' };

const ephemeral = ['--grpc', '127.0.0.1:0', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--workers', '1'];

t.test('help', async (t) => {
  const top = await run(['telemetry', '--help']);
  t.equal(top.code, 0);
  t.match(top.stdout, /Usage: stella telemetry <command>/);
  t.match(top.stdout, /^ {2}serve +run the gateway$/m);
  t.match(top.stdout, /^ {2}config validate +check a config file/m);
  t.equal(top.stderr, '');

  const s = await run(['telemetry', 'serve', '--help']);
  t.equal(s.code, 0);
  for (const flag of ['--config FILE', '--profile P', '--grpc HOST:PORT', '--http HOST:PORT', '--admin HOST:PORT', '--data-dir DIR', '--policies DIR', '--export URL', '--log-level LEVEL', '--workers N']) {
    t.ok(s.stdout.includes(flag), `serve --help documents ${flag}`);
  }
  const v = await run(['telemetry', 'config', 'validate', '-h']);
  t.equal(v.code, 0);
  t.match(v.stdout, /^Usage: stella telemetry config validate FILE \[--profile/);

  const none = await run([]);
  t.equal(none.code, 2, 'no command is a usage error');
  t.match(none.stderr, /Usage: stella telemetry <command>/);
});

t.test('unknown commands and flags exit 2 with a clear message', async (t) => {
  const cases: [string[], RegExp][] = [
    [['telemetry', 'frobnicate'], /^stella telemetry: unknown command "frobnicate"\nRun "stella telemetry --help"/],
    [['telemetry', 'serv'], /unknown command "serv" \(did you mean "serve"\?\)/],
    [['telemetri', 'serve'], /^stella: unknown command "telemetri" \(did you mean "telemetry"\?\)/],
    [['serve', '--grpc', '127.0.0.1:1'], /^stella: unknown command "serve" \(did you mean "stella telemetry serve --grpc 127\.0\.0\.1:1"\?\)/],
    [['telemetry', 'serve', '--workers', 'abc'], /^stella telemetry serve: --workers: expected an integer from 0 \(one per core\) to 1024 \(got "abc"\)\nRun "stella telemetry serve --help" for its options\./],
    [['telemetry'], /Commands:/],
    [['telemetry', 'config'], /^stella telemetry config: expected a subcommand: validate/],
    [['telemetry', 'config', 'check', 'x.yaml'], /^stella telemetry config: unknown command "check"/],
    [['telemetry', '--verbose'], /^stella telemetry: unknown option "--verbose"/],
    [['telemetry', 'serve', '--gprc', '127.0.0.1:1'], /^stella telemetry serve: unknown option "--gprc" \(did you mean "--grpc"\?\)\nRun "stella telemetry serve --help" for its options\./],
    [['telemetry', 'serve', '--grpc'], /^stella telemetry serve: option '--grpc <value>' argument missing/],
    [['telemetry', 'serve', 'extra'], /^stella telemetry serve: unexpected argument "extra"/],
    [['telemetry', 'config', 'validate'], /^stella telemetry config validate: expected the config FILE to validate/],
    [['telemetry', 'config', 'validate', 'a.yaml', 'b.yaml'], /expected one FILE \(got 2\)/],
    [['telemetry', 'config', 'validate', example, '--strict'], /unknown option "--strict"/],
  ];
  await Promise.all(
    cases.map(async ([args, message]) => {
      const r = await run(args);
      t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
      t.match(r.stderr, message, `${args.join(' ')}: message`);
      t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
    }),
  );
});

t.test('config validate: a good file', async (t) => {
  const r = await run(['telemetry', 'config', 'validate', example]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^OK: ${example.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(profile default\\)\n`));
  t.match(r.stdout, /^ {2}grpc {3}127\.0\.0\.1:4317/m);
  t.match(r.stdout, /^ {2}tempo {2}otlp-grpc 127\.0\.0\.1:14317/m);
  t.match(r.stdout, /^ {2}local-archive {2}file \//m, 'file exporter directories are shown resolved');
  t.equal(r.stderr, '');

  const airgap = await run(['telemetry', 'config', 'validate', example, '--profile', 'airgap']);
  t.equal(airgap.code, 0, airgap.stderr);
  t.match(airgap.stdout, /\(profile airgap\)/);
  t.notMatch(airgap.stdout, /otlp-grpc/, "the example's airgap overlay keeps only the file exporter");
});

t.test('config validate: bad files list every error and exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-cli-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    ['recievers: {}', 'exporters:', '  - { name: tempo, endpoint: "otlp-grpc://tempo:4317" }', '  - { kind: otlp-grpc, endpoint: x }', 'log: { level: loud }', ''].join('\n'),
  );
  const r = await run(['telemetry', 'config', 'validate', bad]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.same(r.stderr.trimEnd().split('\n'), [
    `${bad}: unknown key "recievers" (did you mean "receivers"?)`,
    `${bad}: log.level: expected one of fatal, error, warn, info, debug, trace, silent (got "loud")`,
    `${bad}: exporters[1].endpoint: expected host:port (got "x")`,
    `INVALID: ${bad} (3 errors)`,
  ]);

  const syntax = join(dir, 'syntax.yaml');
  writeFileSync(syntax, 'log:\n  level: info\nexporters: [a\n');
  const s = await run(['telemetry', 'config', 'validate', syntax]);
  t.equal(s.code, 1);
  t.match(s.stderr, new RegExp(`^${syntax.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `), 'file:line:column');

  const missing = await run(['telemetry', 'config', 'validate', join(dir, 'nope.yaml')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /nope\.yaml: cannot read the config file: no such file/);

  const profile = await run(['telemetry', 'config', 'validate', example, '--profile', 'incident']);
  t.equal(profile.code, 1);
  t.match(profile.stderr, /--profile: expected one of default, forensic, airgap \(got "incident"\)/);
});

t.test('serve: a bad config exits 2 before starting anything', async (t) => {
  const r = await run(['telemetry', 'serve', '--grpc', 'x', '--export', 'ftp://y']);
  t.equal(r.code, 2);
  t.same(r.stderr.trimEnd().split('\n'), [
    'stella telemetry serve: --grpc: expected HOST:PORT (got "x")',
    'stella telemetry serve: --export: unsupported export scheme "ftp://" (expected otlp-grpc://host:port, otlp-http://host:port[/path], otlp-https://host[:port][/path] or file://DIR; got "ftp://y")',
    'Run "stella telemetry serve --help" for its options.',
  ]);
});

t.test('serve: ready, ingests, drains on SIGTERM and exits 0', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'stella-serve-'));
  const s = serve([...ephemeral, '--data-dir', dataDir]);
  t.teardown(() => s.child.kill('SIGKILL'));
  const ready = await s.waitFor('stella gateway ready');
  t.match(ready, { level: 'info', service: 'stella-gateway', profile: 'default', exporters: [`file file ${join(dataDir, 'export')}`] });
  const admin = `http://${String(ready.admin)}`;
  const http = `http://${String(ready.http)}`;
  t.match(String(ready.grpc), /^127\.0\.0\.1:\d+$/);

  const r = await fetch(`${admin}/readyz`);
  t.equal(r.status, 200);
  const span = {
    resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'cli', kind: 1, startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }],
  };
  const post = await fetch(`${http}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(span) });
  t.equal(post.status, 200);
  await post.arrayBuffer();

  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0, 'a clean drain exits 0');
  t.ok(s.lines.some((l) => l.msg === 'signal received: draining' && l.signal === 'SIGTERM'));
  t.same(readdirSync(join(dataDir, 'export')), ['traces'], 'the span reached the default file exporter before exit');
});

t.test('serve: a port in use is one clear line and exit 1', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const dataDir = mkdtempSync(join(tmpdir(), 'stella-serve-'));
  const r = await run(['telemetry', 'serve', ...ephemeral, '--http', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'silent']);
  t.equal(r.code, 1);
  const lines = r.stderr.trimEnd().split('\n');
  t.equal(lines.length, 1, `one line: ${r.stderr}`);
  t.match(lines[0], new RegExp(`^stella telemetry serve: cannot start: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
  // With warnings on, nothing blames the forensic tee: it had nothing to seal.
  const loud = await run(['telemetry', 'serve', ...ephemeral, '--http', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn']);
  t.equal(loud.code, 1);
  t.notMatch(loud.stderr, /shutdown deadline/);
  t.match(loud.stderr, /cannot start: .*EADDRINUSE/);
});

t.test('serve: a second signal exits 1 at once, without waiting for the drain', async (t) => {
  // An exporter that cannot connect keeps its batch queued, so the drain waits for the 30s deadline.
  const dir = mkdtempSync(join(tmpdir(), 'stella-serve-'));
  const config = join(dir, 'gw.yaml');
  writeFileSync(config, `shutdownTimeout: 30s\nexporterDefaults: { batch: { flushInterval: 10ms }, retry: { initialBackoff: 50ms, maxBackoff: 100ms } }\n`);
  const blackhole = createServer();
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  const deadPort = (blackhole.address() as { port: number }).port;
  await new Promise<void>((resolve) => blackhole.close(() => resolve()));

  const s = serve(['--config', config, ...ephemeral, '--data-dir', dir, '--export', `otlp-grpc://127.0.0.1:${deadPort}`]);
  t.teardown(() => s.child.kill('SIGKILL'));
  const ready = await s.waitFor('stella gateway ready');
  const post = await fetch(`http://${String(ready.http)}/v1/logs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: '1', body: { stringValue: 'queued' } }] }] }] }),
  });
  t.equal(post.status, 200);
  s.child.kill('SIGTERM');
  await s.waitFor('signal received: draining');
  const started = Date.now();
  s.child.kill('SIGINT');
  t.equal(await s.exited, 1);
  t.ok(Date.now() - started < 5000, 'did not wait for the 30s drain deadline');
  t.ok(s.lines.some((l) => l.msg === 'second signal: exiting without draining' && l.signal === 'SIGINT'), 'the log says why');
});
