// build_info names what runs: the package version, this Node, and the checkout's commit.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';
import { gitCommit } from '../../src/telemetry/build-info.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

t.test('build_info carries the version, the Node runtime and the commit', async (t) => {
  const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith('build_info{'));
  t.ok(line, 'exposed');
  const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  t.match(line!, `version="${version}"`);
  t.match(line!, `node="${process.version}"`);
  let head: string | undefined;
  try {
    head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: packageRoot, encoding: 'utf8' }).trim();
  } catch {
    head = undefined; // not a checkout (an unpacked package): the commit is "unknown" or STELLA_COMMIT
  }
  t.match(line!, `commit="${process.env.STELLA_COMMIT || head || 'unknown'}"`);
  t.match(line!, /\} 1$/);
});

t.test('the commit is read from a main checkout, a linked worktree and packed refs alike', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-git-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const git = (cwd: string, ...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, encoding: 'utf8' }).trim();
  const main = join(dir, 'main');
  mkdirSync(main);
  git(main, 'init', '-q', '-b', 'trunk');
  writeFileSync(join(main, 'a.txt'), 'a');
  git(main, 'add', 'a.txt');
  git(main, 'commit', '-q', '-m', 'one');
  t.equal(gitCommit(main), git(main, 'rev-parse', 'HEAD'), 'main checkout, loose ref');
  const linked = join(dir, 'linked');
  git(main, 'worktree', 'add', '-q', '-b', 'side', linked);
  writeFileSync(join(linked, 'b.txt'), 'b');
  git(linked, 'add', 'b.txt');
  git(linked, 'commit', '-q', '-m', 'two');
  t.equal(gitCommit(linked), git(linked, 'rev-parse', 'HEAD'), 'linked worktree');
  t.not(gitCommit(linked), gitCommit(main));
  git(main, 'pack-refs', '--all');
  t.equal(gitCommit(linked), git(linked, 'rev-parse', 'HEAD'), 'linked worktree, packed refs');
  t.equal(gitCommit(join(dir, 'nowhere')), undefined, 'no checkout');
});
