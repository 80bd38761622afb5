// `stella telemetry config validate FILE [--profile P]`: checks a config file offline (nothing is bound
// or contacted) with exactly the rules `serve` applies, and prints either a summary or every error.
import { loadConfig } from '../../config/load.js';
import type { GatewayConfig, TlsConfig } from '../../config/types.js';
import { formatDuration, formatSize } from '../../config/units.js';
import { redactSecrets } from '../../config/secrets.js';
import { formatHostPort } from '../../config/validate.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const help = `Usage: stella telemetry config validate FILE [--profile default|forensic|airgap]

Checks a gateway config file (YAML) without starting anything: unknown keys, bad values, sizes
(16MiB), durations (30s), endpoints, and the profile overlay. Prints a summary and exits 0 when the
file is valid; prints every error (path and bad value) and exits 1 when it is not.

Options:
  --profile P   apply this profile instead of the file's "profile" key
  -h, --help    show this help`;

const options = {
  profile: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const configValidateCommand: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options, true);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length === 0 ? 'expected the config FILE to validate' : `expected one FILE (got ${positionals.length})`);
    }
    const file = positionals[0]!;
    const result = loadConfig({ file, profile: values.profile, flags: {} });
    if (!result.ok) {
      for (const e of result.errors) stdio.err(redactSecrets(e));
      stdio.err(`INVALID: ${file} (${result.errors.length} error${result.errors.length === 1 ? '' : 's'})`);
      return 1;
    }
    stdio.out(`OK: ${file} (profile ${result.config.profile})`);
    for (const line of summarise(result.config)) stdio.out(redactSecrets(line));
    return 0;
  },
};

function exporterTls(e: GatewayConfig['exporters'][number]): string {
  const t = e.tls;
  if (!t) return e.kind === 'file' ? '' : '  plaintext';
  if (t.insecureSkipVerify) return `  TLS ${t.minVersion}+ WITHOUT certificate verification`;
  const trust = t.caFile ? `CA ${t.caFile}` : 'system CAs';
  return `  ${t.certFile ? 'mTLS' : 'TLS'} ${t.minVersion}+ (${trust}${t.serverName ? `; name ${t.serverName}` : ''}${t.certFile ? `; client cert ${t.certFile}` : ''})`;
}

/** A few lines that show what the file amounts to once defaults, profile and paths are applied. */
export function summarise(config: GatewayConfig): string[] {
  const { grpc, http } = config.receivers;
  // Plain listeners show nothing extra; TLS ones say whether client certificates are required.
  const tls = (t: TlsConfig | undefined): string =>
    t === undefined ? '' : `  ${t.requireClientCert ? 'mTLS' : 'TLS'} ${t.minVersion}+ (${t.certFile}${t.clientCaFile ? `; client CA ${t.clientCaFile}` : ''})`;
  const lines = ['listeners:'];
  lines.push(`  grpc   ${grpc.enabled ? `${formatHostPort(grpc.endpoint)}  (messages up to ${formatSize(grpc.maxMessageBytes)})${tls(grpc.tls)}` : 'disabled'}`);
  lines.push(`  http   ${http.enabled ? `${formatHostPort(http.endpoint)}  (bodies up to ${formatSize(http.maxBodyBytes)})${tls(http.tls)}` : 'disabled'}`);
  lines.push(`  admin  ${formatHostPort(config.admin.endpoint)}${tls(config.admin.tls)}`);
  lines.push('exporters:');
  for (const e of config.exporters) {
    lines.push(
      `  ${e.name}  ${e.kind} ${e.endpoint}  [${e.signals.join(', ')}]  queue ${formatSize(e.queueMaxBytes)}, retries for up to ${formatDuration(e.retry.maxElapsedMs)}` +
        `${(e.retry.whenExhausted ?? 'keep') === 'keep' ? ' then kept' : ' then dropped'}${exporterTls(e)}`,
    );
    // Header names only: their values are credentials (masked anyway, see secrets.ts).
    const headers = Object.keys(e.headers);
    if (headers.length > 0) lines.push(`    headers: ${headers.join(', ')} (values not shown)`);
  }
  lines.push(`data dir ${config.dataDir}; policies ${config.policiesDir}; log level ${config.log.level}`);
  return lines;
}
