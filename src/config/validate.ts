// Turns what users write (the YAML object, profile overlays, flags) into a GatewayConfig with defaults,
// or into a list of errors that each name the path and the bad value:
//   exporters[1].endpoint: expected host:port (got "x")
//   receivers.http.maxBodyBytes: expected a size such as 16MiB (got "lots")
//   unknown key "recievers" (did you mean "receivers"?)
// All errors are collected (not just the first), so one `config validate` run shows everything to fix.
//
// The YAML shape follows types.ts in camelCase, except that durations drop the `Ms` suffix because they
// take units (`timeout: 10s`, `flushInterval: 200ms`), listener endpoints are `host:port` strings, and an
// exporter's queue limit is `queue.maxBytes`. Three keys exist only in the YAML:
// - `profiles`: overlays per profile name (see profiles.ts);
// - `exporterDefaults`: exporter settings merged under every exporter entry (the entry wins);
// - `allowNetworkExporters`: false refuses otlp-grpc/otlp-http exporters (the airgap profile sets it).
// A null value means "not set" (the default applies), as YAML writes a key whose children are all
// commented out.
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseExportUrl } from '../export/export-url.js';
import { SIGNALS, type Signal } from '../signals.js';
import { readCluster } from './sections/cluster.js';
import { readForensic } from './sections/forensic.js';
import { readIncidents } from './sections/incidents.js';
import { readEgress } from './sections/egress.js';
import { checkConfigEgress } from '../egress/egress.js';
import { readPolicy } from './sections/policy.js';
import { readSampling } from './sections/sampling.js';
import { readTenancy } from './sections/tenancy.js';
import { readTrust } from './sections/trust.js';
import { deepMerge, isPlainObject, profileOverlay, type RawConfig } from './profiles.js';
import { registerSecret } from './secrets.js';
import {
  DEFAULT_CONFIG,
  METRICS_AUTH,
  DEFAULT_GRPC_LIMITS,
  DEFAULT_HTTP_MAX_CONNECTIONS,
  PROFILES,
  QUEUE_SYNC_MODES,
  TLS_MIN_VERSIONS,
  defaultFileExporter,
  exporterDefaults,
  type ExporterConfig,
  type ExporterKind,
  type ExporterTlsConfig,
  type GatewayConfig,
  type HostPort,
  type LogLevel,
  type ProfileName,
  type TlsConfig,
} from './types.js';
import { formatSize, parseDuration, parseSize } from './units.js';
import { TENANT_RE, TENANT_WHAT } from '../tenant-id.js';
import { pathAt as at, boolError, expectedMapping, integerError, oneOfError, show, unknownKey } from '../schema-check.js';

export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] };

export interface ValidateOptions {
  /** The profile to apply; wins over the file's `profile` key (the CLI's --profile). */
  profile?: string;
  /** Applied after the profile overlay, in the YAML shape (the CLI's flags); lists replace. */
  overrides?: RawConfig;
}

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export const EXPORTER_KINDS: readonly ExporterKind[] = ['otlp-grpc', 'otlp-http', 'file'];

const TOP_KEYS = [
  'profile',
  'profiles',
  'dataDir',
  'policiesDir',
  'policy',
  'receivers',
  'admin',
  'process',
  'admit',
  'exporters',
  'exporterDefaults',
  'allowNetworkExporters',
  'defaultTenant',
  'log',
  'shutdownTimeout',
  'tenancy',
  'sampling',
  'incidents',
  'forensic',
  'cluster',
  'egress',
  'trust',
] as const;
const TLS_KEYS = ['certFile', 'keyFile', 'clientCaFile', 'requireClientCert', 'minVersion'] as const;
const EXPORTER_SETTING_KEYS = ['signals', 'headers', 'compression', 'timeout', 'concurrency', 'batch', 'queue', 'retry', 'file'] as const;
const EXPORTER_KEYS = ['name', 'kind', 'endpoint', 'tls', ...EXPORTER_SETTING_KEYS] as const;
const EXPORTER_TLS_KEYS = ['caFile', 'certFile', 'keyFile', 'serverName', 'minVersion', 'insecureSkipVerify'] as const;

/** Exporter names become metric labels and file names. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Header names whose values are credentials (masked even when written in the file). */
const CREDENTIAL_HEADER_RE = /auth|token|key|secret|passw|cookie|credential|signature|session/i;
/** RFC 9110 token: a valid HTTP header name (gRPC metadata keys are a subset once lower-cased). */
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

interface HostPortRules {
  minPort: number;
}

