// Issue 18 findings 7 and 8: every bad capture input is refused, with the same message, by the CLI and
// by POST /admin/v1/captures (one function checks both); nothing is written outside the data dir; the
// window is bounded (future `to`, maximum span, `from` clamped to the archive's first record); bundles
// are 0600 in a 0700 dir; every capture, done or refused, leaves an audit line.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Fastify from 'fastify';
import { createAdminAuth, sha256Hex } from '../../src/admin/auth.js';
import { registerCaptureRoutes } from '../../src/admin/captures-routes.js';
import { stdio, UsageError } from '../../src/cli/command.js';
import { captureCommand } from '../../src/cli/commands/capture.js';
import { packageRoot } from '../../src/paths.js';
import { readHolds } from '../../src/tee/layout.js';
import { verifyBundle } from '../../src/tee/verify-bundle.js';
import { makeArchive, T0 } from './bundle-archive.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const archive = makeArchive();
const keyPath = join(archive.dataDir, 'keys', 'signing-key.pem');
mkdirSync(dirname(keyPath), { recursive: true });
writeFileSync(keyPath, archive.keys.privateKeyPem, { mode: 0o600 });
const auditFile = join(archive.dataDir, 'incidents', 'audit.log');
const FIRST = T0 - 2000; // acme's first archived record (bundle-archive.ts)

