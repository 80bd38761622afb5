// The admin listener (fastify): what operators and orchestrators poll.
//   GET /metrics  Prometheus text exposition of the gateway's registry (self-metrics + process metrics)
//   GET /healthz  liveness: 200 while the process serves HTTP at all
//   GET /readyz   readiness: 200 once every listener is up, 503 while starting or draining, so a load
//                 balancer stops sending before the receivers close (Kubernetes probe semantics:
//                 https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/)
// The /admin/v1 routes are mounted through `extraRoutes` (all of them in routes.ts).
//
// /metrics names every tenant in its labels. On loopback (the default bind) only local processes reach
// it; bound elsewhere (`--admin 0.0.0.0:8888`) anyone on the network could read the tenant list and
// their traffic, so admin.metricsAuth `auto` (default) then requires an admin token whose scope is every
// tenant ("*"; any role), as Prometheus sends with `authorization: { credentials_file: … }`. A
// non-loopback bind is also logged as a warning at start-up. /healthz and /readyz stay open: probes
// carry no credentials and the answers say nothing about tenants.
import type { Server as TlsServer } from 'node:tls';
import { fastify, type FastifyInstance } from 'fastify';
import { isLoopbackHost } from '../identify/identify.js';
import { FLEET } from '../incident/types.js';
import { createTlsReloader, followReloads, type TlsReloader } from '../receive/tls.js';
import type { AdminConfig, HostPort } from '../config/types.js';
import { sendAdminError } from './admin-errors.js';
import type { AdminAuthorize } from './auth-types.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';

export interface AdminServerDeps {
  metrics: GatewayMetrics;
  /** True once every listener is up and until shut-down begins. */
  isReady: () => boolean;
  /**
   * Optional finer state for /readyz bodies. Without it, "not ready" reads as "starting" until the
   * server has once seen isReady() true, and as "stopping" after that.
   */
  phase?: () => 'starting' | 'ready' | 'stopping';
  logger: Logger;
  /** Registers more routes before the server listens. */
  extraRoutes?: (app: FastifyInstance) => void;
  /** Admin token check, for /metrics when admin.metricsAuth asks for one (without it such a /metrics refuses everyone). */
  authorize?: AdminAuthorize;
  /** False when no admin token exists at all: the start-up warning then says /metrics refuses everyone. */
  tokensConfigured?: boolean;
}

/** Whether /metrics needs a token under this config. */
export function metricsNeedToken(config: Pick<AdminConfig, 'endpoint' | 'metricsAuth'>): boolean {
  const mode = config.metricsAuth ?? 'auto';
  return mode === 'always' || (mode === 'auto' && !isLoopbackHost(config.endpoint.host));
}

export interface AdminServer {
  /** Listens; resolves with the configured host and the bound port (port 0 gives the OS's choice). */
  start(): Promise<HostPort>;
  /** Stops listening and closes idle keep-alive connections; waits for requests in flight. Idempotent. */
  stop(): Promise<void>;
}

export function createAdminServer(config: AdminConfig, deps: AdminServerDeps): AdminServer {
  const { metrics, logger } = deps;
  // fastify's own request logging stays off: scrapes every few seconds would drown the log.
  // TLS (optional, from the config file): the certificate follows the files on disk (receive/tls.ts).
  // Bad files surface from start() (the gateway starts the admin listener inside its clean-up scope).
  let reloader: TlsReloader | undefined;
  let tlsError: unknown;
  try {
    reloader = config.tls ? createTlsReloader(config.tls, { listener: 'admin', metrics, logger }) : undefined;
  } catch (err) {
    tlsError = err;
  }
  // fastify's types pick the server class from the options; the routes do not depend on it, so the
  // https variant is typed as the plain one (`object` spreads no typed keys).
  const httpsOptions: object = reloader ? { https: reloader.serverOptions() } : {};
  const app = fastify({ logger: false, forceCloseConnections: 'idle', ...httpsOptions });
  if (reloader) followReloads(app.server as unknown as TlsServer, reloader);
  // Not ready before the first time it was ready means starting; afterwards it means stopping.
  let wasReady = false;

  const metricsAuth = metricsNeedToken(config);
  app.get('/metrics', async (req, reply) => {
    if (metricsAuth) {
      // Every tenant is named in the labels: only a token scoped to every tenant reads them.
      if (!deps.authorize) return sendAdminError(reply, 'ADMIN_AUTH_UNAVAILABLE', 'metrics need an admin token (admin.metricsAuth) and none can be checked here');
      if (!deps.authorize(req, reply, { role: 'viewer', tenant: FLEET })) return reply;
    }
    const body = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).header('cache-control', 'no-store').send(body);
  });

  app.get('/healthz', async (_req, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    if (deps.isReady()) {
      wasReady = true;
      return reply.send({ status: 'ready' });
    }
    const phase = deps.phase?.();
    const status = phase === 'starting' || phase === 'stopping' ? phase : wasReady ? 'stopping' : 'starting';
    return reply.code(503).send({ status });
  });

  deps.extraRoutes?.(app);

  let address: HostPort | undefined;
  let stopped: Promise<void> | undefined;
  return {
    async start() {
      if (address) return address;
      if (tlsError !== undefined) throw tlsError;
      const { host, port } = config.endpoint;
      await app.listen({ host, port });
      const bound = app.server.address();
      address = { host, port: typeof bound === 'object' && bound ? bound.port : port };
      logger.info({ host, port: address.port, tls: reloader !== undefined, metricsAuth }, 'admin listener up (/metrics, /healthz, /readyz)');
      if (!isLoopbackHost(host)) {
        const mode = config.metricsAuth ?? 'auto';
        logger.warn(
          { host, port: address.port, tls: reloader !== undefined, metricsAuth: mode },
          metricsAuth
            ? `admin listener bound to non-loopback address ${host}: /metrics (tenant names in labels) and /admin/v1 require an admin token; /healthz and /readyz are open` +
                (reloader ? '' : '; tokens travel in plain text: set admin.tls') +
                (deps.tokensConfigured === false ? '; no admin token is configured (incidents.adminTokens, STELLA_ADMIN_TOKEN): /metrics answers 401 to everyone' : '')
            : `admin listener bound to non-loopback address ${host} with admin.metricsAuth: never: /metrics (tenant names in labels) is readable by anyone who can reach it`,
        );
      }
      return address;
    },
    stop() {
      reloader?.close();
      stopped ??= app.close();
      return stopped;
    },
  };
}
