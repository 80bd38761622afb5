// `stella telemetry serve`: load the config (file ◀ profile ◀ flags), start the gateway, and drain it on
// SIGTERM/SIGINT. Exit codes: 0 after a clean drain, 1 when start-up fails (port in use, unreadable
// directory, …) or on a second signal (exit at once, without draining), 2 for a bad command line or config.
import { loadConfig, type ServeFlags } from '../../config/load.js';
import type { HostPort } from '../../config/types.js';
import { formatHostPort } from '../../config/validate.js';
import type { RunningGateway } from '../../gateway.js';
import { parseCommandArgs, stdio, type Command } from '../command.js';
import { applyRuntimeV8Flags } from '../node-flags.js';
import { followParent, reexecWithGatewaySettings } from '../reexec.js';

const help = `Usage: stella telemetry serve [options]

Runs the gateway: OTLP/gRPC and OTLP/HTTP receivers, the worker pool, the exporters and the admin
listener (/metrics, /healthz, /readyz). SIGTERM or SIGINT drains (receivers stop, queues flush) within
shutdownTimeout; a second signal exits at once.

Options (flags override the config file):
  --config FILE        YAML config (see stella.example.yaml); defaults apply without it
  --profile P          default | forensic | airgap (overlay applied over the file)
  --grpc HOST:PORT     OTLP/gRPC listener (default 127.0.0.1:4317; port 0 = any free port)
  --http HOST:PORT     OTLP/HTTP listener (default 127.0.0.1:4318)
  --admin HOST:PORT    admin listener (default 127.0.0.1:8888)
  --data-dir DIR       data directory (default ./data, relative to the working directory)
  --policies DIR       policy directory (default ./policies, relative to the working directory)
  --export URL         exporter; repeat for several; replaces the file's exporters:
                         otlp-grpc://host:port, otlp-grpcs://host:port (TLS, system CAs),
                         otlp-http://host:port[/path], otlp-https://host[:port][/path], file://DIR
                       with no exporter anywhere, data goes to files under DATA_DIR/export
  --log-level LEVEL    fatal | error | warn | info | debug | trace | silent (default info)
  --workers N          worker threads (0 = one per core)
  --tls-cert FILE      TLS on both OTLP listeners: server certificate chain (PEM; needs --tls-key)
  --tls-key FILE       its private key (PEM)
  --tls-client-ca FILE CA of client certificates: mTLS, a client without a certificate is refused
                       (files are reloaded when they change; see "stella telemetry certs init")
  --trust-key PUB      require signatures by this public key (repeatable; adds to trust.keys): the
                       config file and every policy file must be signed ("config sign"), at start and
                       on every policy reload (docs/guides/config-rollout.md)
  -h, --help           show this help

Started without its node flags and malloc setting (e.g. "node dist/src/cli/main.js telemetry serve"),
serve runs itself again as a child process with them; STELLA_REEXEC=0 turns that off.`;

const options = {
  config: { type: 'string' },
  profile: { type: 'string' },
  grpc: { type: 'string' },
  http: { type: 'string' },
  admin: { type: 'string' },
  'data-dir': { type: 'string' },
  policies: { type: 'string' },
  export: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  workers: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
  'trust-key': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

const address = (hp: HostPort | undefined): string | undefined => (hp ? formatHostPort(hp) : undefined);

export const serveCommand: Command = {
  help,
  forceExit: true,
  async run(args) {
    const { values } = parseCommandArgs(args, options, false);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    // Started without the gateway's node flags and malloc setting: run again with them (reexec.ts).
    const reexec = reexecWithGatewaySettings();
    if (reexec) return await reexec;
    followParent();
    const flags: ServeFlags = {
      profile: values.profile,
      grpc: values.grpc,
      http: values.http,
      admin: values.admin,
      dataDir: values['data-dir'],
      policies: values.policies,
      export: values.export,
      logLevel: values['log-level'],
      workers: values.workers,
      tlsCert: values['tls-cert'],
      tlsKey: values['tls-key'],
      tlsClientCa: values['tls-client-ca'],
      trustKey: values['trust-key'],
    };
    const loaded = loadConfig({ file: values.config, flags });
    if (!loaded.ok) {
      for (const e of loaded.errors) stdio.err(`stella telemetry serve: ${e}`);
      if (loaded.errors.some((e) => e.startsWith('--'))) stdio.err('Run "stella telemetry serve --help" for its options.');
      return 2;
    }
    const config = loaded.config;
    applyRuntimeV8Flags();
    // Loaded only now, so a usage or config error is reported without loading the whole gateway.
    const [{ startGateway }, { createLogger, flushLogger }] = await Promise.all([import('../../gateway.js'), import('../../telemetry/logger.js')]);
    const logger = createLogger(config.log.level);

    // Signals are handled from the start: one that arrives while starting drains right after start-up.
    let signals = 0;
    let onStopRequested: (() => void) | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal }, 'second signal: exiting without draining');
        // pino flushes its buffer synchronously on exit.
        process.exit(1);
      }
      logger.info({ signal, deadlineMs: config.shutdownTimeoutMs }, 'signal received: draining');
      onStopRequested?.();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);

    let gw: RunningGateway;
    try {
      gw = await startGateway(config, { logger });
    } catch (err) {
      await flushLogger(logger);
      // The first lines: an invalid or unsigned policy file is named on the line after the first.
      const lines = (err instanceof Error ? err.message : String(err)).split('\n');
      stdio.err(`stella telemetry serve: cannot start: ${lines.slice(0, 6).join('\n  ')}`);
      return 1;
    }
    logger.info(
      {
        profile: config.profile,
        grpc: address(gw.addresses.grpc),
        http: address(gw.addresses.http),
        admin: address(gw.addresses.admin),
        exporters: config.exporters.map((e) => `${e.name} ${e.kind} ${e.endpoint}`),
        dataDir: config.dataDir,
      },
      'stella gateway ready',
    );

    const code = await new Promise<number>((resolve) => {
      onStopRequested = () => {
        gw.stop(config.shutdownTimeoutMs).then(
          () => resolve(0),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            resolve(1);
          },
        );
      };
      if (signals > 0) onStopRequested();
    });
    await flushLogger(logger);
    return code;
  },
};
