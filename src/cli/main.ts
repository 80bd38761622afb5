#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --initial-old-space-size=128
// `stella telemetry <command>`: the command table and dispatch. A command is a small module under
// commands/ (see command.ts); adding one is adding a line to COMMANDS. Modules load only when their
// command runs, so `--help` and `config validate` do not pay for the whole gateway.
// Exit codes: 0 ok, 1 the command failed, 2 the command line was wrong.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { didYouMean } from '../config/suggest.js';
import { packageRoot } from '../paths.js';
import { stdio, UsageError, type CommandEntry } from './command.js';

const COMMANDS: readonly CommandEntry[] = [
  { path: ['serve'], summary: 'run the gateway', load: async () => (await import('./commands/serve.js')).serveCommand },
  {
    path: ['config', 'validate'],
    summary: 'check a config file offline and summarise it',
    load: async () => (await import('./commands/config-validate.js')).configValidateCommand,
  },
  {
    path: ['config', 'sign'],
    summary: 'sign a config or policy file (or a directory) so that serve --trust-key accepts it',
    load: async () => (await import('./commands/config-sign.js')).configSignCommand,
  },
  {
    path: ['config', 'verify'],
    summary: 'check offline that a file or directory carries a valid signature',
    load: async () => (await import('./commands/config-sign.js')).configVerifyCommand,
  },
  {
    path: ['profile', 'diff'],
    summary: 'the effective settings that differ between two profiles (or config files), and where each came from',
    load: async () => (await import('./commands/profile-diff.js')).profileDiffCommand,
  },
  {
    path: ['deploy'],
    summary: 'roll a reviewed config and policies out to a directory: validate, diff, sign, swap, reload (--rollback)',
    load: async () => (await import('./commands/deploy.js')).deployCommand,
  },
  {
    path: ['certs', 'init'],
    summary: 'write a development CA and mTLS certificates',
    load: async () => (await import('./commands/certs-init.js')).certsInitCommand,
  },
  {
    path: ['policy', 'validate'],
    summary: 'check a policies directory offline: version and summary, or every error',
    load: async () => (await import('./commands/policy-validate.js')).policyValidateCommand,
  },
  {
    path: ['policy', 'diff'],
    summary: 'show what would change between two policies directories',
    load: async () => (await import('./commands/policy-diff.js')).policyDiffCommand,
  },
  {
    path: ['incident', 'on'],
    summary: 'put a tenant (or the fleet) into incident mode: keep 100% until the TTL',
    load: async () => (await import('./commands/incident.js')).incidentOnCommand,
  },
  {
    path: ['incident', 'off'],
    summary: 'end incident mode for a tenant (or the fleet)',
    load: async () => (await import('./commands/incident.js')).incidentOffCommand,
  },
  {
    path: ['incident', 'list'],
    summary: 'list the active incidents',
    load: async () => (await import('./commands/incident.js')).incidentListCommand,
  },
  {
    path: ['status'],
    summary: "a running gateway's listeners, tenants, policy, incidents, queues and export health",
    load: async () => (await import('./commands/status.js')).statusCommand,
  },
  {
    path: ['keys', 'init'],
    summary: 'write the ECDSA P-256 key pair that signs forensic bundles',
    load: async () => (await import('./commands/keys-init.js')).keysInitCommand,
  },
  {
    path: ['capture'],
    summary: "build a signed forensic bundle of a tenant's archived window",
    load: async () => (await import('./commands/capture.js')).captureCommand,
  },
  {
    path: ['verify'],
    summary: 'verify a forensic bundle offline with the public key',
    load: async () => (await import('./commands/verify.js')).verifyCommand,
  },
  {
    path: ['audit', 'verify'],
    summary: "check the audit log's hash chain offline: names an edited, removed or reordered line",
    load: async () => (await import('./commands/audit-verify.js')).auditVerifyCommand,
  },
  {
    path: ['dump'],
    summary: 'print file-exporter and archive segments as OTLP/JSON, one request per line',
    load: async () => (await import('./commands/dump.js')).dumpCommand,
  },
  {
    path: ['kit', 'build'],
    summary: 'build the signed offline kit: the gateway with its dependencies, configs, policies, dashboards, alerts',
    load: async () => (await import('./commands/kit.js')).kitBuildCommand,
  },
  {
    path: ['kit', 'verify'],
    summary: "check an offline kit offline: signature, every file's SHA-256, nothing missing or extra",
    load: async () => (await import('./commands/kit.js')).kitVerifyCommand,
  },
  {
    path: ['replay'],
    summary: 'verify a forensic bundle, then send its records to an OTLP backend',
    load: async () => (await import('./commands/replay.js')).replayCommand,
  },
];

