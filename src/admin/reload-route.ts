// POST /admin/v1/reload: load every hot-reloaded policy file now (policies, tenants, sampling), as
// SIGHUP does, and answer with each outcome, so that `stella telemetry deploy` can say whether the
// gateway took the new version or kept the last good one (and why: invalid, unsigned, tampered).
// Role admin, fleet scope: it changes what every tenant gets. The answer (200) has each store's outcome:
// `ok` with its version, or `rejected` with the errors (the last good version stays active).
import type { FastifyInstance } from 'fastify';
import type { AdminAuthorize } from './auth-types.js';
import type { ReloadOutcome } from '../policy/hot-reload.js';

export const RELOAD_PATH = '/admin/v1/reload';

export interface ReloadRouteDeps {
  authorize: AdminAuthorize;
  /** The stores to reload, by name ("policies", "tenants", "sampling"). */
  stores: Record<string, () => Promise<ReloadOutcome>>;
}

export function registerReloadRoute(app: FastifyInstance, deps: ReloadRouteDeps): void {
  app.post(RELOAD_PATH, async (req, reply) => {
    const principal = deps.authorize(req, reply, { role: 'admin', tenant: '_all' });
    if (!principal) return reply;
    const names = Object.keys(deps.stores);
    const outcomes = await Promise.all(names.map((n) => deps.stores[n]!()));
    const body = Object.fromEntries(names.map((n, i) => [n, outcomes[i]]));
    return reply.code(200).send(body);
  });
}
