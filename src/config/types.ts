// The configuration users write (YAML file + flags), after validation and defaults.
// Validation lives in validate.ts; this file is only the shape and the defaults.
import { join } from 'node:path';
import type { Signal } from '../signals.js';
import type { ClusterConfig } from './sections/cluster.js';
import { DEFAULT_FORENSIC, type ForensicConfig } from './sections/forensic.js';
import { DEFAULT_INCIDENTS, type IncidentsConfig } from './sections/incidents.js';
import { DEFAULT_EGRESS, type EgressConfig } from './sections/egress.js';
import { DEFAULT_POLICY, type PolicyConfig } from './sections/policy.js';
import { DEFAULT_SAMPLING, type SamplingConfig } from './sections/sampling.js';
import { DEFAULT_TENANCY, type TenancyConfig } from './sections/tenancy.js';
import { DEFAULT_TRUST, type TrustConfig } from './sections/trust.js';

export type ProfileName = 'default' | 'forensic' | 'airgap';
export const PROFILES: readonly ProfileName[] = ['default', 'forensic', 'airgap'];

export interface HostPort {
  host: string;
  port: number;
}

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';
export const TLS_MIN_VERSIONS: readonly TlsMinVersion[] = ['TLSv1.2', 'TLSv1.3'];

/**
 * TLS on one listener (PEM files, reloaded when they change; see src/receive/tls.ts).
 *
 * DESIGN: a listener with TLS requires an identity (a verified client certificate or a bearer token)
 * unless its config explicitly says otherwise. The tenancy stage (src/identify) enforces that; this
 * section only terminates TLS and hands the verified peer certificate to RequestContext.peerCertificate.
 */
export interface TlsConfig {
  /** Server certificate chain (PEM): the leaf first, then intermediates. */
  certFile: string;
  /** Private key of the server certificate (PEM). */
  keyFile: string;
  /** CAs that sign client certificates (PEM). Without it no client certificate is asked for. */
  clientCaFile?: string;
  /** mTLS: refuse the handshake unless the client presents a certificate signed by clientCaFile. */
  requireClientCert: boolean;
  /** Oldest protocol version accepted (default TLSv1.2). */
  minVersion: TlsMinVersion;
}

/** Connection limits of the OTLP/gRPC listener (docs/guides/limits.md); unset keys take DEFAULT_GRPC_LIMITS. */
export interface GrpcConnectionLimits {
  /** Open connections at most; over it a new connection is closed at once (counted). */
  maxConnections: number;
  /** TLS handshake and HTTP/2 preface (client SETTINGS) must arrive within this. */
  handshakeTimeoutMs: number;
  /** A connection with no call in progress for this long is closed (GOAWAY). */
  idleTimeoutMs: number;
  /** A connection older than this gets a GOAWAY (0 = no limit), like the Collector's max_connection_age. */
  maxConnectionAgeMs: number;
  /** Calls in progress get this long after the age GOAWAY before the connection is cut. */
  maxConnectionAgeGraceMs: number;
  /** Client pings closer together than this are strikes; the third strike closes the connection (ENHANCE_YOUR_CALM). */
  keepaliveMinPingIntervalMs: number;
  /** Largest metadata (HTTP/2 header list) of a call, advertised as SETTINGS_MAX_HEADER_LIST_SIZE. */
  maxHeaderListBytes: number;
}

export const DEFAULT_GRPC_LIMITS: GrpcConnectionLimits = {
  maxConnections: 4096,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxConnectionAgeMs: 0,
  maxConnectionAgeGraceMs: 30_000,
  keepaliveMinPingIntervalMs: 10_000,
  maxHeaderListBytes: 64 * 1024,
};

export interface GrpcReceiverConfig extends Partial<GrpcConnectionLimits> {
  enabled: boolean;
  endpoint: HostPort;
  /** Largest accepted message after decompression. */
  maxMessageBytes: number;
  /** Plain TCP (h2c) without it. */
  tls?: TlsConfig;
}

export const DEFAULT_HTTP_MAX_CONNECTIONS = 4096;

export interface HttpReceiverConfig {
  enabled: boolean;
  endpoint: HostPort;
  /** Largest accepted body after decompression (a gzip bomb gets 413). */
  maxBodyBytes: number;
  /** Open connections at most (default DEFAULT_HTTP_MAX_CONNECTIONS); over it a new one is closed at once. */
  maxConnections?: number;
  /** Plain HTTP without it. */
  tls?: TlsConfig;
}

export interface AdminConfig {
  endpoint: HostPort;
  /** Plain HTTP without it. */
  tls?: TlsConfig;
  /**
   * Whether GET /metrics needs an admin token (any role, every tenant in scope: its labels name every
   * tenant): `auto` (default) = only when the admin listener is not bound to loopback; `always`; `never`.
   */
  metricsAuth?: MetricsAuth;
}

export type MetricsAuth = 'auto' | 'always' | 'never';
export const METRICS_AUTH: readonly MetricsAuth[] = ['auto', 'always', 'never'];

