// GET /admin/v1/status (viewer): one JSON document an operator (or `stella telemetry status`) reads to
// see what the gateway is doing: listeners, tenants seen, policy version, incidents, queue depths and
// export health, and the forensic archive's usage per tenant and tier. The gateway passes a StatusSource; createStatusSource builds one from what the gateway
// already has (its metrics registry, pool stats, policy store, incident store), so no stage needs a new
// API for it. A token scoped to some tenants sees only those tenants (and fleet-wide incidents).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ClusterStatus } from '../cluster/cluster.js';
import type { HostPort } from '../config/types.js';
import { formatHostPort } from '../config/validate.js';
import { FLEET, type Incident } from '../incident/types.js';
import { packageRoot } from '../paths.js';
import { scopeArchiveStatus, type ArchiveStatus } from '../tee/retention.js';
import { redactDeep } from '../config/secrets.js';
import type { ExporterHealthSnapshot, ExporterHealthState } from '../export/health.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { sendAdminError } from './admin-errors.js';
import { inScope } from './auth.js';
import type { AdminAuthorize } from './auth-types.js';

export const STATUS_PATH = '/admin/v1/status';

/**
 * ok: the backend takes data; down: in a spell of failures with no success since it began; degraded:
 * failures and successes in the current spell (src/export/health.ts). Without an exporter's own
 * tracker: failures since the previous status request, with (degraded) or without (down) successes.
 */
export type ExportHealth = ExporterHealthState;

export interface ExporterStatus {
  name: string;
  health: ExportHealth;
  /** ISO time the current spell of failures began; null when ok. */
  since: string | null;
  /** Reason label and message of the last failure in the spell; null when ok. */
  lastError: { reason: string; message: string } | null;
  /** Items accepted and not yet acknowledged by the backend. */
  queueItems: number;
  /** Age of the oldest batch queued or in flight (seconds). */
  oldestAgeSeconds: number;
  /** Counters since start. */
  sentBatches: number;
  failedAttempts: number;
  droppedItems: number;
  queueBytes: number;
  queueBatches: number;
}

export interface GatewayStatus {
  version: string;
  profile: string;
  state: 'starting' | 'ready' | 'stopping';
  startedAt: string;
  uptimeSeconds: number;
  /** Listener name → host:port (only those that are up). */
  listeners: Record<string, string>;
  /** Tenants that had items accepted since start. */
  tenants: string[];
  policy: { version: string | null };
  incidents: Incident[];
  /** Queue name → depth (items, tasks, events or bytes as the name says). */
  queues: Record<string, number>;
  exporters: ExporterStatus[];
  /** The forensic archive (src/tee): bytes and segments per tenant and retention tier; null when not wired. */
  archive: ArchiveStatus | null;
  /** Cluster mode (src/cluster): this replica, the live members and every known peer; null without `cluster`. */
  cluster?: ClusterStatus | null;
}

export type StatusSource = () => Promise<GatewayStatus>;

export interface StatusInputs {
  metrics: GatewayMetrics;
  profile: string;
  state: () => GatewayStatus['state'];
  listeners: () => Record<string, HostPort | undefined>;
  exporterNames: readonly string[];
  /** Each exporter's own health (Exporter.health); names it lacks fall back to the counters. */
  exporterHealth?: () => Record<string, ExporterHealthSnapshot | undefined>;
  policyVersion: () => string | undefined;
  incidents: () => Incident[];
  /** More queue depths by name (worker pool, Notify, sampler buffers, …). */
  queues?: () => Record<string, number>;
  /** The forensic archive's usage (archiveStatus in src/tee/retention.ts). */
  archive?: () => ArchiveStatus;
  /** Membership and quota share (src/cluster/cluster.ts). */
  cluster?: () => ClusterStatus | undefined;
  now?: () => number;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

type Labelled = { get(): Promise<{ values: { labels: Record<string, string | number>; value: number }[] }> };

/** Sum of a metric's values per value of one label. */
async function byLabel(metric: Labelled, label: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const v of (await metric.get()).values) {
    const key = v.labels[label];
    if (key === undefined) continue;
    out.set(String(key), (out.get(String(key)) ?? 0) + v.value);
  }
  return out;
}

