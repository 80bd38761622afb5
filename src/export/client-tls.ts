// TLS from an exporter to its backend: the PEM files of `exporters[].tls` loaded into client options
// for node:https and node:http2, reloaded when they change (the listeners' change detection,
// watchFiles in src/receive/tls.ts), and TLS failures classified into clear, bounded reasons.
//
// - Trust: the system's CAs (node's bundled Mozilla store, plus NODE_EXTRA_CA_CERTS) unless caFile
//   is given; then only caFile. insecureSkipVerify turns verification off, only when said, with a
//   warning at start-up.
// - A reload is applied only when the new files parse (and a client key matches its certificate);
//   otherwise the previous ones stay in use, the error is logged and
//   tls_reload_failures_total{listener="exporter:<name>"} is counted once per bad version. The
//   transports use the new options for new connections; open ones keep theirs.
// - A handshake that fails verification is a retryable failure with reason tls_untrusted,
//   tls_expired, tls_not_yet_valid, tls_name_mismatch or tls_handshake (the backend refused us):
//   the batch stays queued and is retried, counted in collector_export_failures_total, and the
//   exporter's health warning says what is wrong. A certificate fixed on either side heals it.
import { X509Certificate, createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { ExporterTlsConfig, TlsMinVersion } from '../config/types.js';
import { rawDigest, readPemFile, watchFiles } from '../receive/tls.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { TransportResult } from './transport.js';

/** What node's https.request / http2.connect / tls.connect take. */
export interface ClientTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  minVersion: TlsMinVersion;
  rejectUnauthorized: boolean;
}

export type ClientTlsLoad = { ok: true; options: ClientTlsOptions; digest: string } | { ok: false; error: string };

/** Reads and checks the files; never throws; errors name the file. */
export function loadClientTls(config: ExporterTlsConfig): ClientTlsLoad {
  const read = readPemFile;
  const options: ClientTlsOptions = { minVersion: config.minVersion, rejectUnauthorized: !config.insecureSkipVerify };
  if (config.serverName) options.servername = config.serverName;
  if (config.caFile !== undefined) {
    const ca = read(config.caFile);
    if (typeof ca === 'string') return { ok: false, error: ca };
    try {
      // An empty or garbled bundle would make every handshake fail as "untrusted"; say so now.
      new X509Certificate(ca);
    } catch (err) {
      return { ok: false, error: `${config.caFile}: not a PEM CA certificate (${(err as Error).message})` };
    }
    options.ca = ca;
  }
  if (config.certFile !== undefined && config.keyFile !== undefined) {
    const cert = read(config.certFile);
    if (typeof cert === 'string') return { ok: false, error: cert };
    const key = read(config.keyFile);
    if (typeof key === 'string') return { ok: false, error: key };
    try {
      new X509Certificate(cert);
    } catch (err) {
      return { ok: false, error: `${config.certFile}: not a PEM certificate (${(err as Error).message})` };
    }
    options.cert = cert;
    options.key = key;
  }
  try {
    // OpenSSL checks that the key parses and matches the certificate ("key values mismatch").
    createSecureContext({ ...(options.ca ? { ca: options.ca } : {}), ...(options.cert ? { cert: options.cert, key: options.key } : {}), minVersion: options.minVersion });
  } catch (err) {
    const files = [config.caFile, config.certFile, config.keyFile].filter((f) => f !== undefined).join(' / ');
    return { ok: false, error: `${files}: ${(err as Error).message}` };
  }
  const h = createHash('sha256');
  for (const b of [options.ca, options.cert, options.key]) h.update(createHash('sha256').update(b ?? Buffer.alloc(0)).digest());
  return { ok: true, options, digest: h.digest('hex') };
}

export interface ClientTls {
  /** The options in use (a new object after each reload, so they can key connection pools). */
  current(): ClientTlsOptions;
  /** Called after each successful reload. */
  onReload(listener: () => void): void;
  /** Reads the files now. */
  check(): 'reloaded' | 'unchanged' | 'failed';
  close(): void;
}

export interface ClientTlsDeps {
  exporter: string;
  logger?: Logger;
  metrics?: GatewayMetrics;
  debounceMs?: number;
  pollIntervalMs?: number;
  watch?: boolean;
}

