// The gateway's admin listener with every route it serves, in one place:
//   /metrics /healthz /readyz         admin-server.ts
//   /admin/v1/status                  status-route.ts
//   /admin/v1/incidents               incidents-routes.ts (when incidents.enabled)
//   /admin/v1/captures                captures-routes.ts
// Every /admin/v1 route calls the same authorize first (auth.ts: bearer tokens with roles and tenant
// scopes); refused admin requests become audit lines (capped per minute in auth.ts), beside incident
// changes and captures.
import { join } from 'node:path';
import type { GatewayConfig } from '../config/types.js';
import type { IncidentStore } from '../incident/store.js';
import type { AuditLine } from '../incident/audit-log.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { forensicDir } from '../tee/layout.js';
import { createAdminServer, type AdminServer } from './admin-server.js';
import { ADMIN_TOKEN_ENV, createAdminAuth } from './auth.js';
import { registerCaptureRoutes } from './captures-routes.js';
import { registerIncidentRoutes } from './incidents-routes.js';
import { createStatusSource, registerStatusRoute, type StatusInputs } from './status-route.js';

export interface GatewayAdminDeps {
  metrics: GatewayMetrics;
  logger: Logger;
  /** Where the gateway is in its life: /readyz and /admin/v1/status report it. */
  state: () => 'starting' | 'ready' | 'stopping';
  /** Appends one line to the audit log (the gateway's, src/incident/audit-log.ts). */
  audit: (line: AuditLine & Record<string, unknown>) => void;
  incidents: IncidentStore;
  /** What /admin/v1/status reports besides the state (see status-route.ts). */
  status: Omit<StatusInputs, 'metrics' | 'profile' | 'state' | 'incidents'>;
}

/** Capture bundles made through the admin API (pruned by startCapturePruner). */
export function capturesDirOf(config: Pick<GatewayConfig, 'dataDir'>): string {
  return join(config.dataDir, 'captures');
}

/** The admin listener (not yet listening) with the status, incident and capture routes mounted. */
export function createGatewayAdmin(config: GatewayConfig, deps: GatewayAdminDeps): AdminServer {
  const { metrics, logger, incidents } = deps;
  const adminAuth = createAdminAuth(config.incidents.adminTokens, {
    onRefused: (r) =>
      deps.audit({
        action: 'admin.refused',
        scope: '*',
        by: r.principal ?? 'unauthenticated',
        reason: r.message,
        status: r.status,
        request: `${r.method} ${r.path}`,
        remoteAddress: r.remoteAddress ?? null,
        ...(r.suppressedBefore > 0 && { suppressedBefore: r.suppressedBefore }),
      }),
  });
  const { authorize } = adminAuth;
  const source = createStatusSource({ ...deps.status, metrics, profile: config.profile, state: deps.state, incidents: () => incidents.list() });
  return createAdminServer(config.admin, {
    metrics,
    logger,
    isReady: () => deps.state() === 'ready',
    phase: deps.state,
    extraRoutes: (app) => {
      registerStatusRoute(app, { authorize, source });
      if (config.incidents.enabled) registerIncidentRoutes(app, { authorize, incidents });
      registerCaptureRoutes(app, {
        authorize,
        root: forensicDir(config),
        capturesDir: capturesDirOf(config),
        signingKeyPath: join(config.dataDir, 'keys', 'signing-key.pem'),
        profile: config.profile,
        auditFile: incidents.auditFile,
        limits: config.forensic.captures,
        metrics,
        logger,
      });
    },
    authorize,
    tokensConfigured: config.incidents.adminTokens.length > 0 || Boolean(process.env[ADMIN_TOKEN_ENV]),
  });
}
