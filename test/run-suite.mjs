// `npm test`: tap with TMPDIR pointing at a directory of this run, removed afterwards. Tests make
// temp dirs for data, certificates and queues, and children killed with SIGKILL cannot clean up after
// themselves: whatever the run leaves behind goes with it, not into the machine's /tmp.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'stella-tests-'));
const tap = spawn('tap', process.argv.slice(2), { stdio: 'inherit', env: { ...process.env, TMPDIR: dir } });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => tap.kill(sig));
tap.on('exit', (code, signal) => {
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = code ?? (signal ? 1 : 0);
});
