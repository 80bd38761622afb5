// The docs as a new user meets them: the README's walkthroughs run as written (in a scratch directory
// that looks like a clone: ./stella and policies/), and the CLI reference names every command.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');

/** The ```sh blocks under the README heading `## <heading>`. */
function shellBlocks(heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no "## ${heading}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function scratchClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stella-readme-'));
  symlinkSync(join(packageRoot, 'stella'), join(dir, 'stella'));
  symlinkSync(join(packageRoot, 'policies'), join(dir, 'policies'));
  return dir;
}

/** Runs a block with bash -euo pipefail; a hung block is killed (the whole process group) after 2 minutes. */
function runBlock(script: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, detached: true, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('README: a first span, then what the gateway wrote', async (t) => {
  const [block] = shellBlocks('A first span');
  const r = await runBlock(block!, scratchClone());
  t.equal(r.code, 0, r.stderr.slice(-2000));
  t.match(r.stdout, /^receiver_accepted_items_total\{[^}]*signal="traces"[^}]*\} 1$/m, 'the metric counts the span');
  const dumped = r.stdout.split('\n').filter((l) => l.startsWith('{"resourceSpans"'));
  t.equal(dumped.length, 1, 'dump prints the one request');
  t.match(dumped[0], /"name":"first span"/);
  t.match(dumped[0], /"key":"tenant\.id","value":\{"stringValue":"default"\}/, 'stamped with its tenant');
});

t.test('README: a first span over mTLS', async (t) => {
  const [block] = shellBlocks('A first span over mTLS');
  const r = await runBlock(block!, scratchClone());
  t.equal(r.code, 0, r.stderr.slice(-2000));
  t.match(r.stdout, /^\{\}$/m, 'the mTLS request is accepted');
  t.match(r.stdout, /refused: no client certificate/);
  t.match(r.stdout, /^acme$/m, 'exported under tenant acme');
});

t.test('the CLI reference names every command of `stella telemetry --help`', async (t) => {
  const help = spawnSync(join(packageRoot, 'stella'), ['telemetry', '--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }).stdout;
  const commands = help
    .slice(help.indexOf('Commands:'))
    .split('\n')
    .slice(1)
    .map((l) => /^ {2}(\S+(?: \S+)?)\s{2,}/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined);
  t.ok(commands.length >= 10, `commands found: ${commands.join(', ')}`);
  const cli = readFileSync(join(packageRoot, 'docs', 'reference', 'cli.md'), 'utf8');
  for (const c of commands) t.match(cli, `stella telemetry ${c}`, `${c} is in docs/reference/cli.md`);
});

t.test('every relative link in the docs leads to a file that exists', async (t) => {
  const docs = readdirSync(join(packageRoot, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f));
  const files = [...docs, 'README.md', 'bench/README.md', 'policies/README.md'];
  let links = 0;
  for (const file of files) {
    const text = readFileSync(join(packageRoot, file), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue;
      links++;
      const path = join(packageRoot, dirname(file), target.split('#')[0]!);
      t.ok(existsSync(path), `${file}: ${target}`);
    }
  }
  t.ok(links > 30, `${links} links checked`);
});
