// /admin/v1/incidents: start, list and end incident mode (src/incident/store.ts).
//   GET    /admin/v1/incidents              viewer; the incidents the token's tenants can see (the fleet's too)
//   POST   /admin/v1/incidents              {"tenant"?: "acme", "reason": "…", "ttl"?: "30m"}; no tenant (or
//                                           "_all") = fleet-wide. operator for a tenant, admin for the fleet.
//                                           200 {"incident": {...}, "updated": false|true}
//   DELETE /admin/v1/incidents/<tenant|_all> ends it (same roles as POST); ?reason= goes to the audit log.
// Errors are google.rpc.Status JSON naming their code (src/errors.ts, ADMIN_ERRORS: INCIDENT_*, ADMIN_*).
import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../config/units.js';
import type { IncidentErrorCode, IncidentStore } from '../incident/store.js';
import { isValidScope } from '../incident/store.js';
import { FLEET } from '../incident/types.js';
import type { AdminErrorCode } from '../errors.js';
import { adminErrorHandler, sendAdminError } from './admin-errors.js';
import { inScope } from './auth.js';
import type { AdminAuthorize } from './auth-types.js';

export const INCIDENTS_PATH = '/admin/v1/incidents';

export interface IncidentRoutesDeps {
  authorize: AdminAuthorize;
  incidents: IncidentStore;
}

/** The incident store's refusals by their catalogue names. */
const ADMIN_CODE_FOR: Record<IncidentErrorCode, AdminErrorCode> = {
  INVALID_SCOPE: 'INCIDENT_INVALID_SCOPE',
  INVALID_TTL: 'INCIDENT_INVALID_TTL',
  INVALID_REASON: 'INCIDENT_INVALID_REASON',
  TOO_MANY: 'INCIDENT_TOO_MANY',
  NOT_FOUND: 'INCIDENT_NOT_FOUND',
  DISABLED: 'INCIDENTS_DISABLED',
  PERSIST_FAILED: 'INCIDENT_PERSIST_FAILED',
};

/**
 * Mounts the routes in their own fastify context, so its error handler (body parse errors, wrong
 * content type → ADMIN_* errors) applies to them only.
 */
export function registerIncidentRoutes(app: FastifyInstance, deps: IncidentRoutesDeps): void {
  const { authorize, incidents } = deps;
  void app.register(async (scope) => {
    scope.setErrorHandler(adminErrorHandler);
    // Authenticate before the body is parsed, so a caller without a token learns nothing but 401.
    scope.addHook('onRequest', async (req, reply) => {
      if (!authorize(req, reply, { role: 'viewer' })) return reply;
    });

    scope.get(INCIDENTS_PATH, async (req, reply) => {
      const principal = authorize(req, reply, { role: 'viewer' });
      if (!principal) return reply;
      // A tenant's viewers see the fleet-wide incident too: it covers their tenant.
      const visible = incidents.list().filter((i) => i.scope === FLEET || inScope(principal, i.scope));
      return reply.header('cache-control', 'no-store').send({ incidents: visible });
    });

    scope.post(INCIDENTS_PATH, async (req, reply) => {
      const body = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        if (!authorize(req, reply, { role: 'operator' })) return reply;
        return sendAdminError(reply, 'ADMIN_BAD_REQUEST', 'expected a JSON object such as {"tenant": "acme", "reason": "checkout errors", "ttl": "30m"}');
      }
      const b = body as Record<string, unknown>;
      const tenant = b.tenant === undefined || b.tenant === null ? FLEET : b.tenant;
      const validTenant = typeof tenant === 'string' && isValidScope(tenant);
      const principal = authorize(req, reply, validTenant ? { role: tenant === FLEET ? 'admin' : 'operator', tenant } : { role: 'operator' });
      if (!principal) return reply;
      if (!validTenant) return sendAdminError(reply, 'INCIDENT_INVALID_SCOPE', `tenant: expected a tenant id of letters, digits, ".", "_" or "-", or omit it for fleet-wide (got ${JSON.stringify(tenant)})`);
      const unknown = Object.keys(b).filter((k) => !['tenant', 'reason', 'ttl'].includes(k));
      if (unknown.length > 0) return sendAdminError(reply, 'ADMIN_BAD_REQUEST', `unknown field ${JSON.stringify(unknown[0])} (expected tenant, reason, ttl)`);
      if (typeof b.reason !== 'string') return sendAdminError(reply, 'INCIDENT_INVALID_REASON', 'reason: required, a string (it goes to the audit log and the notification)');
      let ttlMs: number | undefined;
      if (b.ttl !== undefined && b.ttl !== null) {
        ttlMs = parseDuration(b.ttl);
        if (ttlMs === undefined) return sendAdminError(reply, 'INCIDENT_INVALID_TTL', `ttl: expected a duration such as 30m, 2h or 90s (got ${JSON.stringify(b.ttl)})`);
      }
      const result = incidents.on(tenant, { reason: b.reason, ttlMs, by: principal.name });
      if (!result.ok) return sendAdminError(reply, ADMIN_CODE_FOR[result.error.code], result.error.message);
      return reply.header('cache-control', 'no-store').send({ incident: result.incident, updated: result.updated });
    });

    scope.delete<{ Params: { tenant: string }; Querystring: { reason?: string } }>(`${INCIDENTS_PATH}/:tenant`, async (req, reply) => {
      const tenant = req.params.tenant;
      const validTenant = isValidScope(tenant);
      const principal = authorize(req, reply, validTenant ? { role: tenant === FLEET ? 'admin' : 'operator', tenant } : { role: 'operator' });
      if (!principal) return reply;
      if (!validTenant) return sendAdminError(reply, 'INCIDENT_INVALID_SCOPE', `expected ${INCIDENTS_PATH}/<tenant> or ${INCIDENTS_PATH}/${FLEET} (got ${JSON.stringify(tenant)})`);
      const reason = typeof req.query.reason === 'string' ? req.query.reason : undefined;
      const result = incidents.off(tenant, principal.name, reason);
      if (!result.ok) return sendAdminError(reply, ADMIN_CODE_FOR[result.error.code], result.error.message);
      return reply.header('cache-control', 'no-store').send({ incident: result.incident });
    });
  });
}
