// TLS for a listener (OTLP/gRPC, OTLP/HTTP, admin): PEM files from the config, loaded into a secure
// context and reloaded when they change on disk, without dropping open connections.
//
// How a reload reaches the listener:
// - node's https / tls servers: `server.setSecureContext(options)` replaces the context used by NEW
//   handshakes only; established connections keep theirs
//   (https://nodejs.org/api/tls.html#serversetsecurecontextoptions).
// - grpc-js (1.14): a ServerCredentials object keeps a set of watchers; the server registers one per
//   bound port that calls `setSecureContext` on its http2 secure server, and
//   `updateSecureContextOptions()` (protected) notifies them. grpc-js's own
//   CertificateProviderServerCredentials rotates certificates through the same mechanism; we subclass
//   ServerCredentials directly because that class cannot set minVersion and treats a failed update
//   (null) as "refuse every new connection", whereas we keep serving with the last good certificate.
//   (grpc-node packages/grpc-js/src/server-credentials.ts and server.ts, createHttp2Server.)
//
// Change detection: fs.watch on the files' directories (a rotation usually renames a new file over the
// old one, or swaps a symlink as Kubernetes secret volumes do, which a watch on the file itself would
// miss), debounced, plus a periodic stat of every file in case the watch misses an event (network file
// systems, some container overlays). A change is applied only when the new files parse and the key
// matches the certificate; otherwise the old context keeps serving, the error is logged and
// `tls_reload_failures_total{listener}` is counted once per bad version.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions, type TlsOptions } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { TlsConfig } from '../config/types.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';

export type TlsListenerName = 'grpc' | 'http' | 'admin' | 'cluster';

/** The PEM material of one version of the files, checked. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** SHA-256 fingerprint of the server (leaf) certificate, as node prints it (AA:BB:...). */
  fingerprint256: string;
  /** The leaf certificate's notAfter. */
  validTo: Date;
}

export type LoadResult = { ok: true; material: TlsMaterial } | { ok: false; error: string };

/** A PEM file's bytes, or an error naming the file (never throws); listeners and exporters share it. */
export function readPemFile(file: string): Buffer | string {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return `cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`;
  }
}

/** Reads and checks the files of `config`; never throws. Errors name the file. */
export function loadTlsMaterial(config: TlsConfig): LoadResult {
  const read = readPemFile;
  const cert = read(config.certFile);
  if (typeof cert === 'string') return { ok: false, error: cert };
  const key = read(config.keyFile);
  if (typeof key === 'string') return { ok: false, error: key };
  let ca: Buffer | undefined;
  if (config.clientCaFile !== undefined) {
    const c = read(config.clientCaFile);
    if (typeof c === 'string') return { ok: false, error: c };
    ca = c;
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    return { ok: false, error: `${config.certFile}: not a PEM certificate (${(err as Error).message})` };
  }
  if (ca !== undefined) {
    try {
      // Parses the first certificate of the bundle; an empty or garbled file would make every client fail.
      new X509Certificate(ca);
    } catch (err) {
      return { ok: false, error: `${config.clientCaFile}: not a PEM CA certificate (${(err as Error).message})` };
    }
  }
  try {
    // OpenSSL checks the key parses and matches the certificate ("key values mismatch").
    createSecureContext({ cert, key, ...(ca ? { ca } : {}), minVersion: config.minVersion });
  } catch (err) {
    return { ok: false, error: `${config.certFile} / ${config.keyFile}: ${(err as Error).message}` };
  }
  return { ok: true, material: { cert, key, ...(ca ? { ca } : {}), fingerprint256: leaf.fingerprint256, validTo: new Date(leaf.validTo) } };
}

/** What a secure context is built from (also what `setSecureContext` takes). */
export function secureContextOptions(config: TlsConfig, material: TlsMaterial): SecureContextOptions {
  return { cert: material.cert, key: material.key, ...(material.ca ? { ca: material.ca } : {}), minVersion: config.minVersion };
}