export interface ProcessConfig {
  /** Worker threads; 0 = one per core, at least 1. */
  workers: number;
  /** Tasks waiting for a worker before requests are refused with OVERLOADED. */
  maxQueue: number;
  /** A task running longer than this in a worker (queue time excluded) is refused with PROCESSING_TIMEOUT. */
  taskTimeoutMs: number;
  /** The longest a task may wait for a worker: a queued task still waiting at this limit is dropped with OVERLOADED. */
  maxQueueWaitMs: number;
  /**
   * A new request whose expected wait for a worker (the tasks ahead of it) is longer than this, or than
   * maxQueueWaitMs, is refused at once with OVERLOADED (retryable). Shorter than maxQueueWaitMs so that
   * under overload the queue stays short, while the tasks already queued ride out a stall (a policy
   * reload, a GC) of up to maxQueueWaitMs.
   */
  maxExpectedWaitMs: number;
}

export interface AdmitConfig {
  /** Request bytes admitted but not yet acknowledged, across all receivers. */
  maxInflightBytes: number;
}

export type ExporterKind = 'otlp-grpc' | 'otlp-http' | 'file';

export interface BatchConfig {
  maxBytes: number;
  maxItems: number;
  flushIntervalMs: number;
  /** A request at least this large is forwarded on its own instead of being merged (saves a copy). */
  passThroughBytes: number;
}

export interface RetryConfig {
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** The retry budget of one batch: after retrying this long, `whenExhausted` applies. */
  maxElapsedMs: number;
  /**
   * What a batch that is still failing with a retryable answer after maxElapsedMs becomes:
   * 'keep' (default) keeps it queued and retries every maxBackoffMs (counted in
   * exporter_retries_past_budget_total, logged), so only the queue's bound limits what waits;
   * 'drop' gives up on it (exporter_dropped_items_total{reason="retries_exhausted"}).
   */
  whenExhausted?: RetryExhaustedAction;
}

export type RetryExhaustedAction = 'keep' | 'drop';

export interface FileExporterOptions {
  /** Rotate a segment when it reaches this size. */
  maxSegmentBytes: number;
  /** Rotate a segment when it is this old. */
  maxSegmentAgeMs: number;
}

/**
 * TLS from an exporter to its backend (src/export/client-tls.ts). Present = TLS on: set for
 * https:// and otlp-grpcs:// endpoints, and for otlp-grpc endpoints with a `tls:` section.
 * The files are reloaded when they change; new connections use the new ones.
 */
export interface ExporterTlsConfig {
  /** CAs that sign the backend's certificate (PEM); without it the system's trusted CAs. */
  caFile?: string;
  /** Client certificate chain for mTLS (PEM); needs keyFile. */
  certFile?: string;
  keyFile?: string;
  /** Name to verify the backend's certificate against (and SNI), instead of the endpoint's host. */
  serverName?: string;
  /** Oldest protocol version accepted (default TLSv1.2). */
  minVersion: TlsMinVersion;
  /** Skip verifying the backend's certificate: only when said explicitly; a warning at start-up. */
  insecureSkipVerify: boolean;
}

/** How the persistent export queue syncs its log (src/export/queue/persistent-queue.ts). */
export type QueueSyncMode = 'batch' | 'always' | 'none';
export const QUEUE_SYNC_MODES: readonly QueueSyncMode[] = ['batch', 'always', 'none'];

/** The on-disk export queue under `<data-dir>/queue/<exporter>/` (docs/guides/persistent-queue.md). */
export interface PersistentQueueConfig {
  /** Acknowledge a request only once it is on disk; replay after a restart (default: off; on in the forensic profile). */
  persistent: boolean;
  /** `batch`: group commit, one fsync at most every syncIntervalMs; `always`: fsync every write; `none`: no fsync (not crash-safe). */
  sync: QueueSyncMode;
  syncIntervalMs: number;
  /** Bytes on disk (not yet acknowledged by the backend) before new data is refused with a retryable status. */
  maxDiskBytes: number;
}

