// `stella telemetry replay FILE.tar --key PUB.pem --export URL [--rate N/s]`: verifies the bundle, then
// sends its records in receive-time order to an OTLP backend (src/tee/replay.ts) with the gateway's own
// exporter transports.
import { createOtlpGrpcTransport } from '../../export/otlp-grpc-transport.js';
import { createOtlpHttpTransport } from '../../export/otlp-http-transport.js';
import { parseExportUrl } from '../../export/export-url.js';
import type { Transport } from '../../export/transport.js';
import { replayBundle } from '../../tee/replay.js';
import { verifyBundle } from '../../tee/verify-bundle.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';
import { loadBundleAndKey } from './verify.js';

const help = `Usage: stella telemetry replay FILE.tar --key PUB.pem --export URL [--rate N/s] [--tenant-header NAME]

Verifies the bundle (as "verify" does; nothing is sent unless it checks out), then sends its records,
in the order the gateway received them, to an OTLP backend: one export request per archived record,
retried while the backend answers retryably.

Options:
  --key PUB.pem         the signer's public key (required)
  --export URL          otlp-grpc://host:port or otlp-http://host:port[/path] (required)
  --rate N/s            at most N requests per second (default: as fast as the backend answers)
  --tenant-header NAME  send the bundle's tenant in this header (e.g. X-Scope-OrgID)
  -h, --help            show this help`;

const options = {
  key: { type: 'string' },
  export: { type: 'string' },
  rate: { type: 'string' },
  'tenant-header': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseRate(value: string | undefined): number {
  if (value === undefined) return 0;
  const m = /^(\d+(?:\.\d+)?)(?:\/s)?$/.exec(value.trim());
  if (!m || Number(m[1]) <= 0) throw new UsageError(`--rate: expected requests per second such as 50/s (got "${value}")`);
  return Number(m[1]);
}

export const replayCommand: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options, true);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'expected the bundle FILE.tar' : `expected one FILE.tar (got ${positionals.length})`);
    if (!values.key) throw new UsageError('--key PUB.pem is required');
    if (!values.export) throw new UsageError('--export URL is required');
    const target = parseExportUrl(values.export);
    if ('error' in target) throw new UsageError(`--export: ${target.error}`);
    if (target.kind === 'file') throw new UsageError('--export: replay sends to otlp-grpc:// or otlp-http:// backends');
    const ratePerSec = parseRate(values.rate);
    const file = positionals[0]!;
    const loaded = loadBundleAndKey('replay', file, values.key);
    if (!loaded) return 1;
    const verified = verifyBundle(loaded.tar, loaded.publicKeyPem);
    if (!verified.ok) {
      for (const f of verified.failures) stdio.err(`FAILED ${f.kind}: ${f.message}`);
      stdio.err(`not replaying ${file}: it does not verify`);
      return 1;
    }
    const config = { endpoint: target.endpoint, headers: {}, compression: 'none' as const, timeoutMs: 30_000, concurrency: 1 };
    const transportOptions = values['tenant-header'] ? { tenantHeader: values['tenant-header'] } : {};
    const transport: Transport =
      target.kind === 'otlp-grpc' ? createOtlpGrpcTransport(config, transportOptions) : createOtlpHttpTransport(config, transportOptions);
    const tty = process.stderr.isTTY;
    let lastLine = 0;
    try {
      const result = await replayBundle({
        manifest: verified.manifest,
        chunks: verified.chunks,
        transport,
        ratePerSec,
        onProgress: (sent, total) => {
          if (tty) process.stderr.write(`\rreplay ${sent}/${total} requests${sent === total ? '\n' : ''}`);
          else if (sent === total || Date.now() - lastLine >= 5000) {
            lastLine = Date.now();
            stdio.err(`replay ${sent}/${total} requests`);
          }
        },
      });
      if (!result.ok) {
        stdio.err(`stella telemetry replay: ${result.message}`);
        return 1;
      }
      stdio.out(
        `replayed ${file} to ${values.export}: ${result.records} requests ` +
          `(spans ${result.items.traces}, data points ${result.items.metrics}, log records ${result.items.logs})`,
      );
      return 0;
    } finally {
      await transport.close();
    }
  },
};
