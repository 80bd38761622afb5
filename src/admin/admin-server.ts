// The admin listener (fastify): what operators and orchestrators poll.
//   GET /metrics  Prometheus text exposition of the gateway's registry (self-metrics + process metrics)
//   GET /healthz  liveness: 200 while the process serves HTTP at all
//   GET /readyz   readiness: 200 once every listener is up, 503 while starting or draining, so a load
//                 balancer stops sending before the receivers close (Kubernetes probe semantics:
//                 https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/)
// Later features mount /admin/v1/... through `extraRoutes`.
import type { Server as TlsServer } from 'node:tls';
import { fastify, type FastifyInstance } from 'fastify';
import { createTlsReloader, followReloads, type TlsReloader } from '../receive/tls.js';
import type { AdminConfig, HostPort } from '../config/types.js';
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

  app.get('/metrics', async (_req, reply) => {
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
      logger.info({ host, port: address.port, tls: reloader !== undefined }, 'admin listener up (/metrics, /healthz, /readyz)');
      return address;
    },
    stop() {
      reloader?.close();
      stopped ??= app.close();
      return stopped;
    },
  };
}
