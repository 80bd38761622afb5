// The gateway: starts the stages, states the chain, and stops them (DESIGN.md, "The flow of data").
//
//   receive (gRPC, HTTP) ─▶ identify ─▶ admit ─▶ process (worker pool) ─▶ tee ─▶ sample ─▶ export (router ─▶ exporters)
//
// identify binds each request to a tenant (tenants.yaml); admit charges the in-flight budget and the
// tenant's quota; process redacts and stamps in the worker pool under one policy version; tee keeps the
// forensic copy (post-redaction, pre-sampling); sample holds traces for a tail decision (off: traces go
// straight to export); export batches, queues and retries per backend. Around the pipeline: the policy
// and tenant stores (hot-reloaded), incident mode with its notifications, and the admin listener
// (src/admin/routes.ts).
//
// Every component is recorded on one start/stop graph (src/lifecycle.ts) as it starts: start-up follows
// the chain backwards (export first, receivers last) and a failure unwinds what started, newest first;
// shut-down stops the receivers, then drains each stage in turn within one deadline, then the services
// around the pipeline (the admin listener last but one, so /readyz says "stopping" while draining).
import { join, resolve } from 'node:path';
import { createAdmitter } from './admit/admitter.js';
import { startCapturePruner } from './admin/captures-routes.js';
import { capturesDirOf, createGatewayAdmin } from './admin/routes.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { trustedKeyPems } from './config/sections/trust.js';
import { startTraceRouting } from './cluster/routing.js';
import type { TraceRouter } from './cluster/trace-router.js';
import { createNotifier } from './incident/notify.js';
import { startIncidentCaptures } from './incident/capture-on-end-wiring.js';
import { appendAudit, AUDIT_FILE, type AuditLine } from './incident/audit-log.js';
import type { ReloadAudit, ReloadOutcome } from './policy/hot-reload.js';
import { createIncidentStore, incidentStoreConfig, type IncidentStore } from './incident/store.js';
import { defaultFileExporter, type ExporterConfig, type GatewayConfig, type HostPort } from './config/types.js';
import { rejected, retryable, type Refusal } from './errors.js';
import { partialSuccessOf } from './receive/responses.js';
import { createExportRouter } from './export/router.js';
import { createIdentifier, type Identifier } from './identify/identify.js';
import { createTenantStore } from './identify/tenant-store.js';
import { createQuotas } from './admit/quota.js';
import { createTenantLabeler } from './telemetry/tenant-label.js';
import { createPolicyStore } from './policy/policy-store.js';
import { forensicDir } from './tee/layout.js';
import { archiveStatus } from './tee/retention.js';
import { createTee, type Tee } from './tee/tee.js';
import { SAMPLING_FILE } from './sample/policy-schema.js';
import { createSamplingPolicyStore } from './sample/policy-store.js';
import { createSampler } from './sample/sampler.js';
import { createProcessPool } from './process/pool.js';
import type { PayloadEncoding } from './process/protocol.js';
import { summariesOf } from './process/wire/trace-columns.js';
import { createGrpcReceiver } from './receive/grpc-receiver.js';
import { createHttpReceiver } from './receive/http-receiver.js';
import { tlsAuditLine } from './receive/tls.js';
import type { IngestDeps, IngestOutcome, RequestContext } from './receive/types.js';
import type { Signal } from './signals.js';
import type { Logger } from './telemetry/logger-types.js';
import { createMetrics, type GatewayMetrics } from './telemetry/metrics.js';
import { createEgressGuard } from './egress/egress.js';
import { createStartStopGraph, type StartStopGraph } from './lifecycle.js';

export interface RunningGateway {
  addresses: { grpc?: HostPort; http?: HostPort; admin: HostPort };
  metrics: GatewayMetrics;
  /** Incident mode (src/incident/store.ts): isActive/list/onChange, on/off. */
  incidents: IncidentStore;
  /** The forensic tee (flush, seal, prune; see src/tee/tee.ts). */
  tee: Tee;
  /** Cluster mode (src/cluster): membership, peer listener and client; undefined without `cluster`. */
  cluster?: Cluster;
  /** Stop receivers, drain the pool and the exporters; what is left at the deadline is dropped and counted. */
  stop(deadlineMs?: number): Promise<void>;
}