/** Loads the files (throws at start-up when they are bad: fail fast) and watches them. */
export function createClientTls(config: ExporterTlsConfig, deps: ClientTlsDeps): ClientTls {
  const listener = `exporter:${deps.exporter}`;
  const first = loadClientTls(config);
  if (!first.ok) throw new Error(`TLS for exporter ${deps.exporter}: ${first.error}`);
  let options = first.options;
  let digest = first.digest;
  let failedDigest: string | undefined;
  const listeners = new Set<() => void>();
  deps.metrics?.tlsReloadFailures.inc({ listener }, 0);
  if (config.insecureSkipVerify) {
    deps.logger?.warn(
      { exporter: deps.exporter },
      'TLS certificate verification is OFF for this exporter (tls.insecureSkipVerify: true): anyone on the path can read and alter exported data',
    );
  }
  const files = [config.caFile, config.certFile, config.keyFile].filter((f): f is string => f !== undefined).map((f) => resolve(f));

  function check(): 'reloaded' | 'unchanged' | 'failed' {
    const loaded = loadClientTls(config);
    if (!loaded.ok) {
      const raw = rawDigest(files);
      if (raw !== failedDigest) {
        failedDigest = raw;
        deps.metrics?.tlsReloadFailures.inc({ listener });
        deps.logger?.error({ exporter: deps.exporter, error: loaded.error }, 'exporter TLS reload failed; still using the previous files');
      }
      return 'failed';
    }
    if (loaded.digest === digest) return 'unchanged';
    options = loaded.options;
    digest = loaded.digest;
    failedDigest = undefined;
    deps.logger?.info({ exporter: deps.exporter }, 'exporter TLS files reloaded; new connections use them');
    for (const l of listeners) l();
    return 'reloaded';
  }

  const watcher =
    files.length === 0
      ? { close() {} }
      : watchFiles(files, () => check(), {
          debounceMs: deps.debounceMs,
          pollIntervalMs: deps.pollIntervalMs,
          watch: deps.watch,
          onWatchError: (dir, err) => deps.logger?.warn({ exporter: deps.exporter, dir, err }, 'cannot watch the TLS files; relying on periodic checks'),
        });
  return {
    current: () => options,
    onReload(l) {
      listeners.add(l);
    },
    check,
    close() {
      watcher.close();
      listeners.clear();
    },
  };
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);

/**
 * A TLS failure as a transport result (retryable: the batch waits for a fixed certificate), or
 * undefined when `err` is not about TLS.
 */
export function classifyTlsError(err: (Error & { code?: string }) | undefined): TransportResult | undefined {
  if (!err) return undefined;
  // node:http2 cancels pending streams with ERR_HTTP2_STREAM_CANCEL whose cause is the TLS error.
  if (err.cause instanceof Error) {
    const fromCause = classifyTlsError(err.cause as Error & { code?: string });
    if (fromCause) return fromCause;
  }
  const code = err.code ?? '';
  const detail = `${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}`;
  if (code === 'CERT_HAS_EXPIRED') return { status: 'retryable', reason: 'tls_expired', message: `TLS: the backend's certificate has expired: ${detail}` };
  if (code === 'CERT_NOT_YET_VALID') return { status: 'retryable', reason: 'tls_not_yet_valid', message: `TLS: the backend's certificate is not yet valid: ${detail}` };
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return { status: 'retryable', reason: 'tls_name_mismatch', message: `TLS: the backend's certificate does not match its name (set tls.serverName if it should be another): ${detail}` };
  }
  if (UNTRUSTED.has(code)) {
    return { status: 'retryable', reason: 'tls_untrusted', message: `TLS: the backend's certificate is not signed by a trusted CA (tls.caFile, or the system CAs): ${detail}` };
  }
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO' || code === 'ERR_TLS_HANDSHAKE_TIMEOUT' || /\b(ssl|tls) alert\b|alert (bad|unknown|handshake|certificate)/i.test(err.message)) {
    return { status: 'retryable', reason: 'tls_handshake', message: `TLS handshake failed (a plaintext backend, a refused client certificate, or no common protocol version): ${detail}` };
  }
  return undefined;
}
