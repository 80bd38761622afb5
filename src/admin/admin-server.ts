// The admin listener (fastify): what operators and orchestrators poll.
//   GET /metrics  Prometheus text exposition of the gateway's registry (self-metrics + process metrics)
//   GET /healthz  liveness: 200 while the process serves HTTP at all
//   GET /readyz   readiness: 200 once every listener is up, 503 while starting or draining, so a load
//                 balancer stops sending before the receivers close (Kubernetes probe semantics:
//                 https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/)
// Later features mount /admin/v1/... through `extraRoutes`.
import { fastify, type FastifyInstance } from 'fastify';
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
  const app = fastify({ logger: false, forceCloseConnections: 'idle' });
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
      const { host, port } = config.endpoint;
      await app.listen({ host, port });
      const bound = app.server.address();
      address = { host, port: typeof bound === 'object' && bound ? bound.port : port };
      logger.info({ host, port: address.port }, 'admin listener up (/metrics, /healthz, /readyz)');
      return address;
    },
    stop() {
      stopped ??= app.close();
      return stopped;
    },
  };
}