/** Options for https.createServer / tls.createServer: the context plus the client-certificate policy. */
export function tlsServerOptions(config: TlsConfig, material: TlsMaterial): TlsOptions {
  return {
    ...secureContextOptions(config, material),
    // Ask for a client certificate whenever a client CA is configured; without requireClientCert a
    // client may still connect without one (the peer is then "not authorized" and carries no identity).
    requestCert: config.clientCaFile !== undefined,
    rejectUnauthorized: config.requireClientCert,
  };
}

export interface TlsReloaderDeps {
  listener: TlsListenerName;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Quiet time after a change event before the files are read (writers replace cert and key in turn). */
  debounceMs?: number;
  /** The stat fallback's period. */
  pollIntervalMs?: number;
  /** Watch the directories for change events (default true; false leaves only the stat fallback). */
  watch?: boolean;
}

export interface TlsReloader {
  readonly config: TlsConfig;
  /** The material in use. */
  current(): TlsMaterial;
  /** Server options for the first listen. */
  serverOptions(): TlsOptions;
  /** Called with the new context options after each successful reload; returns an unsubscribe. */
  onReload(listener: (options: SecureContextOptions, material: TlsMaterial) => void): () => void;
  /** Reads the files now; 'unchanged' when their contents are what is in use. */
  check(): 'reloaded' | 'unchanged' | 'failed';
  /** Stops watching. */
  close(): void;
}

export const DEFAULT_TLS_DEBOUNCE_MS = 200;
export const DEFAULT_TLS_POLL_INTERVAL_MS = 30_000;

/**
 * Loads the files (throws at start-up when they are bad: fail fast) and watches them.
 */
