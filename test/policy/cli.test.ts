// `stella telemetry policy validate|diff` as users run them: node dist/src/cli/main.js in a child process.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultPoliciesDir, packageRoot } from '../../src/paths.js';
import { complete } from '../helpers/policy-file.js';

const bin = join(packageRoot, 'dist', 'src', 'cli', 'main.js');

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'telemetry', ...args], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`stella telemetry ${args.join(' ')} did not exit; stderr: ${stderr}`));
    }, 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const work = mkdtempSync(join(tmpdir(), 'policy-cli-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

t.test('validate: the shipped policies', async (t) => {
  const r = await run(['policy', 'validate', defaultPoliciesDir]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^OK: .* \(profile default\) version [0-9a-f]{64}\n/);
  t.match(r.stdout, /detectors \(16\): /);
  t.match(r.stdout, /\ntenants\.yaml: version [0-9a-f]{12}, \d+ identit/);
  t.match(r.stdout, /\nsampling\.yaml: version [0-9a-f]{64}\n/);
  t.equal(r.stderr, '');
});

t.test('validate: tenants.yaml and sampling.yaml are checked with the others', async (t) => {
  const dir = join(work, 'bad-tenants-sampling');
  cpSync(defaultPoliciesDir, dir, { recursive: true });
  writeFileSync(join(dir, 'tenants.yaml'), complete('identities:\n  - name: ci\n    tokenSha256: nothex\n    tenants: [acme]\n'));
  writeFileSync(join(dir, 'sampling.yaml'), complete('rules:\n  - name: some\n    probability: 2\n'));
  const r = await run(['policy', 'validate', dir]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 3, r.stderr);
  t.match(lines[0], `${join(dir, 'tenants.yaml')}:3:18 identities[0].tokenSha256: `);
  t.match(lines[1], `${join(dir, 'sampling.yaml')}:3:18 rules[0].probability: `);
  t.equal(lines[2], `INVALID: ${dir} (2 errors)`);
});

t.test('validate: every error, exit 1', async (t) => {
  const dir = join(work, 'bad');
  cpSync(defaultPoliciesDir, dir, { recursive: true });
  writeFileSync(join(dir, 'redaction.yaml'), complete('detectors:\n  email:\n    action: erase\ncustom:\n  evil: { regex: "(a+)+$", action: drop }\n'));
  writeFileSync(join(dir, 'allowlists.yaml'), complete('metricName: []\n'));
  const r = await run(['policy', 'validate', dir]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  t.same(lines, [
    `${join(dir, 'redaction.yaml')}:3:13 detectors.email.action: expected one of mask, hash, drop, truncate (got "erase")`,
    lines[1],
    `${join(dir, 'allowlists.yaml')}:1:1 metricName: unknown key "metricName" (did you mean "metricNames"?); expected one of metricNames, attributeKeys, serviceNames, tenants, profiles`,
    `INVALID: ${dir} (3 errors)`,
  ]);
  t.match(lines[1], /redaction\.yaml:5:18 custom\.evil\.regex: unsafe or invalid pattern: a repeated group contains another repetition/);
});

t.test('validate: a missing directory means the shipped defaults (warned); profiles and tenants are summarised', async (t) => {
  const none = await run(['policy', 'validate', join(work, 'absent')]);
  const shipped = await run(['policy', 'validate', defaultPoliciesDir]);
  t.equal(none.code, 0);
  t.equal(/version ([0-9a-f]{64})/.exec(none.stdout)?.[1], /version ([0-9a-f]{64})/.exec(shipped.stdout)?.[1], 'the version of the shipped policies');
  t.match(none.stderr, /warning: .*absent\/redaction\.yaml: missing: at start-up the gateway uses the shipped default; on a reload it refuses the change/);
  t.match(none.stderr, /warning: .*absent\/allowlists\.yaml: missing/);
  const dir = join(work, 'tenants');
  cpSync(defaultPoliciesDir, dir, { recursive: true });
  writeFileSync(join(dir, 'allowlists.yaml'), complete('tenants: { acme: { serviceNames: [checkout] } }\nprofiles: { forensic: { metricNames: [] }, forensics: {} }\n'));
  const r = await run(['policy', 'validate', dir, '--profile', 'forensic']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /\(profile forensic\)/);
  t.match(r.stdout, /note: profile "forensics" is not a gateway profile/);
  t.match(r.stdout, /tenant acme:\n[^]*service names 1 allowed/);
  t.match(r.stdout, /metric names 0 allowed/, 'the forensic override applies');
});

t.test('validate: usage errors exit 2', async (t) => {
  const r = await run(['policy', 'validate']);
  t.equal(r.code, 2);
  t.match(r.stderr, /expected the policies DIR/);
  const help = await run(['--help']);
  t.match(help.stdout, /policy validate/);
  t.match(help.stdout, /policy diff/);
});

t.test('diff: equal, different, per tenant and profile', async (t) => {
  const a = join(work, 'a');
  const b = join(work, 'b');
  cpSync(defaultPoliciesDir, a, { recursive: true });
  cpSync(defaultPoliciesDir, b, { recursive: true });
  const same = await run(['policy', 'diff', a, b]);
  t.equal(same.code, 0, same.stderr);
  t.match(same.stdout, /^same effect \(profile default\): version [0-9a-f]{64}\n$/);

  writeFileSync(
    join(b, 'redaction.yaml'),
    complete(`detectors: { email: hash, ipv4: mask }\ntenants: { acme: { detectors: { ipv4: off } } }\nprofiles: { forensic: { detectors: { email: drop } } }\n`),
  );
  const diff = await run(['policy', 'diff', a, b]);
  t.equal(diff.code, 1);
  t.match(diff.stdout, /^.* → .*, profile default: \d+ changes\n/);
  t.match(diff.stdout, /\n~ \[default\] redaction\.detectors\.email: mask → hash \(key from \$STELLA_HASH_KEY\)\n/);
  t.match(diff.stdout, /\n- \[default\] redaction\.detectors\.jwt: mask\n/);
  t.match(diff.stdout, /\n- \[default\] redaction\.keys\.blocked\["\*password\*"\]: mask\n/);
  t.match(diff.stdout, /\n- \[tenant acme\] redaction\.detectors\.ipv4: mask\n/);

  const forensic = await run(['policy', 'diff', a, b, '--profile', 'forensic', '--tenant', 'acme']);
  t.equal(forensic.code, 1);
  t.match(forensic.stdout, /\n~ \[tenant acme\] redaction\.detectors\.email: mask → drop\n/);
  t.notMatch(forensic.stdout, /\[default\]/, 'only the tenant view');

  const invalid = join(work, 'invalid');
  cpSync(defaultPoliciesDir, invalid, { recursive: true });
  writeFileSync(join(invalid, 'redaction.yaml'), complete('keys: { mode: closed }\n'));
  const bad = await run(['policy', 'diff', a, invalid]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /keys\.mode: expected one of open, allowlist/);
  t.match(bad.stderr, /INVALID: .*invalid; nothing compared/);

  const usage = await run(['policy', 'diff', a]);
  t.equal(usage.code, 2);
});

t.test('validate: fail-closed cases are errors (empty, truncated, too large) or warnings (missing, hash without its key)', async (t) => {
  const make = (name: string, file: string, text: string): string => {
    const dir = join(work, name);
    cpSync(defaultPoliciesDir, dir, { recursive: true });
    writeFileSync(join(dir, file), text);
    return dir;
  };
  const empty = await run(['policy', 'validate', make('empty', 'redaction.yaml', '')]);
  t.equal(empty.code, 1);
  t.match(empty.stderr, /redaction\.yaml: empty file \(0 bytes, no content\): every policy file ends with the line "version: 1"/);
  const truncated = await run(['policy', 'validate', make('truncated', 'redaction.yaml', 'detectors:\n  email: mask\n')]);
  t.equal(truncated.code, 1);
  t.match(truncated.stderr, /redaction\.yaml: no "version: 1" line at the end/);
  const tenants = await run(['policy', 'validate', make('tenants-empty', 'tenants.yaml', '\n')]);
  t.equal(tenants.code, 1);
  t.match(tenants.stderr, /tenants\.yaml: empty file/);
  const sampling = await run(['policy', 'validate', make('sampling-cut', 'sampling.yaml', 'rules: []\n')]);
  t.equal(sampling.code, 1);
  t.match(sampling.stderr, /sampling\.yaml: no "version: 1" line at the end/);

  const many = Array.from({ length: 30 }, (_, i) => `  p${i}: { regex: "ORD-[0-9]{8}-${i}", action: mask }\n`).join('');
  const big = make('big', 'redaction.yaml', complete(`custom:\n${many}`));
  t.equal((await run(['policy', 'validate', big])).code, 0, 'within the default limits');
  const config = join(work, 'limits.yaml');
  writeFileSync(config, 'policy:\n  maxCustomPatterns: 20\n');
  const limited = await run(['policy', 'validate', big, '--config', config]);
  t.equal(limited.code, 1);
  t.match(limited.stderr, /redaction\.yaml: 30 custom patterns, more than the limit of 20 \(policy\.maxCustomPatterns\)/);

  const hashed = await run(['policy', 'validate', make('hash', 'redaction.yaml', complete('detectors: { email: hash }\nhashKeyEnv: STELLA_TEST_KEY_NEVER_SET\n'))]);
  t.equal(hashed.code, 0, hashed.stderr);
  t.match(hashed.stderr, /warning: hash actions use the key in \$STELLA_TEST_KEY_NEVER_SET, which is not set here: without it the gateway masks instead of hashing/);
});