function runCli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, 'telemetry', 'capture', '--data-dir', archive.dataDir, '--key', keyPath, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The same command in this process (what main() does with it): fast enough to try every case. */
async function runCliInProcess(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const saved = { ...stdio };
  const out: string[] = [];
  const err: string[] = [];
  stdio.out = (l) => out.push(l);
  stdio.err = (l) => err.push(l);
  try {
    const code = await captureCommand.run(['--data-dir', archive.dataDir, '--key', keyPath, ...args]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } catch (e) {
    if (e instanceof UsageError) return { code: 2, out: out.join('\n'), err: [...err, `stella telemetry capture: ${e.message}`].join('\n') };
    throw e;
  } finally {
    Object.assign(stdio, saved);
  }
}

async function app() {
  const a = Fastify();
  registerCaptureRoutes(a, {
    authorize: createAdminAuth([{ name: 'op', sha256: sha256Hex('op-token'), role: 'operator', tenants: '*' }], { env: {} }).authorize,
    root: archive.root,
    capturesDir: join(archive.dataDir, 'captures'),
    signingKeyPath: keyPath,
    profile: 'default',
    auditFile,
  });
  await a.ready();
  return a;
}

function auditLines(): Record<string, unknown>[] {
  if (!existsSync(auditFile)) return [];
  return readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

const iso = (ms: number) => new Date(ms).toISOString();
const inWindow = { from: iso(T0), to: iso(T0 + 60_000) };

// [case, API body, CLI flags, expected message (the same on both, flags renamed)]
const bad: [string, Record<string, unknown>, string[], RegExp][] = [
  ['path traversal', { tenant: '../../../../../x', ...inWindow }, ['--tenant', '../../../../../x', '--from', inWindow.from, '--to', inWindow.to], /tenant: expected a tenant id .*\(got "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/x"\)/],
  ['dot-dot inside', { tenant: 'acme/../globex', ...inWindow }, ['--tenant', 'acme/../globex', '--from', inWindow.from, '--to', inWindow.to], /tenant: expected a tenant id .*\(got "acme\/\.\.\/globex"\)/],
  ['absolute path', { tenant: '/etc', ...inWindow }, ['--tenant', '/etc', '--from', inWindow.from, '--to', inWindow.to], /tenant: expected a tenant id .*\(got "\/etc"\)/],
  ['leading dot', { tenant: '.acme', ...inWindow }, ['--tenant', '.acme', '--from', inWindow.from, '--to', inWindow.to], /tenant: expected a tenant id/],
  ['the fleet', { tenant: '_all', ...inWindow }, ['--tenant', '_all', '--from', inWindow.from, '--to', inWindow.to], /tenant: expected a tenant id/],
  ['empty tenant', { tenant: '', ...inWindow }, ['--tenant', '', '--from', inWindow.from, '--to', inWindow.to], /tenant: expected a tenant id/],
  ['no tenant', { ...inWindow }, ['--from', inWindow.from, '--to', inWindow.to], /tenant: required/],
  ['bad time', { tenant: 'acme', from: 'yesterday', to: inWindow.to }, ['--tenant', 'acme', '--from', 'yesterday', '--to', inWindow.to], /from: expected an ISO 8601 time/],
  ['from after to', { tenant: 'acme', from: inWindow.to, to: inWindow.from }, ['--tenant', 'acme', '--from', inWindow.to, '--to', inWindow.from], /from: .* must be before to/],
  ['to in the future', { tenant: 'acme', from: inWindow.from, to: iso(Date.now() + 3_600_000) }, ['--tenant', 'acme', '--from', inWindow.from, '--to', iso(Date.now() + 3_600_000)], /to: .* is in the future .*forensic\.captures\.maxFutureSkew/],
  ['year -271821', { tenant: 'acme', from: '-271821-04-20T00:00:00.000Z' }, ['--tenant', 'acme', '--from=-271821-04-20T00:00:00.000Z'], /window: .* more than forensic\.captures\.maxWindow \(168h\)/],
  ['before the archive', { tenant: 'acme', from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z' }, ['--tenant', 'acme', '--from', '2020-01-01T00:00:00Z', '--to', '2020-01-02T00:00:00Z'], /window: .* ends before tenant acme's first archived record/],
  ['bad signal', { tenant: 'acme', ...inWindow, signals: ['profiles'] }, ['--tenant', 'acme', '--from', inWindow.from, '--to', inWindow.to, '--signal', 'profiles'], /signals: expected a list of traces, metrics, logs/],
];

t.test('each bad input is refused by the API and the CLI with the same message, and audited', async (t) => {
  const a = await app();
  t.teardown(() => a.close());
  for (const [i, [name, body, flags, message]] of bad.entries()) {
    const before = auditLines().length;
    const res = await a.inject({ method: 'POST', url: '/admin/v1/captures', headers: { authorization: 'Bearer op-token' }, payload: body });
    t.equal(res.statusCode, 400, `${name}: API 400`);
    const apiMessage = (res.json() as { message: string }).message;
    t.match(apiMessage, message, `${name}: API message`);
    // The three inputs of the finding go through a real `stella` process; the rest through the same command in-process.
    const r = i < 3 ? runCli([...flags, '--out', join(archive.dataDir, 'out.tar')]) : await runCliInProcess([...flags, '--out', join(archive.dataDir, 'out.tar')]);
    t.equal(r.code, 2, `${name}: CLI exit 2 (${r.err})`);
    t.notMatch(r.err, /\n\s+at /, `${name}: no stack trace`);
    // The same text; the CLI names the field by its flag.
    const field = apiMessage.slice(0, apiMessage.indexOf(':'));
    const flag = field === 'window' ? 'window' : field === 'signals' ? '--signal' : `--${field}`;
    // (Only "now" differs between the two runs.)
    const noNow = (s: string) => s.replace(/now [-0-9T:.Z]+/g, 'now …').replace(/\.\. [-0-9T:.Z]+ spans \S+/g, '.. … spans …');
    t.ok(noNow(r.err).includes(noNow(`${flag}${apiMessage.slice(field.length)}`)), `${name}: CLI says what the API says (${r.err})`);
    const lines = auditLines().slice(before);
    t.equal(lines.length, 2, `${name}: one audit line each`);
    t.same(lines.map((l) => [l.action, l.outcome, l.via]), [['capture', 'refused', 'api'], ['capture', 'refused', 'cli']]);
    t.ok(lines.every((l) => typeof l.reason === 'string' && message.test(l.reason)), `${name}: the audit line says why`);
  }
  // Nothing was captured, held or written anywhere: no hold, no bundle, nothing beside the data dir.
  t.same(readHolds(archive.root), [], 'no hold written');
  t.notOk(existsSync(join(archive.dataDir, 'out.tar')), 'no bundle written');
  t.notOk(existsSync(join(archive.dataDir, 'captures')), 'no captures dir');
  t.same(readdirSync(dirname(archive.dataDir)).filter((n) => n.startsWith('capture-')), [], 'nothing beside the data dir');
});

t.test('from before the archive is clamped to its first record; bundles are private; successes are audited', async (t) => {
  const a = await app();
  t.teardown(() => a.close());
  const res = await a.inject({ method: 'POST', url: '/admin/v1/captures', headers: { authorization: 'Bearer op-token' }, payload: { tenant: 'acme', from: '-271821-04-20T00:00:00.000Z', to: iso(T0 + 60_000) } });
  t.equal(res.statusCode, 201, res.body);
  const body = res.json() as { path: string; from: string; clampedFrom: string; manifestSha256: string };
  t.equal(body.from, iso(FIRST), 'from clamped to the first archived record');
  t.equal(body.clampedFrom, '-271821-04-20T00:00:00.000Z');
  t.equal(statSync(body.path).mode & 0o777, 0o600, 'bundle 0600');
  t.equal(statSync(dirname(body.path)).mode & 0o777, 0o700, 'captures dir 0700');
  const v = verifyBundle(readFileSync(body.path), archive.keys.publicKeyPem);
  t.ok(v.ok && v.manifest.window.fromMs === FIRST, 'the manifest records the clamped window');
  const holds = readHolds(archive.root).filter((h) => h.ok);
  t.same(holds.map((h) => h.ok && [h.hold.fromMs, h.hold.toMs]), [[FIRST, T0 + 60_000]], 'the hold pins only the clamped window');

  const out = join(archive.dataDir, 'cli.tar');
  const r = runCli(['--tenant', 'acme', '--from', '1970-01-01T00:00:00Z', '--to', iso(T0 + 60_000), '--out', out]);
  t.equal(r.code, 0, r.err);
  t.match(r.err, /note: --from 1970-01-01T00:00:00.000Z is before tenant acme's first archived record; capturing from 2026-01-31T11:59:58.000Z/);
  t.equal(statSync(out).mode & 0o777, 0o600, 'CLI bundle 0600');
  const ok = auditLines().filter((l) => l.outcome === 'ok');
  t.same(ok.map((l) => l.via), ['api', 'cli']);
  t.match(ok[0], { action: 'capture', scope: 'acme', by: 'op', reason: null, path: body.path, manifestSha256: body.manifestSha256, window: { from: iso(FIRST), to: iso(T0 + 60_000), requestedFrom: '-271821-04-20T00:00:00.000Z' } });
  t.match(ok[1], { scope: 'acme', by: /^cli/, path: out, window: { from: iso(FIRST), requestedFrom: '1970-01-01T00:00:00.000Z' } });
  t.equal(statSync(auditFile).mode & 0o777, 0o600, 'audit log 0600');
});

t.test('the CLI reads its limits from --config', async (t) => {
  const config = join(archive.dataDir, 'stella.yaml');
  writeFileSync(config, `dataDir: ${JSON.stringify(archive.dataDir)}\nforensic:\n  captures:\n    maxWindow: 30s\n`);
  const r = spawnSync(process.execPath, [cli, 'telemetry', 'capture', '--config', config, '--key', keyPath, '--tenant', 'acme', '--from', inWindow.from, '--to', inWindow.to, '--out', join(archive.dataDir, 'x.tar')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2, r.stderr);
  t.match(r.stderr, /window: .* spans 1m, more than forensic\.captures\.maxWindow \(30s\)/);
});