export function createTlsReloader(config: TlsConfig, deps: TlsReloaderDeps): TlsReloader {
  const { listener, metrics, logger } = deps;
  const first = loadTlsMaterial(config);
  if (!first.ok) throw new Error(`TLS for the ${listener} listener: ${first.error}`);
  let material = first.material;
  let currentDigest = digest(material);
  let failedDigest: string | undefined;
  warnIfExpired(material);
  // Exported as 0 from the start, so an alert on increase() sees the first failure.
  metrics.tlsReloadFailures.inc({ listener }, 0);

  const listeners = new Set<(options: SecureContextOptions, material: TlsMaterial) => void>();
  const files = [config.certFile, config.keyFile, ...(config.clientCaFile !== undefined ? [config.clientCaFile] : [])].map((f) => resolve(f));

  function warnIfExpired(m: TlsMaterial): void {
    if (m.validTo.getTime() < Date.now()) {
      logger.warn({ listener, file: config.certFile, validTo: m.validTo.toISOString() }, 'the TLS server certificate has expired');
    }
  }

  function check(): 'reloaded' | 'unchanged' | 'failed' {
    const loaded = loadTlsMaterial(config);
    if (!loaded.ok) {
      // The digest of what is on disk, so one bad version is counted once (not on every poll).
      const raw = rawDigest(files);
      if (raw !== failedDigest) {
        failedDigest = raw;
        metrics.tlsReloadFailures.inc({ listener });
        logger.error({ listener, error: loaded.error }, 'TLS reload failed; still serving the previous certificate');
      }
      return 'failed';
    }
    const d = digest(loaded.material);
    if (d === currentDigest) return 'unchanged';
    const options = secureContextOptions(config, loaded.material);
    for (const l of listeners) {
      try {
        l(options, loaded.material);
      } catch (err) {
        // setSecureContext re-validates; should it still refuse, the old context stays in place.
        metrics.tlsReloadFailures.inc({ listener });
        logger.error({ listener, err }, 'TLS reload failed; still serving the previous certificate');
        return 'failed';
      }
    }
    material = loaded.material;
    currentDigest = d;
    failedDigest = undefined;
    warnIfExpired(material);
    logger.info({ listener, fingerprint256: material.fingerprint256, validTo: material.validTo.toISOString() }, 'TLS certificate reloaded');
    return 'reloaded';
  }

  const watcher = watchFiles(files, () => check(), {
    debounceMs: deps.debounceMs,
    pollIntervalMs: deps.pollIntervalMs,
    watch: deps.watch,
    onWatchError: (dir, err) => logger.warn({ listener, dir, err }, 'cannot watch the TLS files; relying on periodic checks'),
  });

  return {
    config,
    current: () => material,
    serverOptions: () => tlsServerOptions(config, material),
    onReload(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    check,
    close() {
      watcher.close();
      listeners.clear();
    },
  };
}

export interface WatchFilesOptions {
  debounceMs?: number | undefined;
  pollIntervalMs?: number | undefined;
  /** Watch the directories for change events (default true; false leaves only the stat fallback). */
  watch?: boolean | undefined;
  onWatchError?: (dir: string, err: unknown) => void;
}

/**
 * Calls `onChange` (debounced) when one of `files` may have changed: directory watches plus a
 * periodic stat (see the file comment). Shared by the listeners' reloader and the exporters' client
 * TLS (src/export/client-tls.ts).
 */
export function watchFiles(files: readonly string[], onChange: () => void, options: WatchFilesOptions = {}): { close(): void } {
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (closed) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      if (!closed) onChange();
    }, options.debounceMs ?? DEFAULT_TLS_DEBOUNCE_MS);
    debounce.unref();
  };
  const watchers: FSWatcher[] = [];
  const names = new Set(files.map((f) => basename(f)));
  for (const dir of options.watch === false ? [] : new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        // Any entry of the directory may matter (symlink swaps such as Kubernetes' `..data`), but
        // unrelated busy directories should not trigger reads on every write: names we know, or
        // names starting with ".." (atomic-writer symlinks), or no name at all.
        if (name === null || names.has(String(name)) || String(name).startsWith('..')) schedule();
      });
      w.on('error', (err) => options.onWatchError?.(dir, err));
      watchers.push(w);
    } catch (err) {
      options.onWatchError?.(dir, err);
    }
  }
  let lastStat = statSignature(files);
  const poll = setInterval(() => {
    const s = statSignature(files);
    if (s !== lastStat) {
      lastStat = s;
      schedule();
    }
  }, options.pollIntervalMs ?? DEFAULT_TLS_POLL_INTERVAL_MS);
  poll.unref();
  return {
    close() {
      closed = true;
      if (debounce) clearTimeout(debounce);
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}

function digest(m: TlsMaterial): string {
  const h = createHash('sha256');
  for (const b of [m.cert, m.key, m.ca ?? Buffer.alloc(0)]) h.update(createHash('sha256').update(b).digest());
  return h.digest('hex');
}

export function rawDigest(files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    try {
      h.update(createHash('sha256').update(readFileSync(f)).digest());
    } catch (err) {
      h.update(`missing:${(err as NodeJS.ErrnoException).code ?? ''}`);
    }
  }
  return h.digest('hex');
}

function statSignature(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

/**
 * A node tls/https server follows the reloader: new handshakes use the new context, open
 * connections keep theirs. Returns an unsubscribe.
 */
export function followReloads(server: { setSecureContext(options: SecureContextOptions): void }, reloader: TlsReloader): () => void {
  return reloader.onReload((options) => server.setSecureContext(options));
}

/**
 * grpc-js server credentials that follow the reloader (see the file comment). The server calls
 * `setSecureContext` on its http2 server for each update; open HTTP/2 connections keep their context.
 */
class ReloadingServerCredentials extends grpc.ServerCredentials {
  private readonly unsubscribe: () => void;

  constructor(reloader: TlsReloader) {
    const { config } = reloader;
    const material = reloader.current();
    super(
      {
        requestCert: config.clientCaFile !== undefined,
        rejectUnauthorized: config.requireClientCert,
        minVersion: config.minVersion,
      },
      secureContextOptions(config, material),
    );
    this.unsubscribe = reloader.onReload((options) => {
      // Checked by the reloader already; failing here would make grpc-js refuse new connections.
      createSecureContext(options);
      this.updateSecureContextOptions(options);
    });
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return this === other;
  }

  dispose(): void {
    this.unsubscribe();
  }
}

export function grpcServerCredentials(reloader: TlsReloader): grpc.ServerCredentials & { dispose(): void } {
  return new ReloadingServerCredentials(reloader);
}
