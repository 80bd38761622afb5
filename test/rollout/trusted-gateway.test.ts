// Signed configs with a real gateway process and the real CLI: `deploy` writes versions into a
// directory (symlink swap), `serve --trust-key` refuses to start with an unsigned or tampered config or
// policy file (naming the file), a tampered policy file at hot reload is refused (the last good version
// stays; policy_file_rejections_total{reason="signature"}; an audit line naming the file and reason), an
// unsigned deploy is refused by the running gateway, and a signed deploy and its rollback reach the
// running gateway through its file watcher alone (it follows the `current` symlink swap).
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { packageRoot } from '../../src/paths.js';
import { generateSigningKeyPair } from '../../src/tee/sign.js';
import { freePort, httpGet, parseMetrics } from '../helpers/gateway-child.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const ADMIN_TOKEN = 'rollout-test-admin-token';
const root = mkdtempSync(join(tmpdir(), 'stella-rollout-'));
const src = join(root, 'src');
const gw = join(root, 'gw');
const dataDir = join(root, 'data');
const key = generateSigningKeyPair();
const other = generateSigningKeyPair();
const keyFile = join(root, 'signing-key.pem');
const pubFile = join(root, 'signing-key.pub.pem');
const otherKeyFile = join(root, 'other-key.pem');
writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
writeFileSync(pubFile, key.publicKeyPem);
writeFileSync(otherKeyFile, other.privateKeyPem, { mode: 0o600 });

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, 'telemetry', ...args], { encoding: 'utf8', timeout: 60_000, cwd: root });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const [grpc, http, admin] = [await freePort(), await freePort(), await freePort()];
const adminUrl = `http://127.0.0.1:${admin}`;

function writeSource(editRedaction?: (text: string) => string): void {
  mkdirSync(join(src, 'policies'), { recursive: true });
  cpSync(join(packageRoot, 'policies'), join(src, 'policies'), { recursive: true, filter: (s) => !s.endsWith('README.md') });
  const config = {
    dataDir,
    policiesDir: join(gw, 'policies'),
    receivers: { grpc: { endpoint: `127.0.0.1:${grpc}` }, http: { endpoint: `127.0.0.1:${http}` } },
    admin: { endpoint: `127.0.0.1:${admin}` },
    process: { workers: 1 },
    sampling: { enabled: true },
    log: { level: 'info' },
  };
  writeFileSync(join(src, 'stella.yaml'), JSON.stringify(config, null, 2) + '\n');
  if (editRedaction) {
    const file = join(src, 'policies', 'redaction.yaml');
    writeFileSync(file, editRedaction(readFileSync(file, 'utf8')));
  }
}

interface Child {
  proc: ChildProcess;
  output(): string;
  exit: Promise<number | null>;
}

function serve(): Child {
  const proc = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, CLI, 'telemetry', 'serve', '--config', join(gw, 'stella.yaml'), '--trust-key', pubFile], {
    cwd: root,
    env: { ...process.env, ...GATEWAY_ENV, STELLA_ADMIN_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, output: () => out, exit };
}