function commandName(c: CommandEntry): string {
  return `stella telemetry ${c.path.join(' ')}`;
}

function telemetryHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.path.join(' ').length));
  return [
    'Usage: stella telemetry <command> [options]',
    '',
    'Stella Telemetry Gateway: an OTLP ingest gateway (gRPC :4317, HTTP :4318, admin :8888).',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.path.join(' ').padEnd(width)}  ${c.summary}`),
    '',
    'Run "stella telemetry <command> --help" for the options of a command.',
  ].join('\n');
}

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Finds the command whose words start `words` (the longest match), or explains why none does. */
function findCommand(words: string[]): { entry: CommandEntry; args: string[] } | { error: string } {
  let best: CommandEntry | undefined;
  for (const c of COMMANDS) {
    if (c.path.every((w, i) => words[i] === w) && (!best || c.path.length > best.path.length)) best = c;
  }
  if (best) return { entry: best, args: words.slice(best.path.length) };
  const first = words[0]!;
  if (first.startsWith('-')) return { error: `stella telemetry: unknown option "${first}"` };
  // A group such as `config` without (or with a wrong) subcommand.
  const group = COMMANDS.filter((c) => c.path.length > 1 && c.path[0] === first);
  if (group.length > 0) {
    const subs = group.map((c) => c.path[1]!);
    const second = words[1];
    return {
      error:
        second === undefined || second.startsWith('-')
          ? `stella telemetry ${first}: expected a subcommand: ${subs.join(', ')}`
          : `stella telemetry ${first}: unknown command "${second}"${didYouMean(second, subs)}`,
    };
  }
  const firstWords = [...new Set(COMMANDS.map((c) => c.path[0]!))];
  return { error: `stella telemetry: unknown command "${first}"${didYouMean(first, firstWords)}` };
}

async function main(argv: string[]): Promise<{ code: number; forceExit?: boolean }> {
  const [top, ...rest] = argv;
  if (top === '--version' || top === '-v') {
    stdio.out(version());
    return { code: 0 };
  }
  if (top === undefined || top === '--help' || top === '-h') {
    (top === undefined ? stdio.err : stdio.out)(telemetryHelp());
    return { code: top === undefined ? 2 : 0 };
  }
  if (top !== 'telemetry') {
    // `stella serve`: a command of the telemetry group typed without the group's name.
    const hint = COMMANDS.some((c) => c.path[0] === top) ? ` (did you mean "stella telemetry ${argv.join(' ')}"?)` : didYouMean(top, ['telemetry']);
    stdio.err(`stella: unknown command "${top}"${hint}; run "stella telemetry --help"`);
    return { code: 2 };
  }
  if (rest.length === 0 || rest[0] === '--help' || rest[0] === '-h' || rest[0] === 'help') {
    (rest.length === 0 ? stdio.err : stdio.out)(telemetryHelp());
    return { code: rest.length === 0 ? 2 : 0 };
  }
  const found = findCommand(rest);
  if ('error' in found) {
    stdio.err(found.error);
    stdio.err('Run "stella telemetry --help" for the list of commands.');
    return { code: 2 };
  }
  const { entry, args } = found;
  const command = await entry.load();
  try {
    return { code: await command.run(args), forceExit: command.forceExit };
  } catch (err) {
    if (err instanceof UsageError) {
      stdio.err(`${commandName(entry)}: ${err.message}`);
      stdio.err(`Run "${commandName(entry)} --help" for its options.`);
      return { code: 2 };
    }
    throw err;
  }
}

// `stella … | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).then(
  ({ code, forceExit }) => {
    if (forceExit) process.exit(code);
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`stella: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