/** Parses `host:port` / `[v6]:port`; the host is returned without brackets (as node and grpc-js take it). */
export function parseHostPort(value: string, rules: HostPortRules = { minPort: 0 }): HostPort | { error: string } {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(value) ?? /^([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?):(\d{1,5})$/.exec(value);
  if (!m) return { error: `expected host:port (got ${show(value)})` };
  const port = Number(m[2]);
  if (port < rules.minPort || port > 65535) return { error: `port must be ${rules.minPort}..65535 (got ${show(value)})` };
  return { host: m[1]!, port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Collects errors and reads typed values with defaults; a bad value records an error and yields the default. */
export class Reader {
  readonly errors: string[] = [];

  fail(path: string, message: string): void {
    this.errors.push(path ? `${path}: ${message}` : message);
  }

  /** A mapping with only `keys`; absent or null is an empty mapping; anything else is an error (and empty). */
  section(path: string, value: unknown, keys: readonly string[]): RawConfig {
    if (value === undefined || value === null) return {};
    if (!isPlainObject(value)) {
      this.fail(path, expectedMapping(value));
      return {};
    }
    for (const key of Object.keys(value)) {
      if (!keys.includes(key)) this.fail(path, unknownKey(key, keys));
    }
    return value;
  }

  size(path: string, value: unknown, fallback: number, min = 1): number {
    if (value === undefined || value === null) return fallback;
    const bytes = parseSize(value);
    if (bytes === undefined) {
      this.fail(path, `expected a size such as 16MiB (got ${show(value)})`);
      return fallback;
    }
    if (bytes < min) {
      this.fail(path, `must be at least ${formatSize(min)} (got ${show(value)})`);
      return fallback;
    }
    return bytes;
  }

  duration(path: string, value: unknown, fallback: number, min = 1): number {
    if (value === undefined || value === null) return fallback;
    const ms = parseDuration(value);
    if (ms === undefined) {
      this.fail(path, `expected a duration such as 30s, 200ms or 5m (got ${show(value)})`);
      return fallback;
    }
    if (ms < min) {
      this.fail(path, `must be at least ${min}ms (got ${show(value)})`);
      return fallback;
    }
    return ms;
  }

  int(path: string, value: unknown, fallback: number, min: number, max: number): number {
    if (value === undefined || value === null) return fallback;
    const error = integerError(value, min, max);
    if (error !== undefined) {
      this.fail(path, error);
      return fallback;
    }
    return value as number;
  }

  bool(path: string, value: unknown, fallback: boolean): boolean {
    if (value === undefined || value === null) return fallback;
    const error = boolError(value);
    if (error !== undefined) {
      this.fail(path, error);
      return fallback;
    }
    return value as boolean;
  }

  string(path: string, value: unknown, fallback: string, pattern?: { re: RegExp; what: string }): string {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string' || value === '') {
      this.fail(path, `expected ${pattern?.what ?? 'a non-empty string'} (got ${show(value)})`);
      return fallback;
    }
    if (pattern && !pattern.re.test(value)) {
      this.fail(path, `expected ${pattern.what} (got ${show(value)})`);
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(path: string, value: unknown, fallback: T, choices: readonly T[]): T {
    if (value === undefined || value === null) return fallback;
    const error = oneOfError(value, choices);
    if (error !== undefined) {
      this.fail(path, error);
      return fallback;
    }
    return value as T;
  }

  /** A listener address: `host:port` or `{host, port}`; port 0 lets the OS choose (tests). */
  hostPort(path: string, value: unknown, fallback: HostPort): HostPort {
    if (value === undefined || value === null) return fallback;
    if (isPlainObject(value)) {
      const o = this.section(path, value, ['host', 'port']);
      const host = this.string(at(path, 'host'), o.host, fallback.host);
      const port = this.int(at(path, 'port'), o.port, fallback.port, 0, 65535);
      return { host, port };
    }
    if (typeof value !== 'string') {
      this.fail(path, `expected host:port (got ${show(value)})`);
      return fallback;
    }
    const parsed = parseHostPort(value, { minPort: 0 });
    if ('error' in parsed) {
      this.fail(path, parsed.error);
      return fallback;
    }
    return parsed;
  }
}

/**
 * Validates a config object (the parsed YAML; null or undefined is the empty config) and applies the
 * profile overlay, `options.overrides` and the defaults. `source` (a file name) prefixes every error.
 */
export function validateConfig(raw: unknown, source?: string, options: ValidateOptions = {}): ConfigResult {
  const prefix = (errors: string[]): string[] => (source ? errors.map((e) => `${source}: ${e}`) : errors);
  const r = new Reader();
  if (raw === undefined || raw === null) raw = {};
  if (!isPlainObject(raw)) return { ok: false, errors: prefix([`expected a mapping of settings at the top level (got ${show(raw)})`]) };

  const fileProfiles = readProfiles(r, raw.profiles);
  const profileValue = options.profile ?? raw.profile;
  // A bad profile name or `profiles` section does not stop the rest from being checked (with the
  // default overlay in place of an unknown one).
  const profile = r.oneOf(options.profile !== undefined ? '--profile' : 'profile', profileValue, 'default', PROFILES);
  if (options.profile !== undefined) r.oneOf('profile', raw.profile, 'default', PROFILES);

  const build = (name: ProfileName): { config: GatewayConfig; errors: string[] } => {
    const file: RawConfig = { ...(raw as RawConfig) };
    delete file.profiles;
    let merged = deepMerge(file, profileOverlay(name, fileProfiles[name])) as RawConfig;
    merged = deepMerge(merged, options.overrides ?? {}) as RawConfig;
    const reader = new Reader();
    const config = readConfig(reader, { ...merged, profile: name });
    return { config, errors: reader.errors };
  };

  const selected = build(profile);
  const errors = [...r.errors, ...selected.errors];
  // Overlays the file defines for other profiles are checked too, so a typo there surfaces now rather
  // than on the day someone starts the gateway with that profile.
  for (const name of Object.keys(fileProfiles) as ProfileName[]) {
    if (name === profile) continue;
    const seen = new Set(selected.errors);
    for (const e of build(name).errors) if (!seen.has(e)) errors.push(`with profile ${name}: ${e}`);
  }
  if (errors.length > 0) return { ok: false, errors: prefix(errors) };
  return { ok: true, config: selected.config };
}

function readProfiles(r: Reader, value: unknown): Partial<Record<ProfileName, RawConfig>> {
  const section = r.section('profiles', value, PROFILES);
  const out: Partial<Record<ProfileName, RawConfig>> = {};
  for (const name of PROFILES) {
    const overlay = section[name];
    if (overlay === undefined || overlay === null) continue;
    const path = at('profiles', name);
    if (!isPlainObject(overlay)) {
      r.fail(path, `expected a mapping of settings to overlay (got ${show(overlay)})`);
      continue;
    }
    for (const key of ['profile', 'profiles']) {
      if (key in overlay) r.fail(path, `"${key}" cannot be set inside a profile overlay`);
    }
    out[name] = overlay;
  }
  return out;
}

function readConfig(r: Reader, raw: RawConfig): GatewayConfig {
  const D = DEFAULT_CONFIG;
  const top = r.section('', raw, TOP_KEYS);

  const receivers = r.section('receivers', top.receivers, ['grpc', 'http']);
  const grpc = r.section('receivers.grpc', receivers.grpc, [
    'enabled',
    'endpoint',
    'maxMessageBytes',
    'tls',
    'maxConnections',
    'handshakeTimeout',
    'idleTimeout',
    'maxConnectionAge',
    'maxConnectionAgeGrace',
    'keepaliveMinPingInterval',
    'maxHeaderListBytes',
  ]);
  const http = r.section('receivers.http', receivers.http, ['enabled', 'endpoint', 'maxBodyBytes', 'tls', 'maxConnections']);
  const GL = DEFAULT_GRPC_LIMITS;
  const admin = r.section('admin', top.admin, ['endpoint', 'tls', 'metricsAuth']);
  const proc = r.section('process', top.process, ['workers', 'maxQueue', 'taskTimeout', 'maxQueueWait', 'maxExpectedWait']);
  const admit = r.section('admit', top.admit, ['maxInflightBytes']);
  const log = r.section('log', top.log, ['level']);

  const dataDir = r.string('dataDir', top.dataDir, D.dataDir);
  const config: GatewayConfig = {
    profile: top.profile as ProfileName,
    dataDir,
    policiesDir: r.string('policiesDir', top.policiesDir, D.policiesDir),
    policy: readPolicy(r, top.policy),
    receivers: {
      grpc: {
        enabled: r.bool('receivers.grpc.enabled', grpc.enabled, D.receivers.grpc.enabled),
        endpoint: r.hostPort('receivers.grpc.endpoint', grpc.endpoint, D.receivers.grpc.endpoint),
        maxMessageBytes: r.size('receivers.grpc.maxMessageBytes', grpc.maxMessageBytes, D.receivers.grpc.maxMessageBytes),
        maxConnections: r.int('receivers.grpc.maxConnections', grpc.maxConnections, GL.maxConnections, 1, 1_000_000),
        handshakeTimeoutMs: r.duration('receivers.grpc.handshakeTimeout', grpc.handshakeTimeout, GL.handshakeTimeoutMs),
        idleTimeoutMs: r.duration('receivers.grpc.idleTimeout', grpc.idleTimeout, GL.idleTimeoutMs),
        maxConnectionAgeMs: r.duration('receivers.grpc.maxConnectionAge', grpc.maxConnectionAge, GL.maxConnectionAgeMs, 0),
        maxConnectionAgeGraceMs: r.duration('receivers.grpc.maxConnectionAgeGrace', grpc.maxConnectionAgeGrace, GL.maxConnectionAgeGraceMs, 0),
        keepaliveMinPingIntervalMs: r.duration('receivers.grpc.keepaliveMinPingInterval', grpc.keepaliveMinPingInterval, GL.keepaliveMinPingIntervalMs, 0),
        maxHeaderListBytes: r.size('receivers.grpc.maxHeaderListBytes', grpc.maxHeaderListBytes, GL.maxHeaderListBytes, 1024),
        ...readTls(r, 'receivers.grpc.tls', grpc.tls),
      },
      http: {
        enabled: r.bool('receivers.http.enabled', http.enabled, D.receivers.http.enabled),
        endpoint: r.hostPort('receivers.http.endpoint', http.endpoint, D.receivers.http.endpoint),
        maxBodyBytes: r.size('receivers.http.maxBodyBytes', http.maxBodyBytes, D.receivers.http.maxBodyBytes),
        maxConnections: r.int('receivers.http.maxConnections', http.maxConnections, DEFAULT_HTTP_MAX_CONNECTIONS, 1, 1_000_000),
        ...readTls(r, 'receivers.http.tls', http.tls),
      },
    },
    admin: {
      endpoint: r.hostPort('admin.endpoint', admin.endpoint, D.admin.endpoint),
      ...readTls(r, 'admin.tls', admin.tls),
      ...(admin.metricsAuth !== undefined && admin.metricsAuth !== null && { metricsAuth: r.oneOf('admin.metricsAuth', admin.metricsAuth, 'auto', METRICS_AUTH) }),
    },
    process: {
      workers: r.int('process.workers', proc.workers, D.process.workers, 0, 1024),
      maxQueue: r.int('process.maxQueue', proc.maxQueue, D.process.maxQueue, 0, 1_000_000),
      taskTimeoutMs: r.duration('process.taskTimeout', proc.taskTimeout, D.process.taskTimeoutMs),
      maxQueueWaitMs: r.duration('process.maxQueueWait', proc.maxQueueWait, D.process.maxQueueWaitMs),
      maxExpectedWaitMs: r.duration('process.maxExpectedWait', proc.maxExpectedWait, D.process.maxExpectedWaitMs),
    },
    admit: { maxInflightBytes: r.size('admit.maxInflightBytes', admit.maxInflightBytes, D.admit.maxInflightBytes) },
    exporters: [],
    defaultTenant: r.string('defaultTenant', top.defaultTenant, D.defaultTenant, {
      re: TENANT_RE,
      what: TENANT_WHAT,
    }),
    log: { level: r.oneOf('log.level', log.level, D.log.level, LOG_LEVELS) },
    shutdownTimeoutMs: r.duration('shutdownTimeout', top.shutdownTimeout, D.shutdownTimeoutMs, 0),
    // Feature sections: each reads and validates its own part (src/config/sections/*).
    tenancy: readTenancy(r, top.tenancy),
    sampling: readSampling(r, top.sampling),
    incidents: readIncidents(r, top.incidents),
    forensic: readForensic(r, top.forensic),
    egress: readEgress(r, top.egress),
    trust: readTrust(r, top.trust),
  };
  const cluster = readCluster(r, top.cluster, (path, v, what) => {
    if (v === undefined || v === null) {
      r.fail(path, `required: a PEM file (${what})`);
      return undefined;
    }
    if (typeof v !== 'string' || v === '') {
      r.fail(path, `expected the path of a PEM file (got ${show(v)})`);
      return undefined;
    }
    const problem = unreadableFile(v);
    if (problem) r.fail(path, `cannot read ${JSON.stringify(v)}: ${problem}`);
    return v;
  });
  if (cluster) config.cluster = cluster;
  checkListenerClashes(r, config);

  const allowNetwork = r.bool('allowNetworkExporters', top.allowNetworkExporters, true);
  config.exporters = readExporters(r, top.exporters, top.exporterDefaults, allowNetwork, config);
  // Sealed mode: every destination the config names must be on egress.allow (airgap, or a list set).
  // A destination already refused (a bad endpoint, or a network exporter where none is allowed) is not named twice.
  const refused = new Set(r.errors.map((e) => e.slice(0, e.indexOf(':'))));
  for (const e of checkConfigEgress(config)) if (!refused.has(e.path)) r.fail(e.path, e.message);
  return config;
}

/**
 * A listener's `tls` section; absent or null means plain TCP. Files must exist and be readable now
 * (fail fast, naming the file); their contents are parsed when the listener starts (src/receive/tls.ts).
 * Relative paths are taken from the working directory, as load.ts resolves them.
 */
function readTls(r: Reader, path: string, value: unknown): { tls?: TlsConfig } {
  if (value === undefined || value === null) return {};
  const o = r.section(path, value, TLS_KEYS);
  if (!isPlainObject(value)) return {};
  const file = (key: 'certFile' | 'keyFile' | 'clientCaFile', required: boolean): string | undefined => {
    const p = at(path, key);
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) r.fail(p, `required: a PEM file (${key === 'certFile' ? 'the server certificate chain' : 'its private key'})`);
      return undefined;
    }
    if (typeof v !== 'string' || v === '') {
      r.fail(p, `expected the path of a PEM file (got ${show(v)})`);
      return undefined;
    }
    const problem = unreadableFile(v);
    if (problem) r.fail(p, `cannot read ${JSON.stringify(v)}: ${problem}`);
    return v;
  };
  const certFile = file('certFile', true);
  const keyFile = file('keyFile', true);
  const clientCaFile = file('clientCaFile', false);
  // mTLS by default once a client CA is given; asking for it without a CA is a contradiction.
  const requireClientCert = r.bool(at(path, 'requireClientCert'), o.requireClientCert, clientCaFile !== undefined);
  if (requireClientCert && clientCaFile === undefined && (o.clientCaFile === undefined || o.clientCaFile === null)) {
    r.fail(at(path, 'requireClientCert'), 'requires clientCaFile (the CA that signs client certificates)');
  }
  const minVersion = r.oneOf(at(path, 'minVersion'), o.minVersion, 'TLSv1.2', TLS_MIN_VERSIONS);
  if (certFile === undefined || keyFile === undefined) return {};
  const tls: TlsConfig = { certFile, keyFile, requireClientCert, minVersion };
  if (clientCaFile !== undefined) tls.clientCaFile = clientCaFile;
  return { tls };
}

/** Why a file cannot be read (undefined when it can). */
function unreadableFile(path: string): string | undefined {
  try {
    const st = statSync(resolve(path));
    if (st.isDirectory()) return 'is a directory';
    if (!st.isFile()) return 'not a regular file';
    accessSync(resolve(path), fsConstants.R_OK);
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return 'no such file';
    if (e.code === 'EACCES') return 'permission denied';
    return e.message;
  }
}

/** Two enabled listeners on one port (other than 0) would fail at start-up with EADDRINUSE; say it now. */
function checkListenerClashes(r: Reader, config: GatewayConfig): void {
  const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::' || h === '';
  const listeners: [string, HostPort][] = [];
  if (config.receivers.grpc.enabled) listeners.push(['receivers.grpc.endpoint', config.receivers.grpc.endpoint]);
  if (config.receivers.http.enabled) listeners.push(['receivers.http.endpoint', config.receivers.http.endpoint]);
  listeners.push(['admin.endpoint', config.admin.endpoint]);
  if (config.cluster) listeners.push(['cluster.listen', config.cluster.listen]);
  for (let i = 0; i < listeners.length; i++) {
    for (let j = 0; j < i; j++) {
      const [pathA, a] = listeners[i]!;
      const [pathB, b] = listeners[j]!;
      if (a.port === 0 || a.port !== b.port) continue;
      if (a.host === b.host || wildcard(a.host) || wildcard(b.host)) {
        r.fail(pathA, `${formatHostPort(a)} clashes with ${pathB} (${formatHostPort(b)}); each listener needs its own port`);
      }
    }
  }
}

function readExporters(
  r: Reader,
  value: unknown,
  defaultsValue: unknown,
  allowNetwork: boolean,
  config: GatewayConfig,
): ExporterConfig[] {
  // exporterDefaults is checked on its own, so its errors name its own paths, then merged under each entry.
  const defaultsErrors = r.errors.length;
  const defaults = r.section('exporterDefaults', defaultsValue, EXPORTER_SETTING_KEYS);
  readExporterSettings(r, 'exporterDefaults', defaults, 'otlp-grpc');
  const usableDefaults = r.errors.length === defaultsErrors ? defaults : {};

  if (value === undefined || value === null) value = [];
  if (!Array.isArray(value)) {
    r.fail('exporters', `expected a list of exporters (got ${show(value)})`);
    return [];
  }
  if (value.length === 0) {
    // The documented fallback (types.ts): files under the data dir. Spelled out here so profiles and
    // exporterDefaults apply to it and `config validate` shows it.
    const settings = readExporterSettings(r, 'exporterDefaults', usableDefaults, 'file');
    return [defaultFileExporter(config.dataDir, settings)];
  }

  const exporters: ExporterConfig[] = [];
  const names = new Map<string, string>();
  value.forEach((entry: unknown, index) => {
    const path = at('exporters', index);
    if (!isPlainObject(entry)) {
      r.fail(path, `expected a mapping such as {name: tempo, endpoint: "otlp-grpc://tempo:4317"} (got ${show(entry)})`);
      return;
    }
    const exporter = readExporter(r, path, deepMerge(usableDefaults, entry) as RawConfig, index, allowNetwork);
    if (!exporter) return;
    const other = names.get(exporter.name);
    if (other !== undefined) r.fail(at(path, 'name'), `duplicate exporter name ${show(exporter.name)} (also ${other})`);
    else names.set(exporter.name, path);
    exporters.push(exporter);
  });
  return exporters;
}

function readExporter(r: Reader, path: string, e: RawConfig, index: number, allowNetwork: boolean): ExporterConfig | undefined {
  r.section(path, e, EXPORTER_KEYS);
  const kindPath = at(path, 'kind');
  const endpointPath = at(path, 'endpoint');
  const errorsBefore = r.errors.length;
  const declared = e.kind === undefined || e.kind === null ? undefined : r.oneOf(kindPath, e.kind, 'otlp-grpc', EXPORTER_KINDS);
  let target: Target | undefined;
  if (e.endpoint === undefined || e.endpoint === null) {
    r.fail(endpointPath, 'required: a URL such as otlp-grpc://host:4317, otlp-http://host:4318 or file://DIR');
  } else if (typeof e.endpoint !== 'string' || e.endpoint === '') {
    r.fail(endpointPath, `expected a URL such as otlp-grpc://host:4317 (got ${show(e.endpoint)})`);
  } else if (r.errors.length === errorsBefore) {
    target = resolveEndpoint(e.endpoint, declared);
    if ('error' in target) r.fail(target.onKind ? kindPath : endpointPath, target.error);
    else if (!allowNetwork && target.kind !== 'file') {
      r.fail(
        endpointPath,
        `network exporters are not allowed: allowNetworkExporters is false, as the airgap profile sets it (got ${show(e.endpoint)}); ` +
          'use file://DIR, or allow them explicitly with profiles.airgap.allowNetworkExporters: true',
      );
    }
  }
  // The rest is checked even when the endpoint is bad, so one run reports every error.
  const kind = target && !('error' in target) ? target.kind : (declared ?? 'otlp-grpc');
  const name = r.string(at(path, 'name'), e.name, `${kind}-${index}`, {
    re: NAME_RE,
    what: 'a name of letters, digits, ".", "_" or "-" (at most 64)',
  });
  const settings = readExporterSettings(r, path, e, kind);
  const tls = readExporterTls(r, at(path, 'tls'), e.tls, target && !('error' in target) ? target : undefined);
  if (!target || 'error' in target) return undefined;
  const exporter: ExporterConfig = { name, kind: target.kind, endpoint: target.endpoint, ...settings };
  if (tls) exporter.tls = tls;
  return exporter;
}

/**
 * An exporter's `tls:` section. TLS is on for https:// and otlp-grpcs:// endpoints (with these
 * defaults when the section is absent) and for otlp-grpc endpoints that have the section; an
 * http:// endpoint with the section is a contradiction, not a silent upgrade.
 */
function readExporterTls(r: Reader, path: string, value: unknown, target: { kind: ExporterKind; endpoint: string; tls?: boolean } | undefined): ExporterTlsConfig | undefined {
  const given = value !== undefined && value !== null;
  const urlTls = target !== undefined && (target.tls === true || (target.kind === 'otlp-http' && target.endpoint.startsWith('https://')));
  if (!given && !urlTls) return undefined;
  const o = r.section(path, value, EXPORTER_TLS_KEYS);
  if (target?.kind === 'file') {
    r.fail(path, 'a file exporter has no TLS (remove tls, or use an otlp-grpcs:// or https:// endpoint)');
    return undefined;
  }
  if (given && target?.kind === 'otlp-http' && !urlTls) {
    r.fail(path, `the endpoint ${show(target.endpoint)} is plaintext http://; write https:// to use TLS`);
    return undefined;
  }
  const file = (key: 'caFile' | 'certFile' | 'keyFile'): string | undefined => {
    const p = at(path, key);
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') {
      r.fail(p, `expected the path of a PEM file (got ${show(v)})`);
      return undefined;
    }
    const problem = unreadableFile(v);
    if (problem) r.fail(p, `cannot read ${JSON.stringify(v)}: ${problem}`);
    return v;
  };
  const caFile = file('caFile');
  const certFile = file('certFile');
  const keyFile = file('keyFile');
  const hasCert = o.certFile !== undefined && o.certFile !== null;
  const hasKey = o.keyFile !== undefined && o.keyFile !== null;
  if (hasCert !== hasKey) {
    r.fail(at(path, hasCert ? 'keyFile' : 'certFile'), `required with ${hasCert ? 'certFile' : 'keyFile'} (a client certificate for mTLS needs its private key)`);
  }
  let serverName: string | undefined;
  if (o.serverName !== undefined && o.serverName !== null) {
    serverName = r.string(at(path, 'serverName'), o.serverName, '', {
      re: /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$/,
      what: 'a host name such as tempo.example.com',
    });
  }
  const minVersion = r.oneOf(at(path, 'minVersion'), o.minVersion, 'TLSv1.2', TLS_MIN_VERSIONS);
  const insecureSkipVerify = r.bool(at(path, 'insecureSkipVerify'), o.insecureSkipVerify, false);
  if (insecureSkipVerify && caFile !== undefined) {
    r.fail(at(path, 'insecureSkipVerify'), 'contradicts caFile: with caFile the backend is verified against it; remove one of them');
  }
  const tls: ExporterTlsConfig = { minVersion, insecureSkipVerify };
  if (caFile !== undefined) tls.caFile = caFile;
  if (certFile !== undefined && keyFile !== undefined) {
    tls.certFile = certFile;
    tls.keyFile = keyFile;
  }
  if (serverName) tls.serverName = serverName;
  return tls;
}

type Target = { kind: ExporterKind; endpoint: string; tls?: boolean } | { error: string; onKind?: boolean };

/**
 * An exporter endpoint: a URL whose scheme sets the kind (otlp-grpc://, otlp-http://, otlp-https://,
 * file://, and plain http(s):// for otlp-http), or, with `kind`, the kind's own form (host:port for
 * otlp-grpc, a directory for file). Without scheme or kind, host:port means otlp-grpc.
 */
function resolveEndpoint(endpoint: string, declared: ExporterKind | undefined): Target {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(endpoint)?.[1]?.toLowerCase();
  let target: Target;
  if (scheme === 'http' || scheme === 'https') {
    target = httpBaseUrl(endpoint);
  } else if (scheme !== undefined) {
    target = parseExportUrl(endpoint);
  } else if (declared === 'file') {
    return { kind: 'file', endpoint };
  } else if (declared === 'otlp-http') {
    return { error: `expected a URL such as http://host:4318 or otlp-http://host:4318/prefix (got ${show(endpoint)})` };
  } else {
    const hp = parseHostPort(endpoint, { minPort: 1 });
    if ('error' in hp) {
      const also = declared ? '' : '; or a URL such as otlp-http://host:4318 or file://DIR';
      return { error: `${hp.error}${also}` };
    }
    return { kind: 'otlp-grpc', endpoint: formatHostPort(hp) };
  }
  if ('error' in target) return target;
  if (declared !== undefined && declared !== target.kind) {
    return { error: `${show(declared)} contradicts the endpoint ${show(endpoint)}, which is ${target.kind}`, onKind: true };
  }
  return target;
}

function httpBaseUrl(endpoint: string): Target {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { error: `expected a URL such as http://host:4318 (got ${show(endpoint)})` };
  }
  if (url.hostname === '') return { error: `missing host (got ${show(endpoint)})` };
  if (url.username || url.password) return { error: `credentials in the URL are not supported; use headers (got ${show(endpoint)})` };
  if (url.search || url.hash) return { error: `a query or fragment is not allowed (got ${show(endpoint)})` };
  if (url.port === '0') return { error: `port 0 is not a backend port (got ${show(endpoint)})` };
  const port = url.port ? `:${url.port}` : '';
  return { kind: 'otlp-http', endpoint: `${url.protocol}//${url.hostname}${port}${url.pathname.replace(/\/+$/, '')}` };
}

