// `stella telemetry deploy` on real directories: a dry run writes nothing; deploys make numbered
// versions behind one symlink; rollback goes back one version; old versions are pruned (never the
// current one); an invalid source deploys nothing; `--format kubernetes` renders the ConfigMaps of
// deploy/kubernetes with signatures that verify. And the policy watcher follows a symlink swap.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/paths.js';
import { createPolicyStore } from '../../src/policy/policy-store.js';
import { generateSigningKeyPair } from '../../src/tee/sign.js';
import { verifyFileBytes } from '../../src/trust/signed-files.js';
import type { Logger } from '../../src/telemetry/logger-types.js';
import { complete } from '../helpers/policy-file.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'stella-deploy-'));
const key = generateSigningKeyPair();
writeFileSync(join(root, 'key.pem'), key.privateKeyPem, { mode: 0o600 });

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, 'telemetry', 'deploy', ...args], { encoding: 'utf8', timeout: 30_000, cwd: root });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function source(name: string, shutdown: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'policies'), { recursive: true });
  cpSync(join(packageRoot, 'policies'), join(dir, 'policies'), { recursive: true, filter: (s) => !s.endsWith('README.md') });
  writeFileSync(join(dir, 'stella.yaml'), `shutdownTimeout: ${shutdown}\npoliciesDir: gw/policies\n`);
  return name;
}

const current = (gw: string) => readlinkSync(join(root, gw, 'current'));

t.test('dry run, deploy, no-op, deploy, rollback, prune', async (t) => {
  const a = source('a', '20s');
  const dry = run([a, '--to', 'gw', '--dry-run']);
  t.equal(dry.code, 0, dry.err);
  t.match(dry.out, /\+ stella\.yaml/);
  t.match(dry.out, /dry run: would write/);
  t.notOk(existsSync(join(root, 'gw')), 'a dry run writes nothing');

  const first = run([a, '--to', 'gw']);
  t.equal(first.code, 0, first.err);
  const v1 = current('gw');
  t.match(v1, /^\.versions\/0001-[0-9a-f]{12}$/);
  t.equal(readlinkSync(join(root, 'gw', 'stella.yaml')), 'current/stella.yaml');
  t.equal(readlinkSync(join(root, 'gw', 'policies')), 'current/policies');
  t.equal(readFileSync(join(root, 'gw', 'stella.yaml'), 'utf8'), readFileSync(join(root, a, 'stella.yaml'), 'utf8'));

  const again = run([a, '--to', 'gw']);
  t.equal(again.code, 0);
  t.match(again.out, /already deployed/);
  t.equal(current('gw'), v1);

  const b = source('b', '25s');
  const second = run([b, '--to', 'gw']);
  t.equal(second.code, 0, second.err);
  t.match(second.out, /~ shutdownTimeoutMs: 20000 \(file .*\) → 25000 \(file b\/stella\.yaml\)/);
  t.match(second.out, /restart needed for 1 setting .*: shutdownTimeoutMs/);
  const v2 = current('gw');
  t.match(v2, /^\.versions\/0002-/);

  const back = run(['--rollback', '--to', 'gw']);
  t.equal(back.code, 0, back.err);
  t.equal(current('gw'), v1, 'rolled back to the previous version');
  t.match(readFileSync(join(root, 'gw', 'stella.yaml'), 'utf8'), /shutdownTimeout: 20s/);
  const none = run(['--rollback', '--to', 'gw']);
  t.equal(none.code, 1);
  t.match(none.err, /oldest version kept/);

  for (const [i, s] of ['31s', '32s', '33s'].entries()) t.equal(run([source(`c${i}`, s), '--to', 'gw', '--keep', '2']).code, 0);
  const kept = readdirSync(join(root, 'gw', '.versions')).sort();
  t.equal(kept.length, 2, 'pruned to --keep');
  t.equal(`.versions/${kept.at(-1)}`, current('gw'), 'the current one is kept');
});

t.test('a config that requires signatures (trust.keys) is validated unsigned, deployed signed', async (t) => {
  writeFileSync(join(root, 'key.pub.pem'), key.publicKeyPem);
  const s = source('trusting', '20s');
  writeFileSync(join(root, s, 'stella.yaml'), `trust: { keys: [key.pub.pem] }\npoliciesDir: gwt/policies\n`);
  const r = run([s, '--to', 'gwt', '--key', 'key.pem']);
  t.equal(r.code, 0, r.err);
  const file = join(root, 'gwt', 'stella.yaml');
  t.ok(verifyFileBytes(file, readFileSync(file), [key.publicKeyPem]).ok, 'the deployed config verifies through the current link');
  const diff = spawnSync(process.execPath, [cli, 'telemetry', 'profile', 'diff', 'default', 'forensic', '--config', join(s, 'stella.yaml')], { encoding: 'utf8', cwd: root });
  t.equal(diff.status, 1, `profile diff reads an unsigned draft: ${diff.stderr}`);
});

