// `stella telemetry profile diff` as an operator runs it: exit codes (0 equal, 1 differ, 2 error), one
// line per differing setting with both values and where each came from (built-in default, file,
// built-in profile, the file's profile overlay, flag), and secrets masked.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../../src/paths.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'stella-profile-diff-'));
const SECRET = 'Bearer s3cr3t-token-value-for-the-backend';

function run(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, 'telemetry', 'profile', 'diff', ...args], { encoding: 'utf8', timeout: 20_000, cwd: dir, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const fileA = 'a.yaml';
writeFileSync(
  join(dir, fileA),
  [
    'shutdownTimeout: 30s',
    'exporters:',
    '  - name: tempo',
    '    endpoint: tempo.example:4317',
    '    headers: { authorization: "${env:TEMPO_AUTH}" }',
    'profiles:',
    '  forensic:',
    '    log: { level: debug }',
    '',
  ].join('\n'),
);

t.test('two built-in profiles: exit 1, each line with both values and their sources', async (t) => {
  const r = run(['default', 'forensic']);
  t.equal(r.code, 1, r.err);
  t.match(r.out, /^default → forensic: 7 settings differ$/m);
  t.match(r.out, /^~ incidents\.captureOnEnd\.enabled: false \(built-in default\) → true \(built-in profile forensic\)$/m);
  t.match(r.out, /^~ shutdownTimeoutMs: 15000 \(built-in default\) → 60000 \(built-in profile forensic\)$/m);
  t.match(r.out, /^~ exporters\[file\]\.queue\.persistent: false \(built-in default\) → true \(built-in profile forensic\)$/m);
});

t.test('the same profile twice: exit 0', async (t) => {
  const r = run(['airgap', 'airgap']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /same effective configuration/);
});

t.test('with a file: the file, the built-in overlay and the file overlay are told apart; secrets masked', async (t) => {
  const r = run(['default', 'forensic', '--config', fileA], { TEMPO_AUTH: SECRET });
  t.equal(r.code, 1, r.err);
  // The file set 30s; the forensic profile's built-in overlay sets 60s over it.
  t.match(r.out, /^~ shutdownTimeoutMs: 30000 \(file a\.yaml\) → 60000 \(built-in profile forensic\)$/m);
  t.match(r.out, /^~ log\.level: "info" \(built-in default\) → "debug" \(a\.yaml profiles\.forensic\)$/m);
  // exporterDefaults of the overlay reach the file's exporter (whose entry, defaults included, is the file's).
  t.match(r.out, /^~ exporters\[tempo\]\.queue\.persistent: false \(file a\.yaml\) → true \(built-in profile forensic\)$/m);
  t.notMatch(r.out + r.err, 's3cr3t', 'the secret never appears');
});

t.test('two files: a secret that differs is shown as changed, redacted; a flag is a source', async (t) => {
  const fileB = 'b.yaml';
  writeFileSync(join(dir, fileB), 'shutdownTimeout: 30s\nexporters:\n  - name: tempo\n    endpoint: tempo.example:4317\n    headers: { authorization: "Bearer another-s3cr3t-value" }\n');
  const r = run(['--config', fileA, '--config', fileB, '--log-level', 'warn'], { TEMPO_AUTH: SECRET });
  t.equal(r.code, 1, r.err);
  t.match(r.out, /^~ exporters\[tempo\]\.headers\.authorization: "\[redacted\]" \(file a\.yaml\) → "\[redacted\]" \(file b\.yaml\)$/m);
  t.notMatch(r.out + r.err, 's3cr3t');
  t.notMatch(r.out, /log\.level/, 'the flag applies to both sides');
  const same = run(['--config', fileB, '--config', fileB, '--log-level', 'warn']);
  t.equal(same.code, 0);
  // Flags show as the source where they win: compare a file against itself under two profiles.
  const flagged = run(['default', 'forensic', '--config', fileB, '--log-level', 'warn']);
  t.equal(flagged.code, 1);
  t.notMatch(flagged.out, /log\.level/);
  const withFlag = run(['default', 'forensic', '--config', fileA, '--log-level', 'warn'], { TEMPO_AUTH: SECRET });
  t.notMatch(withFlag.out, /log\.level/, 'the flag overrides the overlay on both sides');
});

t.test('errors: exit 2 with the reason', async (t) => {
  const bad = 'bad.yaml';
  writeFileSync(join(dir, bad), 'recievers: {}\n');
  const r = run(['default', 'forensic', '--config', bad]);
  t.equal(r.code, 2);
  t.match(r.err, /bad\.yaml: unknown key "recievers" \(did you mean "receivers"\?\)/);
  t.equal(r.err.split('recievers').length, 2, 'reported once, not once per side');
  const usage = run(['default']);
  t.equal(usage.code, 2);
  t.match(usage.err, /expected two profiles/);
  const unknown = run(['default', 'fast']);
  t.equal(unknown.code, 2);
  t.match(unknown.err, /unknown profile "fast"/);
});