function readExporterSettings(r: Reader, path: string, e: RawConfig, kind: ExporterKind): Omit<ExporterConfig, 'name' | 'kind' | 'endpoint'> {
  const d = exporterDefaults(kind);
  const batch = r.section(at(path, 'batch'), e.batch, ['maxBytes', 'maxItems', 'flushInterval', 'passThroughBytes']);
  const queue = r.section(at(path, 'queue'), e.queue, ['maxBytes', 'persistent', 'sync', 'syncInterval', 'maxDiskBytes']);
  const retry = r.section(at(path, 'retry'), e.retry, ['initialBackoff', 'maxBackoff', 'maxElapsed', 'whenExhausted']);
  const file = r.section(at(path, 'file'), e.file, ['maxSegmentBytes', 'maxSegmentAge']);
  const settings = {
    signals: readSignals(r, at(path, 'signals'), e.signals, d.signals),
    headers: readHeaders(r, at(path, 'headers'), e.headers),
    compression: r.oneOf(at(path, 'compression'), e.compression, d.compression, ['none', 'gzip'] as const),
    timeoutMs: r.duration(at(path, 'timeout'), e.timeout, d.timeoutMs),
    concurrency: r.int(at(path, 'concurrency'), e.concurrency, d.concurrency, 1, 1024),
    batch: {
      maxBytes: r.size(`${path}.batch.maxBytes`, batch.maxBytes, d.batch.maxBytes),
      maxItems: r.int(`${path}.batch.maxItems`, batch.maxItems, d.batch.maxItems, 1, 10_000_000),
      flushIntervalMs: r.duration(`${path}.batch.flushInterval`, batch.flushInterval, d.batch.flushIntervalMs),
      passThroughBytes: r.size(`${path}.batch.passThroughBytes`, batch.passThroughBytes, d.batch.passThroughBytes),
    },
    queueMaxBytes: r.size(`${path}.queue.maxBytes`, queue.maxBytes, d.queueMaxBytes),
    queue: {
      persistent: r.bool(`${path}.queue.persistent`, queue.persistent, d.queue.persistent),
      sync: r.oneOf(`${path}.queue.sync`, queue.sync, d.queue.sync, QUEUE_SYNC_MODES),
      syncIntervalMs: r.duration(`${path}.queue.syncInterval`, queue.syncInterval, d.queue.syncIntervalMs),
      maxDiskBytes: r.size(`${path}.queue.maxDiskBytes`, queue.maxDiskBytes, d.queue.maxDiskBytes),
    },
    retry: {
      initialBackoffMs: r.duration(`${path}.retry.initialBackoff`, retry.initialBackoff, d.retry.initialBackoffMs),
      maxBackoffMs: r.duration(`${path}.retry.maxBackoff`, retry.maxBackoff, d.retry.maxBackoffMs),
      maxElapsedMs: r.duration(`${path}.retry.maxElapsed`, retry.maxElapsed, d.retry.maxElapsedMs, 0),
      whenExhausted: r.oneOf(`${path}.retry.whenExhausted`, retry.whenExhausted, d.retry.whenExhausted ?? 'keep', ['keep', 'drop'] as const),
    },
    file: {
      maxSegmentBytes: r.size(`${path}.file.maxSegmentBytes`, file.maxSegmentBytes, d.file.maxSegmentBytes),
      maxSegmentAgeMs: r.duration(`${path}.file.maxSegmentAge`, file.maxSegmentAge, d.file.maxSegmentAgeMs),
    },
  };
  // A batch larger than the whole queue could never be enqueued.
  if (settings.queueMaxBytes < settings.batch.maxBytes) {
    r.fail(
      `${path}.queue.maxBytes`,
      `must be at least batch.maxBytes (${formatSize(settings.batch.maxBytes)}) (got ${formatSize(settings.queueMaxBytes)})`,
    );
  }
  // The disk budget must hold at least one whole batch, or a request of that size could never be taken.
  if (settings.queue.persistent && settings.queue.maxDiskBytes < settings.batch.maxBytes) {
    r.fail(
      `${path}.queue.maxDiskBytes`,
      `must be at least batch.maxBytes (${formatSize(settings.batch.maxBytes)}) (got ${formatSize(settings.queue.maxDiskBytes)})`,
    );
  }
  if (settings.queue.syncIntervalMs > 1000) {
    r.fail(`${path}.queue.syncInterval`, `must be at most 1s: every request waits for it before it is acknowledged (got ${settings.queue.syncIntervalMs}ms)`);
  }
  if (queue.syncInterval !== undefined && queue.syncInterval !== null && settings.queue.sync !== 'batch') {
    r.fail(`${path}.queue.syncInterval`, `only applies to sync: batch (got sync: ${settings.queue.sync})`);
  }
  if (settings.retry.maxBackoffMs < settings.retry.initialBackoffMs) {
    r.fail(`${path}.retry.maxBackoff`, `must be at least retry.initialBackoff (${settings.retry.initialBackoffMs}ms) (got ${settings.retry.maxBackoffMs}ms)`);
  }
  return settings;
}

