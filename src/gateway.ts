// The gateway: wires the stages and states the chain (DESIGN.md, "The flow of data").
//
//   receive (gRPC, HTTP) ─▶ identify ─▶ admit ─▶ process (worker pool) ─▶ export (router ─▶ exporters)
//
// Start-up follows the graph backwards (export first, receivers last) and shut-down forwards
// (receivers stop taking requests, then each stage drains in turn within one deadline).
import { resolve } from 'node:path';
import { createAdmitter } from './admit/admitter.js';
import { createAdminServer } from './admin/admin-server.js';
import { defaultFileExporter, type ExporterConfig, type GatewayConfig, type HostPort } from './config/types.js';
import { rejected, retryable, type Refusal } from './errors.js';
import { createExportRouter } from './export/router.js';
import { createIdentifier } from './identify/identify.js';
import { createPolicyStore } from './policy/policy-store.js';
import { createProcessPool } from './process/pool.js';
import type { PayloadEncoding } from './process/protocol.js';
import { createGrpcReceiver } from './receive/grpc-receiver.js';
import { createHttpReceiver } from './receive/http-receiver.js';
import type { IngestDeps, IngestOutcome, Receiver, RequestContext } from './receive/types.js';
import type { Signal } from './signals.js';
import type { Logger } from './telemetry/logger-types.js';
import { createMetrics, type GatewayMetrics } from './telemetry/metrics.js';

export interface RunningGateway {
  addresses: { grpc?: HostPort; http?: HostPort; admin: HostPort };
  metrics: GatewayMetrics;
  /** Stop receivers, drain the pool and the exporters; what is left at the deadline is dropped and counted. */
  stop(deadlineMs?: number): Promise<void>;
}

/** Validated configs already spell out the fallback; configs built in code may leave the list empty. */
export function effectiveExporters(config: GatewayConfig): ExporterConfig[] {
  return config.exporters.length > 0 ? config.exporters : [defaultFileExporter(resolve(config.dataDir))];
}

export async function startGateway(
  config: GatewayConfig,
  deps: { logger: Logger; metrics?: GatewayMetrics },
): Promise<RunningGateway> {
  const { logger } = deps;
  const metrics = deps.metrics ?? createMetrics();
  let state: 'starting' | 'ready' | 'stopping' = 'starting';

  // Policies load first (an invalid policy fails start-up before anything binds) and hot-reload from
  // then on. Not applied yet: workers receive the compiled policy by version in the redaction work.
  const policies = createPolicyStore(config.policiesDir, { profile: config.profile, metrics, logger });
  policies.start();
  const router = createExportRouter(effectiveExporters(config), { metrics, logger });
  try {
    await router.start();
  } catch (err) {
    policies.stop();
    throw err;
  }
  const pool = createProcessPool(config.process, { metrics });
  const identifier = createIdentifier(config);
  const admitter = createAdmitter(config.admit, { metrics });
  // [stages] incident state, tail sampler and forensic tee are created here (issues 5 and 6).

  const ingest: IngestDeps['ingest'] = async (signal, encoding, body, ctx) => {
    if (state === 'stopping') return retryable('SHUTTING_DOWN');
    const who = identifier.identify(ctx);
    if (who.status !== 'ok') return refuse(signal, 'unknown', ctx, who);
    const { tenant } = who;
    const admitted = admitter.admit(body.length);
    if (admitted.status !== 'ok') return refuse(signal, tenant, ctx, admitted);
    try {
      return await processAndExport(signal, encoding, body, tenant, ctx);
    } finally {
      admitted.admission.release();
    }
  };

  async function processAndExport(
    signal: Signal,
    encoding: PayloadEncoding,
    body: Buffer,
    tenant: string,
    ctx: RequestContext,
  ): Promise<IngestOutcome> {
    // [process] the task carries the tenant to stamp and the policy version (issues 3 and 4).
    const result = await pool.run({ signal, encoding, body, tenant });
    if (result.status === 'rejected') return refuse(signal, tenant, ctx, rejected(result.code, result.message));
    if (result.status !== 'ok') return refuse(signal, tenant, ctx, result);
    if (result.rejectedItems > 0) {
      metrics.receiverRefusedItems.inc({ signal, tenant, protocol: ctx.protocol, reason: 'MALFORMED_PAYLOAD' }, result.rejectedItems);
    }
    if (result.items > 0) {
      // [tee] the forensic copy goes here: post-redaction, pre-sampling (issue 6).
      // [sample] traces go through the tail sampler here instead of straight to the router (issue 5).
      const offered = router.offer({ signal, tenant, body: result.body, items: result.items });
      if (offered.status !== 'ok') return refuse(signal, tenant, ctx, offered);
    }
    metrics.receiverAcceptedItems.inc({ signal, tenant, protocol: ctx.protocol }, result.items);
    return { status: 'ok', rejectedItems: result.rejectedItems, tenant, items: result.items };
  }

  function refuse(signal: Signal, tenant: string, ctx: RequestContext, outcome: Refusal): IngestOutcome {
    metrics.receiverRefusedRequests.inc({ signal, tenant, protocol: ctx.protocol, reason: outcome.code });
    return { ...outcome, tenant };
  }

  const receivers: Receiver[] = [];
  const addresses: Partial<RunningGateway['addresses']> = {};
  // [admin] /admin/v1 routes (incidents, captures, status) are registered through extraRoutes.
  const admin = createAdminServer(config.admin, { metrics, logger, isReady: () => state === 'ready', phase: () => state });
  try {
    addresses.admin = await admin.start();
    if (config.receivers.grpc.enabled) {
      const grpc = createGrpcReceiver(config.receivers.grpc, { ingest, metrics, logger });
      receivers.push(grpc);
      addresses.grpc = await grpc.start();
    }
    if (config.receivers.http.enabled) {
      const http = createHttpReceiver(config.receivers.http, { ingest, metrics, logger });
      receivers.push(http);
      addresses.http = await http.start();
    }
  } catch (err) {
    // Fail fast at start-up, but release what did start so the process can exit cleanly.
    await Promise.allSettled(receivers.map((r) => r.stop(0)));
    policies.stop();
    await Promise.allSettled([admin.stop(), pool.close(), router.shutdown(0)]);
    throw err;
  }
  state = 'ready';

  let stopping: Promise<void> | undefined;
  const stop = (deadlineMs = config.shutdownTimeoutMs): Promise<void> => {
    stopping ??= (async () => {
      state = 'stopping';
      const deadline = Date.now() + deadlineMs;
      const left = () => Math.max(0, deadline - Date.now());
      logger.info({ deadlineMs }, 'shutting down: stopping receivers, then draining');
      await Promise.allSettled(receivers.map((r) => r.stop(left())));
      await pool.close();
      // [stop] the sampler decides what it still buffers and the tee seals its segments here.
      await router.shutdown(left());
      await admin.stop();
      policies.stop();
      logger.info({}, 'shut down');
    })();
    return stopping;
  };

  return { addresses: addresses as RunningGateway['addresses'], metrics, stop };
}
