// The audit log's hash chain: appends chain across rotation and across processes, and every kind of
// tampering (an edited, removed, inserted or reordered line, a cut file) is found by `audit verify`,
// which names the line.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { appendAudit, GENESIS, lineHash, verifyAuditLog } from '../../src/incident/audit-log.js';
import { packageRoot } from '../../src/paths.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');

function log(lines: number, rotateBytes?: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'stella-audit-'));
  for (let i = 0; i < lines; i++) appendAudit(join(dir, 'audit.log'), 1_700_000_000_000 + i, { action: 'start', scope: `t${i}`, by: 'oncall', reason: `r${i}` }, { rotateBytes });
  return dir;
}

function verifyCli(dir: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, 'telemetry', 'audit', 'verify', dir], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const rows = (file: string) => readFileSync(file, 'utf8').slice(0, -1).split('\n');
const put = (file: string, lines: string[]) => writeFileSync(file, lines.join('\n') + '\n');

t.test('lines chain from the genesis hash, with consecutive seq, across rotated files', async (t) => {
  const dir = log(40, 1500);
  const files = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  t.ok(files.length >= 3, `rotated into ${files.join(', ')}`);
  const first = JSON.parse(rows(join(dir, files[0]!))[0]!) as { seq: number; prev: string; action: string };
  t.same([first.seq, first.prev, first.action], [1, GENESIS, 'start']);
  const v = verifyAuditLog(dir);
  t.ok(v.ok, JSON.stringify(v));
  if (v.ok) {
    t.equal(v.lines, 40);
    t.equal(v.headSeq, 40);
    t.equal(v.headHash, lineHash(rows(join(dir, 'audit.log')).at(-1)!));
  }
  const ok = verifyCli(dir);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, /^OK: 40 line\(s\) in \d+ file\(s\) chained; last seq 40/);
});

t.test('every kind of tampering is found and the line named', async (t) => {
  const cases: [string, (lines: string[]) => string[], RegExp][] = [
    ['an edited line', (l) => l.map((x, i) => (i === 4 ? x.replace('"r4"', '"nothing to see"') : x)), /audit\.log:6: its prev hash does not match .*audit\.log:5: that line was edited/],
    ['a removed line', (l) => l.filter((_, i) => i !== 4), /audit\.log:5: seq 6 follows seq 4: lines were removed, inserted or reordered/],
    ['two lines swapped', (l) => [...l.slice(0, 3), l[4]!, l[3]!, ...l.slice(5)], /audit\.log:4: seq 5 follows seq 3/],
    ['an inserted line', (l) => [...l.slice(0, 2), JSON.stringify({ time: 'x', seq: 3, prev: lineHash(l[1]!), action: 'stop', scope: 'acme', by: 'me', reason: null }), ...l.slice(2)], /audit\.log:4: seq 3 follows seq 3|audit\.log:4: its prev hash does not match/],
    ['a changed seq', (l) => l.map((x, i) => (i === 2 ? x.replace('"seq":3', '"seq":33') : x)), /audit\.log:3: seq 33 where 3 was expected/],
    ['a line that is not JSON', (l) => l.map((x, i) => (i === 7 ? x.slice(0, 20) : x)), /audit\.log:8: not a JSON line/],
  ];
  for (const [name, tamper, message] of cases) {
    const dir = log(10);
    const file = join(dir, 'audit.log');
    put(file, tamper(rows(file)));
    const v = verifyAuditLog(dir);
    t.notOk(v.ok, `${name}: found`);
    const r = verifyCli(dir);
    t.equal(r.code, 1, `${name}: exit 1`);
    t.match(r.err, message, `${name}: named`);
  }
  const cut = log(5);
  writeFileSync(join(cut, 'audit.log'), readFileSync(join(cut, 'audit.log'), 'utf8').slice(0, -7));
  t.match(verifyCli(cut).err, /the last line is incomplete/);
  // A line removed at a rotation boundary breaks the chain into the next file.
  const rotated = log(30, 1500);
  const older = readdirSync(rotated).filter((f) => f.startsWith('audit-')).sort()[0]!;
  put(join(rotated, older), rows(join(rotated, older)).slice(0, -1));
  t.match(verifyCli(rotated).err, /seq \d+ follows seq \d+/);
});

t.test('two processes appending at once keep one chain', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-audit-'));
  const module = pathToFileURL(join(packageRoot, 'dist/src/incident/audit-log.js')).href;
  const writer = (who: string) =>
    new Promise<number | null>((resolve) => {
      const code = `const { appendAudit } = await import(${JSON.stringify(module)}); for (let i = 0; i < 150; i++) appendAudit(${JSON.stringify(join(dir, 'audit.log'))}, Date.now(), { action: 'capture', scope: 'acme', by: '${who}', reason: null });`;
      spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: '' } }).on('close', resolve);
    });
  t.same(await Promise.all([writer('a'), writer('b')]), [0, 0]);
  const v = verifyAuditLog(dir);
  t.ok(v.ok, JSON.stringify(v));
  if (v.ok) t.equal(v.lines, 300);
});