function readSignals(r: Reader, path: string, value: unknown, fallback: Signal[]): Signal[] {
  if (value === undefined || value === null) return [...fallback];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    r.fail(path, `expected a list of ${SIGNALS.join(', ')} (got ${Array.isArray(list) ? 'an empty list' : show(value)})`);
    return [...fallback];
  }
  const out: Signal[] = [];
  list.forEach((s: unknown, i) => {
    const error = oneOfError(s, SIGNALS);
    if (error !== undefined) r.fail(at(path, i), error);
    else if (out.includes(s as Signal)) r.fail(at(path, i), `${show(s)} is listed twice`);
    else out.push(s as Signal);
  });
  return out.length > 0 ? out : [...fallback];
}

function readHeaders(r: Reader, path: string, value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) {
    r.fail(path, `expected a mapping of header names to values (got ${show(value)})`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    const p = at(path, name);
    if (!HEADER_NAME_RE.test(name)) {
      r.fail(path, `invalid header name ${show(name)}`);
      continue;
    }
    if (typeof v !== 'string' && typeof v !== 'number') {
      r.fail(p, `expected a string (got ${show(v)})`);
      continue;
    }
    const text = String(v);
    if (/[\r\n\0]/.test(text)) {
      r.fail(p, 'a header value cannot contain CR, LF or NUL');
      continue;
    }
    // Credential headers (Authorization, API keys, tokens) are masked in every rendering (secrets.ts);
    // values substituted from ${env:…}/${file:…} already are, whatever the header.
    if (CREDENTIAL_HEADER_RE.test(name)) registerSecret(text);
    Object.defineProperty(out, name, { value: text, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