/** Polls the child (no cross-process event to wait for); the timeout only means "hung". */
async function until<T>(what: string, fn: () => Promise<T | undefined>, child?: Child, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (child && child.proc.exitCode !== null) throw new Error(`the gateway exited while waiting for ${what}:\n${child.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${child ? `:\n${child.output().slice(-3000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metrics(): Promise<Map<string, number>> {
  return parseMetrics((await httpGet(`${adminUrl}/metrics`)).body);
}

const policyVersion = async (): Promise<string | undefined> => {
  for (const k of (await metrics()).keys()) {
    const m = /^policy_version_info\{version="([^"]+)"\}$/.exec(k);
    if (m) return m[1];
  }
  return undefined;
};

/** Starting must fail; returns what it printed. */
async function refusedStart(t: Test): Promise<string> {
  const c = serve();
  const code = await c.exit;
  t.not(code, 0, 'the gateway refuses to start');
  return c.output();
}

t.test('start-up: an unsigned config, a tampered config and a tampered policy file are refused by name', async (t) => {
  writeSource();
  const d = cli(['deploy', src, '--to', gw]);
  t.equal(d.code, 0, d.err);
  t.match(await refusedStart(t), `${join(gw, 'stella.yaml')}: unsigned`);

  // The same files signed by a key the gateway does not trust.
  t.equal(cli(['deploy', src, '--to', gw, '--key', otherKeyFile]).code, 0);
  t.match(await refusedStart(t), new RegExp(`${join(gw, 'stella.yaml')}: .*wrong key`));

  t.equal(cli(['deploy', src, '--to', gw, '--key', keyFile]).code, 0);
  const config = join(gw, 'stella.yaml');
  const good = readFileSync(config);
  writeFileSync(config, good.toString().replace('"workers": 1', '"workers": 2'));
  t.match(await refusedStart(t), `${config}: tampered`);
  writeFileSync(config, good);

  const policy = join(gw, 'policies', 'allowlists.yaml');
  const goodPolicy = readFileSync(policy);
  writeFileSync(policy, `# one more line\n${goodPolicy.toString()}`);
  const out = await refusedStart(t);
  t.match(out, `${policy}: tampered`);
  t.match(out, /refused \(signature\)/, 'logged with the reason');
  writeFileSync(policy, goodPolicy);
  t.equal(cli(['config', 'verify', join(gw, 'current') + '/', '--key', pubFile]).code, 0, 'restored: the version verifies again');
});

t.test('running: a tampered policy is refused at hot reload; an unsigned deploy is refused; a signed deploy and its rollback arrive by the watcher', async (t) => {
  const gateway = serve();
  t.teardown(async () => {
    if (gateway.proc.exitCode === null) {
      gateway.proc.kill('SIGTERM');
      await gateway.exit;
    }
  });
  await until('readyz', async () => ((await httpGet(`${adminUrl}/readyz`, 1000)).status === 200 ? true : undefined), gateway);
  const v1 = await until('the policy version', policyVersion, gateway);

  // Tampered in place (a valid, complete policy file): refused, counted, audited, last good kept.
  const redaction = join(gw, 'policies', 'redaction.yaml');
  const good = readFileSync(redaction, 'utf8');
  writeFileSync(redaction, good.replace(/^\s*email: mask$/m, '  email: drop'));
  const rejected = await until(
    'the signature rejection',
    async () => (await metrics()).get('policy_file_rejections_total{file="redaction.yaml",reason="signature"}') || undefined,
    gateway,
  );
  t.ok(rejected >= 1, 'policy_file_rejections_total{reason="signature"}');
  t.equal(await policyVersion(), v1, 'the last good version stays active');
  t.match(gateway.output(), /redaction\.yaml refused \(signature\)/);
  const audit = readFileSync(join(dataDir, 'incidents', 'audit.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(
    audit.some((l) => l.action === 'reload.refused' && l.reason === 'signature' && l.file === redaction && l.versionAfter === v1),
    'audited with the file and the reason',
  );
  writeFileSync(redaction, good);

  // An unsigned deploy: the gateway (asked through the admin API) refuses it and keeps v1.
  writeSource((text) => text.replace(/^(\s*)email: mask$/m, '$1email: drop'));
  const unsigned = spawnSync(process.execPath, [CLI, 'telemetry', 'deploy', src, '--to', gw, '--admin', adminUrl, '--token', ADMIN_TOKEN], { encoding: 'utf8', cwd: root });
  t.equal(unsigned.status, 1, 'deploy reports the refusal');
  t.match(unsigned.stdout, /policy rules \(1; hot-reloaded\):\n  ~ \[default\] redaction\.detectors\.email: mask → drop/, 'the diff shows the rule');
  t.match(unsigned.stderr, /policies REFUSED/);
  t.match(unsigned.stderr, `${redaction}: unsigned`);
  t.equal(await policyVersion(), v1);

  // Signed: no --admin; the watcher follows the `current` swap by itself.
  const signed = cli(['deploy', src, '--to', gw, '--key', keyFile]);
  t.equal(signed.code, 0, signed.err);
  t.match(signed.out, /deployed \d{4}-[0-9a-f]{12} \(signed\)/);
  const v2 = await until('the new version', async () => {
    const v = await policyVersion();
    return v !== undefined && v !== v1 ? v : undefined;
  }, gateway);
  t.not(v2, v1);

  // Rollback goes to the previous version: the unsigned one, which the running gateway refuses ...
  const back = cli(['deploy', '--rollback', '--to', gw, '--admin', adminUrl, '--token', ADMIN_TOKEN]);
  t.equal(back.code, 1);
  t.match(back.err, /unsigned/);
  t.equal(await policyVersion(), v2, 'v2 stays active');
  // ... and once more, to the signed v1 set, which the watcher brings back.
  const back2 = cli(['deploy', '--rollback', '--to', gw]);
  t.equal(back2.code, 0, back2.err);
  await until('the rolled-back version', async () => ((await policyVersion()) === v1 ? true : undefined), gateway);
  t.pass('rolled back to v1 through the watcher');
});
