// The gateway runs at the same speed however it is started. Its V8 flags and malloc environment
// (node-flags.ts) can only be given before the process starts; the bin's shebang, `npm start`, the
// Dockerfile and the bench pass them, but `node dist/src/cli/main.js telemetry serve` does not, and
// measured the same machine and load apart, that start cost twice the CPU per span (12.4 against 6.0 µs).
// So `serve` started without them runs itself again as a child with them: one extra process that only
// waits, forwards signals and passes on the exit code. STELLA_REEXEC=0 turns this off (the gateway
// then runs as started, slower).
//
// The child must not outlive its parent: a supervisor that SIGKILLs the parent (a test, an OOM killer,
// systemd) expects the gateway gone. The child holds an IPC channel to the parent; when the parent dies
// the channel closes and the child kills itself with SIGKILL too (no drain: the parent got none either).
import { spawn } from 'node:child_process';
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from './node-flags.js';

export const REEXEC_ENV = 'STELLA_REEXEC';

/** The settings this process lacks: node flags not on its command line, environment variables unset. */
export function missingRuntimeSettings(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): { flags: string[]; env: Record<string, string> } {
  const flags = GATEWAY_NODE_FLAGS.filter((flag) => {
    const name = flag.split('=', 1)[0]!;
    return !execArgv.some((a) => a === flag || a.startsWith(`${name}=`) || a.replaceAll('_', '-').startsWith(`${name}=`));
  });
  const missingEnv = Object.fromEntries(Object.entries(GATEWAY_ENV).filter(([k]) => env[k] === undefined));
  return { flags, env: missingEnv };
}

/**
 * When the gateway settings are missing (and STELLA_REEXEC is not "0"), runs this command again in a
 * child with them and resolves with the child's exit code; resolves undefined when this process should
 * serve itself.
 */
export function reexecWithGatewaySettings(): Promise<number> | undefined {
  if (process.env[REEXEC_ENV] === '0') return undefined;
  const missing = missingRuntimeSettings();
  if (missing.flags.length === 0 && Object.keys(missing.env).length === 0) return undefined;
  const child = spawn(process.execPath, [...process.execArgv, ...missing.flags, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    // The child has the settings, so it serves itself; the variable only makes that explicit.
    env: { ...process.env, ...missing.env, [REEXEC_ENV]: '0', STELLA_REEXEC_CHILD: '1' },
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`stella telemetry serve: cannot start the gateway process: ${err.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code ?? (signal ? 128 + signalNumber(signal) : 1));
    });
  });
}

/** In the re-executed child: die with the parent (see the header). */
export function followParent(): void {
  if (process.env.STELLA_REEXEC_CHILD !== '1' || !process.channel) return;
  process.channel.unref();
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Partial<Record<NodeJS.Signals, number>>)[signal] ?? 0;
}