export interface ExporterConfig {
  name: string;
  kind: ExporterKind;
  /** host:port for otlp-grpc; a base URL (http://host:port[/prefix]) for otlp-http; a directory for file. */
  endpoint: string;
  signals: Signal[];
  /** Extra headers (HTTP) or metadata (gRPC) on every export request. */
  headers: Record<string, string>;
  /** gzip-compress export requests. */
  compression: 'none' | 'gzip';
  timeoutMs: number;
  /** Export requests in flight at once. */
  concurrency: number;
  batch: BatchConfig;
  /** Bytes queued (batched, not yet acknowledged by the backend) before new data is refused. */
  queueMaxBytes: number;
  /** The persistent queue (off unless `queue.persistent: true`). */
  queue: PersistentQueueConfig;
  retry: RetryConfig;
  file: FileExporterOptions;
  /** TLS to the backend; absent = plaintext (http://, otlp-grpc:// without `tls:`). */
  tls?: ExporterTlsConfig;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface GatewayConfig {
  profile: ProfileName;
  dataDir: string;
  policiesDir: string;
  /** Bounds on the policy files (src/config/sections/policy.ts, docs/guides/policy-safety.md). */
  policy: PolicyConfig;
  receivers: { grpc: GrpcReceiverConfig; http: HttpReceiverConfig };
  admin: AdminConfig;
  process: ProcessConfig;
  admit: AdmitConfig;
  /** Empty = a file exporter under `${dataDir}/export` (the gateway runs with nothing else installed). */
  exporters: ExporterConfig[];
  /** Tenant of requests without identity where tenancy.anonymous admits them (unless tenancy.anonymousTenant is set). */
  defaultTenant: string;
  log: { level: LogLevel };
  /** Deadline for draining everything on SIGTERM. */
  shutdownTimeoutMs: number;
  /** Identities, tenant binding, stamping, quotas, per-tenant export (src/identify, src/admit). */
  tenancy: TenancyConfig;
  /** Tail sampling of traces (src/sample). */
  sampling: SamplingConfig;
  /** Incident mode, admin API tokens, notify webhooks (src/incident, src/admin). */
  incidents: IncidentsConfig;
  /** Forensic tee, archives and retention (src/tee). */
  forensic: ForensicConfig;
  /** Several replicas acting as one gateway (src/cluster); absent = a single replica. */
  cluster?: ClusterConfig;
  /** Sealed mode: the outbound destinations allowed (src/config/sections/egress.ts, src/egress). */
  egress: EgressConfig;
  /** Public keys whose signatures the config and policy files must carry (src/config/sections/trust.ts). */
  trust: TrustConfig;
}

const MiB = 1024 * 1024;

export const DEFAULT_BATCH: BatchConfig = { maxBytes: 4 * MiB, maxItems: 8192, flushIntervalMs: 200, passThroughBytes: 256 * 1024 };
export const DEFAULT_RETRY: RetryConfig = { initialBackoffMs: 250, maxBackoffMs: 30_000, maxElapsedMs: 300_000, whenExhausted: 'keep' };
export const DEFAULT_PERSISTENT_QUEUE: PersistentQueueConfig = { persistent: false, sync: 'batch', syncIntervalMs: 10, maxDiskBytes: 1024 * MiB };
export const DEFAULT_FILE: FileExporterOptions = { maxSegmentBytes: 64 * MiB, maxSegmentAgeMs: 3_600_000 };

export const DEFAULT_CONFIG: GatewayConfig = {
  profile: 'default',
  dataDir: './data',
  policiesDir: './policies',
  policy: DEFAULT_POLICY,
  receivers: {
    grpc: { enabled: true, endpoint: { host: '127.0.0.1', port: 4317 }, maxMessageBytes: 16 * MiB, ...DEFAULT_GRPC_LIMITS },
    http: { enabled: true, endpoint: { host: '127.0.0.1', port: 4318 }, maxBodyBytes: 16 * MiB, maxConnections: DEFAULT_HTTP_MAX_CONNECTIONS },
  },
  admin: { endpoint: { host: '127.0.0.1', port: 8888 } },
  process: { workers: 0, maxQueue: 512, taskTimeoutMs: 10_000, maxQueueWaitMs: 5_000, maxExpectedWaitMs: 1_000 },
  admit: { maxInflightBytes: 256 * MiB },
  exporters: [],
  defaultTenant: 'default',
  log: { level: 'info' },
  shutdownTimeoutMs: 15_000,
  tenancy: DEFAULT_TENANCY,
  sampling: DEFAULT_SAMPLING,
  incidents: DEFAULT_INCIDENTS,
  forensic: DEFAULT_FORENSIC,
  egress: DEFAULT_EGRESS,
  trust: DEFAULT_TRUST,
};

/** Defaults for one exporter entry; `name`, `kind` and `endpoint` come from the user. */
export function exporterDefaults(kind: ExporterKind): Omit<ExporterConfig, 'name' | 'kind' | 'endpoint'> {
  return {
    signals: ['traces', 'metrics', 'logs'],
    headers: {},
    compression: 'none',
    timeoutMs: 10_000,
    concurrency: kind === 'file' ? 1 : 4,
    batch: { ...DEFAULT_BATCH },
    queueMaxBytes: 128 * MiB,
    queue: { ...DEFAULT_PERSISTENT_QUEUE },
    retry: { ...DEFAULT_RETRY },
    file: { ...DEFAULT_FILE },
  };
}

/**
 * The exporter used when none is configured anywhere: files under `${dataDir}/export`, so the gateway
 * runs with nothing else installed.
 */
export function defaultFileExporter(dataDir: string, settings = exporterDefaults('file')): ExporterConfig {
  return { name: 'file', kind: 'file', endpoint: join(dataDir, 'export'), ...settings };
}