/** Validated configs already spell out the fallback; configs built in code may leave the list empty. */
export function effectiveExporters(config: GatewayConfig): ExporterConfig[] {
  return config.exporters.length > 0 ? config.exporters : [defaultFileExporter(resolve(config.dataDir))];
}

export async function startGateway(
  config: GatewayConfig,
  deps: { logger: Logger; metrics?: GatewayMetrics; /** Tests substitute the pool's worker module. */ workerFile?: string | URL },
): Promise<RunningGateway> {
  const started = createStartStopGraph({ logger: deps.logger });
  try {
    return await startAll(config, deps, started);
  } catch (err) {
    // Fail fast at start-up, but release what did start so the process can exit cleanly.
    await started.unwind();
    throw err;
  }
}

async function startAll(
  config: GatewayConfig,
  deps: { logger: Logger; metrics?: GatewayMetrics; workerFile?: string | URL },
  started: StartStopGraph,
): Promise<RunningGateway> {
  const { logger } = deps;
  const metrics = deps.metrics ?? createMetrics();
  let state: 'starting' | 'ready' | 'stopping' = 'starting';

  // The audit log (hash-chained, src/incident/audit-log.ts): incident changes and captures write their
  // own lines; the gateway adds its start, policy and tenants reloads, and refused admin requests.
  const auditFile = join(incidentStoreConfig(config).dir, AUDIT_FILE);
  function auditLine(record: AuditLine & Record<string, unknown>): void {
    try {
      appendAudit(auditFile, Date.now(), record);
    } catch (e) {
      metrics.incidentPersistFailures.inc({ file: 'audit' });
      logger.error({ err: (e as Error).message, file: auditFile, action: record.action }, 'cannot append to the audit log');
    }
  }
  const audit: ReloadAudit = (e) =>
    auditLine({
      action: e.outcome === 'active' ? 'reload.active' : 'reload.refused',
      scope: '*',
      by: 'gateway',
      reason: e.reason ?? null,
      what: e.what,
      versionBefore: e.versionBefore,
      versionAfter: e.versionAfter,
      ...(e.file !== undefined && { file: e.file }),
      ...(e.errors !== undefined && { errors: e.errors }),
    });

  // Policies load first (an invalid policy fails start-up before anything binds) and hot-reload from
  // then on. Workers receive the compiled policy by version (see the process stage).
  // Sealed mode: every outbound connection (exporters, Notify; cluster peers) asks egress.allow first.
  const egress = createEgressGuard(config, { metrics, logger });
  // trust.keys: every policy file must carry a signature by one of them (src/trust), at start and on reload.
  const trustKeys = trustedKeyPems(config.trust);
  const policies = createPolicyStore(config.policiesDir, { profile: config.profile, metrics, logger, audit, limits: config.policy.limits, trustKeys });
  started.push('policy store', () => policies.stop(), { service: true });
  policies.start();

  // export: the router and its exporters (queues, retries; persistent queues replay here).
  const router = createExportRouter(effectiveExporters(config), {
    metrics,
    logger,
    // Isolation to the backend: every export request names its tenant; some tenants have their own backend.
    transportOptions: { tenantHeader: config.tenancy.exportHeader, egress },
    tenantEndpoints: config.tenancy.exportOverrides,
    // Exporters with queue.persistent keep their on-disk logs here (docs/guides/persistent-queue.md).
    queueDir: join(config.dataDir, 'queue'),
  });
  started.push('exporters', (left) => router.shutdown(left));
  await router.start();

  // identify ─▶ admit: who may send as which tenant (tenants.yaml, hot-reloaded) and each tenant's quota.
  // Tenant metric labels are capped (the first N tenants seen keep theirs, the rest share `_other`).
  const tenantLabel = createTenantLabeler(config.tenancy.maxTenantLabels).label;
  const tenants = createTenantStore(config.tenancy.tenantsFile ?? resolve(config.policiesDir, 'tenants.yaml'), {
    logger,
    audit,
    metrics,
    defaultQuota: config.tenancy.quota,
    limits: config.policy.limits,
    trustKeys,
  });
  // Stops beside the policy store: both are file watchers that outlive the pipeline's drain.
  started.push('tenant store', () => tenants.stop(), { service: true, with: 'policy store' });
  tenants.start();
  const identifier = createIdentifier(config, {
    bindings: tenants.current,
    listeners: {
      grpc: { tls: config.receivers.grpc.tls !== undefined, host: config.receivers.grpc.endpoint.host },
      http: { tls: config.receivers.http.tls !== undefined, host: config.receivers.http.endpoint.host },
    },
  });
  warnIfEveryoneRefused(config, identifier, tenants.current().byToken.size, logger);
  // In cluster mode each replica enforces its share of the tenant's limit (src/cluster/quota-share.ts).
  let cluster: Cluster | undefined;
  const quotaFor = (t: string) => (cluster ? cluster.shareQuota(tenants.current().quotaFor(t)) : tenants.current().quotaFor(t));
  const quotas = createQuotas({ quotaFor, maxBuckets: config.tenancy.maxBuckets });
  const admitter = createAdmitter(config.admit, { metrics, quotas, tenantLabel });

  // Incident mode: tenants (or the fleet) whose traces are all kept and teed; persisted under the data
  // dir (a restart keeps it), every change audited and announced to the Notify webhooks. At shut-down
  // the state stays on disk for the next start; pending notifications get a short grace.
  const incidents = createIncidentStore(incidentStoreConfig(config), { metrics, logger });
  const notifier = createNotifier(config.incidents.notify, { metrics, logger, egress });
  started.push('incident notifier', (left) => notifier.stop(Math.min(left, 1000)));
  incidents.onChange((change) => notifier.notify(change));
  started.push('incident store', () => incidents.stop());
  incidents.start();

  // tee: the forensic copy to per-tenant segments (src/tee); in mode `incident` it archives the tenants
  // in incident, at the escalated retention tier. It seals while the exporters drain (both within the
  // deadline: neither waits for the other).
  const tee = createTee({ ...config.forensic, root: forensicDir(config) }, { metrics, logger, incidents, tenantLabel });
  started.push('forensic tee', (left) => tee.close(left), { with: 'exporters' });
  await tee.start();
  // An incident that ends is captured as signed bundles (incidents.captureOnEnd; off unless configured).
  // At shut-down, captures still in their cooldown run before the tee and Notify stop.
  const incidentCaptures = startIncidentCaptures(config, { incidents, notifier, tee, metrics, logger });
  if (incidentCaptures) started.push('incident captures', (left) => incidentCaptures.stop(left));

  // cluster: several replicas as one gateway (src/cluster): membership, the peer listener (readiness
  // answers 503 once stopping), fleet-wide incidents. It stops after the sampler has drained.
  if (config.cluster) {
    const c = await startCluster(config.cluster, { logger, metrics, incidents, egress, isReady: () => state === 'ready' });
    started.push('cluster', () => c.stop());
    cluster = c;
  }

  // sample: traces wait per (tenant, trace id) for a decision by sampling.yaml (hot-reloaded); every
  // trace of a tenant in incident mode is kept. At shut-down what it still buffers is decided at once
  // (reason shutdown) and the kept traces reach the router before it drains.
  let sampler: ReturnType<typeof createSampler> | undefined;
  let reloadSampling: (() => Promise<ReloadOutcome>) | undefined;
  if (config.sampling.enabled) {
    const samplingPolicies = createSamplingPolicyStore(config.sampling.policyFile ?? resolve(config.policiesDir, SAMPLING_FILE), { profile: config.profile, metrics, logger, audit, limits: config.policy.limits, trustKeys });
    started.push('sampling policy store', () => samplingPolicies.stop());
    samplingPolicies.start();
    reloadSampling = samplingPolicies.reload;
    const s = createSampler(config.sampling, {
      emit: (t, b, items) => router.offer({ signal: 'traces', tenant: t, body: b, items }),
      policy: samplingPolicies.current,
      incidents,
      metrics,
      tenantLabel,
      logger,
    });
    started.push('tail sampler', () => {
      s.drain();
      s.close();
    });
    sampler = s;
  }

  // route: with sampling and a cluster, each trace id has one owner among the live replicas; the traces
  // of other owners are forwarded there (src/cluster/routing.ts). It stops before the sampler drains:
  // forwards in flight end first (each within cluster.routing.timeout; a failed one is decided here).
  let traceRouting: TraceRouter | undefined;
  if (cluster && sampler && config.cluster?.routing.enabled) {
    const r = startTraceRouting(config.cluster, { cluster, sampler, incidents, metrics, logger });
    started.push('trace routing', () => r.stop());
    traceRouting = r;
  }

  // process: the worker pool. It stops right after the receivers: requests in flight finish their
  // processing before the stages behind it drain.
  const pool = createProcessPool(config.process, { metrics, tenantLabel, ...(deps.workerFile ? { workerFile: deps.workerFile } : {}) });
  started.push('worker pool', () => pool.close());

  // Headers time (src/receive/types.ts): identify, then a reservation the receiver grows as bytes
  // arrive; the body is processed only once it is complete and admitted.
  const open: IngestDeps['open'] = (signal, ctx) => {
    if (state === 'stopping') return refuse(signal, 'unknown', ctx, retryable('SHUTTING_DOWN'));
    const who = identifier.identify(ctx);
    if (who.status !== 'ok') return refuse(signal, 'unknown', ctx, who);
    const { tenant } = who;
    const reservation = admitter.reserve();
    let ingesting = false;
    return {
      status: 'ok',
      request: {
        tenant,
        grow(bytes) {
          const refused = reservation.grow(bytes);
          if (refused) refuse(signal, tenant, ctx, refused);
          return refused;
        },
        shrink: (bytes) => reservation.shrink(bytes),
        async ingest(encoding, body) {
          ingesting = true;
          try {
            if (state === 'stopping') return refuse(signal, tenant, ctx, retryable('SHUTTING_DOWN'));
            const quota = admitter.quota(tenant, body.length);
            if (quota) return refuse(signal, tenant, ctx, quota);
            return await processAndExport(signal, encoding, body, tenant, ctx);
          } finally {
            reservation.release();
          }
        },
        close() {
          // While ingest runs the reservation is its to release (the body is still held).
          if (!ingesting) reservation.release();
        },
      },
    };
  };

  async function processAndExport(
    signal: Signal,
    encoding: PayloadEncoding,
    body: Buffer,
    tenant: string,
    ctx: RequestContext,
  ): Promise<IngestOutcome> {
    // The task carries the tenant to stamp and the policy version: one policy version per request: the one active now, whatever reloads happen while it runs.
    const policy = policies.current();
    // The client's deadline and cancellation go with the task: work nobody waits for is dropped before
    // it reaches a worker (process/pool.ts).
    const client = ctx.deadlineAt !== undefined || ctx.signal !== undefined ? { deadlineAt: ctx.deadlineAt, signal: ctx.signal } : undefined;
    const result = await pool.run({ signal, encoding, body, tenant, tenantAttribute: config.tenancy.attributeKey, policyVersion: policy.version, policy, splitTraces: sampler !== undefined && signal === 'traces', omitTraceSummaries: sampler === undefined }, client);
    if (result.status === 'rejected') return refuse(signal, tenant, ctx, rejected(result.code, result.message));
    if (result.status !== 'ok') return refuse(signal, tenant, ctx, result);
    // Never acknowledge after the client stopped waiting: it would retry, and what was exported here
    // would arrive twice. So the output of such a request is discarded before anything keeps it (tee,
    // sampler, exporters), and the answer is a retryable refusal that nobody reads. From here to the
    // answer nothing waits but forwards to trace owners (bounded by the client's deadline: a forward not
    // answered by then is decided here) and durable queues.
    const late = clientGone(ctx);
    if (late) {
      metrics.poolDropped.inc({ signal, reason: late, stage: 'result' });
      return refuse(signal, tenant, ctx, retryable(late === 'deadline' ? 'DEADLINE_EXCEEDED' : 'CLIENT_GONE'));
    }
    // Items are known only now: charged after the fact (the next requests wait while in debt).
    admitter.chargeItems(tenant, result.items);
    if (result.tenantOverwrites) metrics.tenantAttributeOverwrites.inc({ tenant: tenantLabel(tenant) }, result.tenantOverwrites);
    if (result.rejectedItems > 0) {
      metrics.receiverRefusedItems.inc({ signal, tenant: tenantLabel(tenant), protocol: ctx.protocol, reason: 'MALFORMED_PAYLOAD' }, result.rejectedItems);
    }
    if (result.items > 0) {
      // tee: the forensic copy, post-redaction, pre-sampling. The tee keeps a reference to the body until it is written: then the sampler must not free it early.
      const teed = tee.isTeed(tenant);
      tee.offer({ signal, tenant, body: result.body, items: result.items, policyVersion: result.policyVersion ?? '', timeMs: Date.now() });
      // sample: traces go through the tail sampler instead of straight to the router. It never refuses: kept spans the exporters cannot take are counted (sampling_dropped_spans_total).
      if (sampler && signal === 'traces' && result.traceColumns) {
        if (traceRouting) {
          // Answered once the forwards have theirs (a failed one was decided here): bounds them by the clients' requests.
          await traceRouting.offer(tenant, result.body, summariesOf(result.traceColumns), result.traceLayout, !teed, ctx.deadlineAt);
        } else sampler.offer(tenant, result.body, summariesOf(result.traceColumns), result.traceLayout, !teed);
      } else {
        const offered = router.offer({ signal, tenant, body: result.body, items: result.items });
        if (offered.status !== 'ok') return refuse(signal, tenant, ctx, offered);
        // Persistent queues: acknowledged only once the bytes are durable in each of them (DESIGN.md, decision 7).
        if (offered.durable) {
          const durable = await offered.durable;
          if (durable.status !== 'ok') return refuse(signal, tenant, ctx, durable);
        }
      }
    }
    metrics.receiverAcceptedItems.inc({ signal, tenant: tenantLabel(tenant), protocol: ctx.protocol }, result.items);
    // partial_success: malformed items and items the allowlists dropped, counted per reason.
    return { status: 'ok', ...partialSuccessOf(signal, result), tenant, items: result.items };
  }

  function clientGone(ctx: RequestContext): 'deadline' | 'client_gone' | undefined {
    if (ctx.deadlineAt !== undefined && Date.now() >= ctx.deadlineAt) return 'deadline';
    return ctx.signal?.aborted ? 'client_gone' : undefined;
  }

  function refuse(signal: Signal, tenant: string, ctx: RequestContext, outcome: Refusal): Refusal & { tenant: string } {
    metrics.receiverRefusedRequests.inc({ signal, tenant: tenantLabel(tenant), protocol: ctx.protocol, reason: outcome.code });
    return { ...outcome, tenant };
  }

  // Before a body is read (gRPC: on the call's metadata; HTTP: on the request's headers): refused at once
  // when the worker pool could not take it in time, so an overloaded gateway spends nothing on receiving
  // what it would refuse anyway.
  const shedEarly: NonNullable<IngestDeps['shedEarly']> = (deadlineAt, bodyLagMs, bodiesAhead) =>
    state === 'ready' ? pool.pressure(deadlineAt, bodyLagMs, bodiesAhead) : undefined;

  const addresses: Partial<RunningGateway['addresses']> = {};
  // Capture bundles are bounded like the archive: pruned at start and every forensic.pruneInterval.
  const capturePruner = startCapturePruner(
    { capturesDir: capturesDirOf(config), limits: config.forensic.captures, intervalMs: config.forensic.pruneIntervalMs },
    { metrics, logger },
  );
  started.push('capture pruner', () => capturePruner.stop(), { service: true });
  const admin = createGatewayAdmin(config, {
    metrics,
    logger,
    state: () => state,
    audit: auditLine,
    incidents,
    // POST /admin/v1/reload: what `deploy` calls after a swap (as SIGHUP, with each store's outcome).
    reloadable: { policies: policies.reload, tenants: tenants.reload, ...(reloadSampling && { sampling: reloadSampling }) },
    status: {
      listeners: () => ({ ...addresses }),
      exporterNames: effectiveExporters(config).map((e) => e.name),
      exporterHealth: () => Object.fromEntries(router.exporters.map((e) => [e.name, e.health?.()])),
      policyVersion: () => policies.current().version,
      archive: () => archiveStatus(forensicDir(config), config.forensic, tee),
      cluster: () => cluster?.status(),
      queues: () => {
        const p = pool.stats();
        return { workerPoolQueued: p.queued, workerPoolInflight: p.inflight, notifyPending: notifier.pending() };
      },
    },
  });
  started.push('admin listener', () => admin.stop(), { service: true });
  addresses.admin = await admin.start();

  // receive: the listeners open last; at shut-down they stop taking requests first, side by side.
  if (config.receivers.grpc.enabled) {
    const grpc = createGrpcReceiver(config.receivers.grpc, { open, shedEarly, metrics, logger, tlsAudit: (e) => auditLine(tlsAuditLine(e)) });
    started.push('gRPC receiver', (left) => grpc.stop(left));
    addresses.grpc = await grpc.start();
  }
  if (config.receivers.http.enabled) {
    const http = createHttpReceiver(config.receivers.http, { open, shedEarly, metrics, logger, tlsAudit: (e) => auditLine(tlsAuditLine(e)) });
    started.push('HTTP receiver', (left) => http.stop(left), { with: 'gRPC receiver' });
    addresses.http = await http.start();
  }
  state = 'ready';
  // What started, as the audit log's record of the configuration in force (no secrets: names and hashes only).
  auditLine({
    action: 'gateway.start',
    scope: '*',
    by: 'gateway',
    reason: null,
    profile: config.profile,
    listeners: Object.fromEntries(Object.entries(addresses).map(([k, v]) => [k, `${v.host}:${v.port}`])),
    tls: { grpc: config.receivers.grpc.tls !== undefined, http: config.receivers.http.tls !== undefined, admin: config.admin.tls !== undefined },
    exporters: effectiveExporters(config).map((e) => `${e.name} ${e.kind}`),
    policyVersion: policies.current().version,
    adminTokens: config.incidents.adminTokens.map((t) => t.name),
    forensicMode: config.forensic.mode,
    sampling: config.sampling.enabled,
  });

  let stopping: Promise<void> | undefined;
  const stop = (deadlineMs = config.shutdownTimeoutMs): Promise<void> => {
    stopping ??= (async () => {
      state = 'stopping';
      logger.info({ deadlineMs }, 'shutting down: stopping receivers, then draining');
      await started.stop(deadlineMs);
      logger.info({}, 'shut down');
    })();
    return stopping;
  };

  return { addresses: addresses as RunningGateway['addresses'], metrics, incidents, tee, ...(cluster && { cluster }), stop };
}

/**
 * A listener where no request can be identified refuses everything: anonymous access is off there, it
 * asks for no client certificate, and tenants.yaml has no token. Said once at start, loudly, since it is
 * what a first deployment on 0.0.0.0 without identities looks like.
 */
function warnIfEveryoneRefused(config: GatewayConfig, identifier: Identifier, tokens: number, logger: Logger): void {
  if (tokens > 0) return;
  for (const protocol of ['grpc', 'http'] as const) {
    const receiver = config.receivers[protocol];
    if (!receiver.enabled || identifier.acceptsAnonymous(protocol) || receiver.tls?.clientCaFile) continue;
    const { host, port } = receiver.endpoint;
    logger.warn(
      { protocol, host, port, anonymous: config.tenancy.anonymous },
      `every request on the OTLP/${protocol === 'grpc' ? 'gRPC' : 'HTTP'} listener ${host}:${port} will be refused (UNAUTHENTICATED): ` +
        'anonymous access is off there (tenancy.anonymous "auto" allows it only on a plain loopback listener), the listener asks for no ' +
        'client certificate (tls.clientCaFile) and tenants.yaml has no token; add identities (docs/guides/tls-and-tenants.md) or set tenancy.anonymous',
    );
  }
}