t.test('an invalid source deploys nothing', async (t) => {
  const bad = source('bad', '20s');
  writeFileSync(join(root, bad, 'policies', 'redaction.yaml'), complete('detectors: { email: erase }'));
  const r = run([bad, '--to', 'gw2']);
  t.equal(r.code, 1);
  t.match(r.err, /redaction\.yaml:\d+:\d+ detectors\.email/);
  t.match(r.err, /INVALID: bad .*nothing deployed/);
  t.notOk(existsSync(join(root, 'gw2')));
});

t.test('--format kubernetes: the ConfigMaps of deploy/kubernetes, signed', async (t) => {
  const k = source('k', '20s');
  mkdirSync(join(root, k, 'secrets', 'stella-gateway-admin'), { recursive: true });
  writeFileSync(join(root, k, 'secrets', 'stella-gateway-admin', 'token'), 'admin-token-value');
  const r = run([k, '--format', 'kubernetes', '--key', 'key.pem', '--namespace', 'stella']);
  t.equal(r.code, 0, r.err);
  const docs = parseAllDocuments(r.out).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace: string }; data: Record<string, string> });
  t.same(
    docs.map((d) => `${d.kind}/${d.metadata.name}`),
    ['ConfigMap/stella-gateway-config', 'ConfigMap/stella-gateway-policies', 'Secret/stella-gateway-admin'],
  );
  t.ok(docs.every((d) => d.metadata.namespace === 'stella'));
  const [config, policies, secret] = docs as [(typeof docs)[0], (typeof docs)[0], (typeof docs)[0]];
  t.equal(config.data['config.yaml'], readFileSync(join(root, k, 'stella.yaml'), 'utf8'));
  t.equal(Buffer.from(secret.data.token!, 'base64').toString(), 'admin-token-value');
  // Mounted as the pod sees them, the signatures verify (and an edit would not).
  const mount = join(root, 'mount');
  mkdirSync(join(mount, 'policies'), { recursive: true });
  for (const [name, text] of Object.entries(config.data)) writeFileSync(join(mount, name), text);
  for (const [name, text] of Object.entries(policies.data)) writeFileSync(join(mount, 'policies', name), text);
  const file = join(mount, 'policies', 'redaction.yaml');
  t.ok(verifyFileBytes(file, readFileSync(file), [key.publicKeyPem]).ok);
  t.ok(verifyFileBytes(join(mount, 'config.yaml'), readFileSync(join(mount, 'config.yaml')), [key.publicKeyPem]).ok);
  t.match(verifyFileBytes(file, Buffer.from('version: 1\n'), [key.publicKeyPem]), { ok: false, failure: 'tampered' });
});

t.test('the policy watcher follows a symlink swap (deploy layout and Kubernetes ..data alike)', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'stella-swap-'));
  for (const [v, action] of [['v1', 'mask'], ['v2', 'drop']] as const) {
    mkdirSync(join(base, v, 'policies'), { recursive: true });
    writeFileSync(join(base, v, 'policies', 'redaction.yaml'), complete(`detectors: { email: ${action} }`));
  }
  symlinkSync('v1', join(base, 'current'));
  symlinkSync('current/policies', join(base, 'policies'));
  const logger: Logger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
  const store = createPolicyStore(join(base, 'policies'), { profile: 'default', logger, debounceMs: 20, worker: false });
  store.start();
  t.teardown(() => store.stop());
  const email = () => store.current().defaults.redaction.detectors.find((d) => d.category === 'email')?.action.type;
  t.equal(email(), 'mask');
  // The watcher does not hold the process open; the guard timer does (and only means "hung").
  const changed = () =>
    new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error('no reload within 30 s')), 30_000);
      const off = store.onChange(() => {
        off();
        clearTimeout(guard);
        resolve();
      });
    });

  let next = changed();
  symlinkSync('v2', join(base, 'current.tmp'));
  renameSync(join(base, 'current.tmp'), join(base, 'current'));
  await next;
  t.equal(email(), 'drop', 'the swap is seen without SIGHUP');

  // The new directory is watched from then on: an edit inside it is seen too.
  next = changed();
  writeFileSync(join(base, 'v2', 'policies', 'redaction.yaml'), complete('detectors: { email: { action: truncate, maxLength: 4 } }'));
  await next;
  t.equal(email(), 'truncate', 'an edit in the swapped-in directory is seen');
});
