// The gateway's configuration from its three sources, in order of precedence:
//   config file (YAML)  ◀  profile overlay (profiles.ts)  ◀  command-line flags
// Flags are checked here (so their errors name the flag), then everything is validated together by
// validate.ts. Relative paths (dataDir, policiesDir, file exporter directories) are resolved against
// the working directory of the process, not against the config file's folder, so that
// `--data-dir ./data` and `dataDir: ./data` mean the same directory.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { parseExportUrl } from '../export/router.js';
import type { RawConfig } from './profiles.js';
import { redactSecrets } from './secrets.js';
import { substituteConfig } from './substitute.js';
import type { GatewayConfig, TlsConfig } from './types.js';
import { LOG_LEVELS, parseHostPort, show, validateConfig, type ConfigResult } from './validate.js';

/** The `serve` flags that shape the config (strings as typed; checked by loadConfig). */
export interface ServeFlags {
  /** --profile default|forensic|airgap */
  profile?: string;
  /** --grpc HOST:PORT (also enables the gRPC receiver if the file disabled it) */
  grpc?: string;
  /** --http HOST:PORT (also enables the HTTP receiver if the file disabled it) */
  http?: string;
  /** --admin HOST:PORT */
  admin?: string;
  /** --data-dir DIR */
  dataDir?: string;
  /** --policies DIR */
  policies?: string;
  /** --export URL, repeatable; when given, replaces the file's exporters. */
  export?: string[];
  /** --log-level fatal|error|warn|info|debug|trace|silent */
  logLevel?: string;
  /** --workers N (0 = one per core) */
  workers?: string;
  /** --tls-cert FILE: server certificate (PEM) for both OTLP listeners; needs --tls-key. */
  tlsCert?: string;
  /** --tls-key FILE: its private key (PEM). */
  tlsKey?: string;
  /** --tls-client-ca FILE: CA for client certificates; turns on mTLS (requireClientCert) on both OTLP listeners. */
  tlsClientCa?: string;
}

export interface LoadOptions {
  /** The YAML config file; without it the defaults (plus profile and flags) apply. */
  file?: string;
  /** Wins over flags.profile and over the file's `profile` key. */
  profile?: string;
  flags: ServeFlags;
  /** Base for relative paths; the process's working directory by default. */
  cwd?: string;
}

export function loadConfig(options: LoadOptions): ConfigResult {
  const errors: string[] = [];
  let raw: unknown = {};
  if (options.file !== undefined) {
    const read = readConfigFile(options.file);
    if ('errors' in read) errors.push(...read.errors);
    else raw = read.raw;
  }
  const overrides = flagOverrides(options.flags, errors);
  if (errors.length > 0) return { ok: false, errors };

  const result = validateConfig(raw, options.file, { profile: options.profile ?? options.flags.profile, overrides });
  // A bad value quoted in an error may be (or contain) a substituted secret.
  if (!result.ok) return { ok: false, errors: result.errors.map(redactSecrets) };
  return { ok: true, config: resolvePaths(result.config, options.cwd ?? process.cwd()) };
}

/** Parses a YAML file; errors carry `file:line:column`. */
export function readConfigFile(file: string): { raw: unknown } | { errors: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    return { errors: [`${file}: cannot read the config file: ${why}`] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return `${file}:${line}:${col}: ${e.message.split('\n')[0]}`;
      }),
    };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Unresolved or excessive aliases surface only when converting.
    return { errors: [`${file}: ${(err as Error).message}`] };
  }
  // ${env:…} / ${file:…} (substitute.ts); errors name the key.
  const substituted = substituteConfig(raw);
  if ('errors' in substituted) return { errors: substituted.errors.map((e) => `${file}: ${e}`) };
  return { raw: substituted.raw };
}

