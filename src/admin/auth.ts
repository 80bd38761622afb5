// Admin API authorisation (implements AdminAuthorize of ./auth-types.ts).
//
// Bearer tokens (RFC 6750) are configured as SHA-256 hashes (incidents.adminTokens), so the config file
// never holds a usable secret; a request's token is hashed and looked up. STELLA_ADMIN_TOKEN, when set,
// is one more token with role admin and every tenant (named "env"), for local use.
// Order of checks: no or unknown token → 401; role below the need → 403; tenant out of scope → 403.
// The fleet ("_all") is in scope only for '*' tokens, and changing it (a need of operator or more)
// takes the admin role.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { AdminTokenConfig } from '../config/sections/incidents.js';
import { GrpcCode } from '../errors.js';
import { FLEET } from '../incident/types.js';
import { ADMIN_ROLES, type AdminAuthorize, type AdminPrincipal, type AdminRole } from './auth-types.js';

export const ADMIN_TOKEN_ENV = 'STELLA_ADMIN_TOKEN';

export interface AdminAuthDeps {
  /** Where STELLA_ADMIN_TOKEN is read (default process.env); read once, at creation. */
  env?: NodeJS.ProcessEnv;
}

/** An admin API error body: google.rpc.Status in its JSON form (code is the gRPC code). */
export interface AdminErrorBody {
  code: number;
  message: string;
}

const GRPC_FOR_HTTP: Record<number, number> = {
  400: GrpcCode.INVALID_ARGUMENT,
  401: GrpcCode.UNAUTHENTICATED,
  403: GrpcCode.PERMISSION_DENIED,
  404: GrpcCode.NOT_FOUND,
  409: GrpcCode.ALREADY_EXISTS,
  413: GrpcCode.RESOURCE_EXHAUSTED,
  415: GrpcCode.INVALID_ARGUMENT,
  429: GrpcCode.RESOURCE_EXHAUSTED,
  500: GrpcCode.INTERNAL,
  503: GrpcCode.UNAVAILABLE,
};

/** Sends `{code, message}` with the HTTP status; every admin route answers errors this way. */
export function sendAdminError(reply: FastifyReply, httpStatus: number, message: string): FastifyReply {
  const body: AdminErrorBody = { code: GRPC_FOR_HTTP[httpStatus] ?? GrpcCode.UNKNOWN, message };
  return reply.code(httpStatus).header('cache-control', 'no-store').send(body);
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const rank = (role: AdminRole): number => ADMIN_ROLES.indexOf(role);

/** Whether a principal's scopes cover a tenant (or the fleet). */
export function inScope(principal: AdminPrincipal, tenant: string): boolean {
  if (principal.tenants === '*') return true;
  return tenant !== FLEET && principal.tenants.includes(tenant);
}

export interface AdminAuth {
  authorize: AdminAuthorize;
  /** The principal of an Authorization header value, or undefined (no or unknown token). */
  authenticate(authorization: string | undefined): AdminPrincipal | undefined;
}

export function createAdminAuth(tokens: readonly AdminTokenConfig[], deps: AdminAuthDeps = {}): AdminAuth {
  const byHash = new Map<string, AdminPrincipal>();
  for (const t of tokens) byHash.set(t.sha256.toLowerCase(), { name: t.name, role: t.role, tenants: t.tenants === '*' ? '*' : [...t.tenants] });
  const envToken = (deps.env ?? process.env)[ADMIN_TOKEN_ENV];
  const envHash = envToken ? Buffer.from(sha256Hex(envToken), 'hex') : undefined;
  const envPrincipal: AdminPrincipal = { name: 'env', role: 'admin', tenants: '*' };
  // What the gateway accepts, for 401 answers: the usual surprise is a token set on the client only.
  const knownTokens =
    byHash.size === 0 && !envHash
      ? `this gateway has no admin tokens: start it with ${ADMIN_TOKEN_ENV} set to the token the client sends, or list the token's SHA-256 in incidents.adminTokens`
      : `this gateway accepts ${byHash.size} token(s) from incidents.adminTokens${envHash ? ` and the ${ADMIN_TOKEN_ENV} it was started with` : ` (it was started without ${ADMIN_TOKEN_ENV})`}`;

  function authenticate(authorization: string | undefined): AdminPrincipal | undefined {
    const m = /^Bearer +([^\s]+) *$/i.exec(authorization ?? '');
    if (!m) return undefined;
    const hash = sha256Hex(m[1]!);
    // Comparing hashes: timing reveals nothing usable about the token itself.
    if (envHash && timingSafeEqual(Buffer.from(hash, 'hex'), envHash)) return envPrincipal;
    return byHash.get(hash);
  }

  const authorize: AdminAuthorize = (req, reply, need) => {
    const header = req.headers.authorization;
    const principal = authenticate(header);
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="stella-admin"');
      sendAdminError(reply, 401, header ? `unknown admin token: ${knownTokens}` : `missing admin token: send "Authorization: Bearer <token>"; ${knownTokens}`);
      return undefined;
    }
    let role = need.role;
    // Changing the whole fleet is an admin's act, whatever the route asks for.
    if (need.tenant === FLEET && rank(role) >= rank('operator')) role = 'admin';
    if (rank(principal.role) < rank(role)) {
      sendAdminError(reply, 403, `token "${principal.name}" has role ${principal.role}; this needs ${role}${need.tenant === FLEET && role !== need.role ? ' (fleet-wide)' : ''}`);
      return undefined;
    }
    if (need.tenant !== undefined && !inScope(principal, need.tenant)) {
      sendAdminError(
        reply,
        403,
        need.tenant === FLEET
          ? `token "${principal.name}" is scoped to tenants ${(principal.tenants as string[]).join(', ')}; fleet-wide needs a "*" scope`
          : `token "${principal.name}" may not act on tenant "${need.tenant}"`,
      );
      return undefined;
    }
    return principal;
  };

  return { authorize, authenticate };
}
