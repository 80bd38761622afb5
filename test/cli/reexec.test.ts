// `serve` started without the gateway's node flags and malloc setting re-runs itself with them, so every
// way of starting it performs the same (src/cli/reexec.ts); the child dies with its parent.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { missingRuntimeSettings } from '../../src/cli/reexec.js';
import { packageRoot } from '../../src/paths.js';

const bin = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const ephemeral = ['--grpc', '127.0.0.1:0', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--workers', '1'];
// As a user runs it: no tap hook in NODE_OPTIONS, none of the gateway settings in the environment.
const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
  for (const k of Object.keys(GATEWAY_ENV)) delete env[k];
  delete env.STELLA_REEXEC;
  delete env.STELLA_REEXEC_CHILD;
  return env;
};

/** Starts `node main.js telemetry serve` plainly; resolves once the gateway logged that it is ready. */
function serve(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [bin, 'telemetry', 'serve', ...ephemeral, '--data-dir', mkdtempSync(join(tmpdir(), 'stella-reexec-'))], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      for (const line of log.split('\n')) {
        if (line.includes('"stella gateway ready"')) resolve(JSON.parse(line) as Record<string, unknown>);
      }
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}) before it was ready: ${log}`)));
  });
  return { child, ready, exited };
}

const childrenOf = (pid: number): number[] =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .split(' ')
    .filter((s) => s.trim() !== '')
    .map(Number);

/** Resolves once /proc no longer has `pid` (a process exit has no event outside its parent). */
async function gone(pid: number): Promise<void> {
  while (existsSync(`/proc/${pid}/stat`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('missingRuntimeSettings names what the command line and environment lack', async (t) => {
  const all = missingRuntimeSettings([], {});
  t.same(all.flags, [...GATEWAY_NODE_FLAGS]);
  t.same(all.env, GATEWAY_ENV);
  const none = missingRuntimeSettings([...GATEWAY_NODE_FLAGS], { ...GATEWAY_ENV });
  t.same(none, { flags: [], env: {} });
  // Another value of the same flag is the operator's choice, not a missing flag.
  const other = missingRuntimeSettings(GATEWAY_NODE_FLAGS.map((f) => `${f.split('=')[0]}=512`), { ...GATEWAY_ENV });
  t.same(other.flags, []);
});

t.test('plain `node main.js telemetry serve` runs the gateway in a child with the flags and malloc setting', async (t) => {
  const s = serve(baseEnv());
  await s.ready;
  const [gateway] = childrenOf(s.child.pid!);
  t.ok(gateway, 'the gateway runs in a child process');
  const cmdline = readFileSync(`/proc/${gateway}/cmdline`, 'utf8').split('\0');
  for (const flag of GATEWAY_NODE_FLAGS) t.ok(cmdline.includes(flag), `the child runs with ${flag}`);
  const environ = readFileSync(`/proc/${gateway}/environ`, 'utf8').split('\0');
  for (const [k, v] of Object.entries(GATEWAY_ENV)) t.ok(environ.includes(`${k}=${v}`), `the child has ${k}=${v}`);
  // SIGTERM reaches the gateway through the parent: it drains and both exit 0.
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0);
  await gone(gateway!);
});

t.test('the re-executed gateway dies with its parent on SIGKILL', async (t) => {
  const s = serve(baseEnv());
  await s.ready;
  const [gateway] = childrenOf(s.child.pid!);
  s.child.kill('SIGKILL');
  await s.exited;
  await gone(gateway!);
  t.pass('the child is gone');
});

t.test('STELLA_REEXEC=0 serves in the process as started', async (t) => {
  const s = serve({ ...baseEnv(), STELLA_REEXEC: '0' });
  const ready = await s.ready;
  t.same(childrenOf(s.child.pid!), [], 'no child process');
  t.ok(ready.admin, 'ready in the process itself');
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0);
});