function flagOverrides(flags: ServeFlags, errors: string[]): RawConfig {
  const o: RawConfig = {};
  const receivers: RawConfig = {};
  const listener = (flag: string, value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const hp = parseHostPort(value, { minPort: 0 });
    if ('error' in hp) {
      errors.push(`${flag}: ${hp.error.replace('host:port', 'HOST:PORT')}`);
      return undefined;
    }
    return value;
  };
  const grpc = listener('--grpc', flags.grpc);
  if (grpc !== undefined) receivers.grpc = { enabled: true, endpoint: grpc };
  const http = listener('--http', flags.http);
  if (http !== undefined) receivers.http = { enabled: true, endpoint: http };
  const tls = tlsFlags(flags, errors);
  if (tls !== undefined) {
    // Both OTLP listeners; the admin listener's TLS is set in the config file only.
    receivers.grpc = { ...(receivers.grpc as RawConfig | undefined), tls };
    receivers.http = { ...(receivers.http as RawConfig | undefined), tls: { ...tls } };
  }
  if (Object.keys(receivers).length > 0) o.receivers = receivers;
  const admin = listener('--admin', flags.admin);
  if (admin !== undefined) o.admin = { endpoint: admin };

  const dir = (flag: string, value: string | undefined): string | undefined => {
    if (value === '') errors.push(`${flag}: expected a directory (got "")`);
    return value || undefined;
  };
  const dataDir = dir('--data-dir', flags.dataDir);
  if (dataDir !== undefined) o.dataDir = dataDir;
  const policies = dir('--policies', flags.policies);
  if (policies !== undefined) o.policiesDir = policies;

  if (flags.export !== undefined && flags.export.length > 0) {
    for (const url of flags.export) {
      const parsed = parseExportUrl(url);
      if ('error' in parsed) errors.push(`--export: ${parsed.error}`);
    }
    // Each URL becomes an exporter named <kind>-<index>; validate.ts parses it again with the rest.
    o.exporters = flags.export.map((endpoint) => ({ endpoint }));
  }

  if (flags.logLevel !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(flags.logLevel)) {
      errors.push(`--log-level: expected one of ${LOG_LEVELS.join(', ')} (got ${show(flags.logLevel)})`);
    } else {
      o.log = { level: flags.logLevel };
    }
  }
  if (flags.workers !== undefined) {
    const n = /^\d{1,4}$/.test(flags.workers) ? Number(flags.workers) : NaN;
    if (!(n <= 1024)) errors.push(`--workers: expected an integer from 0 (one per core) to 1024 (got ${show(flags.workers)})`);
    else o.process = { workers: n };
  }
  return o;
}

/** --tls-cert / --tls-key / --tls-client-ca as a `tls` section (files are checked by validate.ts). */
function tlsFlags(flags: ServeFlags, errors: string[]): RawConfig | undefined {
  const { tlsCert, tlsKey, tlsClientCa } = flags;
  if (tlsCert === undefined && tlsKey === undefined && tlsClientCa === undefined) return undefined;
  for (const [flag, value] of [['--tls-cert', tlsCert], ['--tls-key', tlsKey], ['--tls-client-ca', tlsClientCa]] as const) {
    if (value === '') errors.push(`${flag}: expected a PEM file (got "")`);
  }
  if (!tlsCert || !tlsKey) {
    errors.push(`${tlsCert ? '--tls-key' : '--tls-cert'}: required with ${tlsCert ? '--tls-cert' : tlsKey ? '--tls-key' : '--tls-client-ca'} (TLS needs a certificate and its key)`);
    return undefined;
  }
  const tls: RawConfig = { certFile: tlsCert, keyFile: tlsKey };
  if (tlsClientCa) {
    tls.clientCaFile = tlsClientCa;
    tls.requireClientCert = true;
  }
  return tls;
}

function resolvePaths(config: GatewayConfig, cwd: string): GatewayConfig {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(cwd, p));
  const tls = <T extends { tls?: TlsConfig }>(listener: T): T => {
    if (!listener.tls) return listener;
    const t: TlsConfig = { ...listener.tls, certFile: abs(listener.tls.certFile), keyFile: abs(listener.tls.keyFile) };
    if (t.clientCaFile !== undefined) t.clientCaFile = abs(t.clientCaFile);
    return { ...listener, tls: t };
  };
  return {
    ...config,
    receivers: { grpc: tls(config.receivers.grpc), http: tls(config.receivers.http) },
    admin: tls(config.admin),
    dataDir: abs(config.dataDir),
    policiesDir: abs(config.policiesDir),
    ...(config.cluster && {
      cluster: { ...config.cluster, tls: { ...config.cluster.tls, certFile: abs(config.cluster.tls.certFile), keyFile: abs(config.cluster.tls.keyFile), caFile: abs(config.cluster.tls.caFile) } },
    }),
    exporters: config.exporters.map((e) => {
      if (e.kind === 'file') return { ...e, endpoint: abs(e.endpoint) };
      if (!e.tls) return e;
      const t = { ...e.tls };
      if (t.caFile !== undefined) t.caFile = abs(t.caFile);
      if (t.certFile !== undefined) t.certFile = abs(t.certFile);
      if (t.keyFile !== undefined) t.keyFile = abs(t.keyFile);
      return { ...e, tls: t };
    }),
  };
}
