// Runs the built CLI as a child process without blocking this process's event loop (the gateway under
// test runs in this process and must answer the CLI's requests).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../../src/paths.js';

const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, STELLA_ADMIN_TOKEN: undefined, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'telemetry', ...args], { env: childEnv, timeout: 20_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}
