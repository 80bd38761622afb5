// /admin/v1/incidents: start, list and end incident mode (src/incident/store.ts).
//   GET    /admin/v1/incidents              viewer; the incidents the token's tenants can see (the fleet's too)
//   POST   /admin/v1/incidents              {"tenant"?: "acme", "reason": "…", "ttl"?: "30m"}; no tenant (or
//                                           "_all") = fleet-wide. operator for a tenant, admin for the fleet.
//                                           200 {"incident": {...}, "updated": false|true}
//   DELETE /admin/v1/incidents/<tenant|_all> ends it (same roles as POST); ?reason= goes to the audit log.
// Errors are {code, message} (google.rpc.Status JSON) with 400/401/403/404/409/500.
import type { FastifyError, FastifyInstance } from 'fastify';
import { parseDuration } from '../config/units.js';
import type { IncidentErrorCode, IncidentStore } from '../incident/store.js';
import { isValidScope } from '../incident/store.js';
import { FLEET } from '../incident/types.js';
import { inScope, sendAdminError } from './auth.js';
import type { AdminAuthorize } from './auth-types.js';

export const INCIDENTS_PATH = '/admin/v1/incidents';

export interface IncidentRoutesDeps {
  authorize: AdminAuthorize;
  incidents: IncidentStore;
}

const HTTP_FOR: Record<IncidentErrorCode, number> = {
  INVALID_SCOPE: 400,
  INVALID_TTL: 400,
  INVALID_REASON: 400,
  TOO_MANY: 409,
  NOT_FOUND: 404,
  DISABLED: 409,
  PERSIST_FAILED: 500,
};

/**
 * Mounts the routes in their own fastify context, so its error handler (body parse errors, wrong
 * content type → {code, message}) applies to them only.
 */
export function registerIncidentRoutes(app: FastifyInstance, deps: IncidentRoutesDeps): void {
  const { authorize, incidents } = deps;
  void app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError, _req, reply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      return sendAdminError(reply, status, status === 500 ? 'internal error' : error.message);
    });
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
        return sendAdminError(reply, 400, 'expected a JSON object such as {"tenant": "acme", "reason": "checkout errors", "ttl": "30m"}');
      }
      const b = body as Record<string, unknown>;
      const tenant = b.tenant === undefined || b.tenant === null ? FLEET : b.tenant;
      const validTenant = typeof tenant === 'string' && isValidScope(tenant);
      const principal = authorize(req, reply, validTenant ? { role: tenant === FLEET ? 'admin' : 'operator', tenant } : { role: 'operator' });
      if (!principal) return reply;
      if (!validTenant) return sendAdminError(reply, 400, `tenant: expected a tenant id of letters, digits, ".", "_" or "-", or omit it for fleet-wide (got ${JSON.stringify(tenant)})`);
      const unknown = Object.keys(b).filter((k) => !['tenant', 'reason', 'ttl'].includes(k));
      if (unknown.length > 0) return sendAdminError(reply, 400, `unknown field ${JSON.stringify(unknown[0])} (expected tenant, reason, ttl)`);
      if (typeof b.reason !== 'string') return sendAdminError(reply, 400, 'reason: required, a string (it goes to the audit log and the notification)');
      let ttlMs: number | undefined;
      if (b.ttl !== undefined && b.ttl !== null) {
        ttlMs = parseDuration(b.ttl);
        if (ttlMs === undefined) return sendAdminError(reply, 400, `ttl: expected a duration such as 30m, 2h or 90s (got ${JSON.stringify(b.ttl)})`);
      }
      const result = incidents.on(tenant, { reason: b.reason, ttlMs, by: principal.name });
      if (!result.ok) return sendAdminError(reply, HTTP_FOR[result.error.code], result.error.message);
      return reply.header('cache-control', 'no-store').send({ incident: result.incident, updated: result.updated });
    });

    scope.delete<{ Params: { tenant: string }; Querystring: { reason?: string } }>(`${INCIDENTS_PATH}/:tenant`, async (req, reply) => {
      const tenant = req.params.tenant;
      const validTenant = isValidScope(tenant);
      const principal = authorize(req, reply, validTenant ? { role: tenant === FLEET ? 'admin' : 'operator', tenant } : { role: 'operator' });
      if (!principal) return reply;
      if (!validTenant) return sendAdminError(reply, 400, `expected ${INCIDENTS_PATH}/<tenant> or ${INCIDENTS_PATH}/${FLEET} (got ${JSON.stringify(tenant)})`);
      const reason = typeof req.query.reason === 'string' ? req.query.reason : undefined;
      const result = incidents.off(tenant, principal.name, reason);
      if (!result.ok) return sendAdminError(reply, HTTP_FOR[result.error.code], result.error.message);
      return reply.header('cache-control', 'no-store').send({ incident: result.incident });
    });
  });
}