export function createStatusSource(inputs: StatusInputs): StatusSource {
  const now = inputs.now ?? Date.now;
  const startedAt = now();
  const version = packageVersion();
  const previous = new Map<string, { sent: number; failed: number }>();
  const m = inputs.metrics;
  return async () => {
    const [accepted, sent, failed, dropped, qBytes, qBatches, admitBytes] = await Promise.all([
      byLabel(m.receiverAcceptedItems, 'tenant'),
      byLabel(m.exporterSentBatches, 'exporter'),
      byLabel(m.exportFailures, 'exporter'),
      byLabel(m.exporterDroppedItems, 'exporter'),
      byLabel(m.exporterQueueBytes, 'exporter'),
      byLabel(m.exporterQueueBatches, 'exporter'),
      m.admitInflightBytes.get(),
    ]);
    const own = inputs.exporterHealth?.() ?? {};
    const exporters = inputs.exporterNames.map((name): ExporterStatus => {
      const s = sent.get(name) ?? 0;
      const f = failed.get(name) ?? 0;
      const before = previous.get(name) ?? { sent: 0, failed: 0 };
      previous.set(name, { sent: s, failed: f });
      const h = own[name];
      const health: ExportHealth = h?.state ?? (f > before.failed ? (s > before.sent ? 'degraded' : 'down') : 'ok');
      return {
        name,
        health,
        since: h?.since ?? null,
        lastError: h?.lastError ?? null,
        queueItems: h?.queueItems ?? 0,
        oldestAgeSeconds: h?.oldestAgeSeconds ?? 0,
        sentBatches: s,
        failedAttempts: f,
        droppedItems: dropped.get(name) ?? 0,
        queueBytes: qBytes.get(name) ?? 0,
        queueBatches: qBatches.get(name) ?? 0,
      };
    });
    const listeners: Record<string, string> = {};
    for (const [name, hp] of Object.entries(inputs.listeners())) if (hp) listeners[name] = formatHostPort(hp);
    const t = now();
    return {
      version,
      profile: inputs.profile,
      state: inputs.state(),
      startedAt: new Date(startedAt).toISOString(),
      uptimeSeconds: Math.round((t - startedAt) / 1000),
      listeners,
      tenants: [...accepted.entries()].filter(([, n]) => n > 0).map(([tenant]) => tenant).sort(),
      policy: { version: inputs.policyVersion() ?? null },
      incidents: inputs.incidents(),
      queues: { admitInflightBytes: admitBytes.values[0]?.value ?? 0, ...inputs.queues?.() },
      exporters,
      archive: inputs.archive?.() ?? null,
      cluster: inputs.cluster?.() ?? null,
    };
  };
}

export interface StatusRouteDeps {
  authorize: AdminAuthorize;
  source: StatusSource;
}

export function registerStatusRoute(app: FastifyInstance, deps: StatusRouteDeps): void {
  app.get(STATUS_PATH, async (req, reply) => {
    const principal = deps.authorize(req, reply, { role: 'viewer' });
    if (!principal) return reply;
    let status: GatewayStatus;
    try {
      status = await deps.source();
    } catch (e) {
      return sendAdminError(reply, 'STATUS_UNAVAILABLE', `cannot gather the status: ${(e as Error).message}`);
    }
    if (principal.tenants !== '*') {
      status = {
        ...status,
        tenants: status.tenants.filter((x) => inScope(principal, x)),
        incidents: status.incidents.filter((i) => i.scope === FLEET || inScope(principal, i.scope)),
        archive: status.archive && scopeArchiveStatus(status.archive, (tenant) => inScope(principal, tenant)),
      };
    }
    // Error details may quote a configured secret (a backend echoing a token): masked (secrets.ts).
    return reply.header('cache-control', 'no-store').send(redactDeep(status));
  });
}
