// Admin API authorisation (DESIGN.md: "/admin/v1/... (RBAC tokens)"). Bearer tokens carry a role and
// tenant scopes; roles are ordered viewer < operator < admin. src/admin/auth.ts implements it; routes
// of any feature (incidents, captures, status) call `authorize` first and return when it gives undefined
// (it has already replied 401 or 403 as google.rpc.Status-like JSON).
import type { FastifyReply, FastifyRequest } from 'fastify';

export type AdminRole = 'viewer' | 'operator' | 'admin';
export const ADMIN_ROLES: readonly AdminRole[] = ['viewer', 'operator', 'admin'];

export interface AdminPrincipal {
  /** The token's configured name (for audit logs). */
  name: string;
  role: AdminRole;
  /** Tenants this token may act on; '*' = every tenant and the fleet. */
  tenants: '*' | string[];
}

/**
 * `tenant`: the scope the request acts on (a tenant id, or '_all' for fleet-wide, which needs a '*'
 * scope); absent: no tenant scope is needed (e.g. listing, where the route filters by the principal).
 */
export type AdminAuthorize = (
  req: FastifyRequest,
  reply: FastifyReply,
  need: { role: AdminRole; tenant?: string },
) => AdminPrincipal | undefined;
