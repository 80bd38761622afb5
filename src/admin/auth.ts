// Admin API authorisation (implements AdminAuthorize of ./auth-types.ts).
//
// Bearer tokens (RFC 6750) are configured as SHA-256 hashes (incidents.adminTokens), so the config file
// never holds a usable secret; a request's token is hashed and looked up. STELLA_ADMIN_TOKEN, when set,
// is one more token with role admin and every tenant (named "env"), for local use.
// Order of checks: no or unknown token → 401; role below the need → 403; tenant out of scope → 403.
// The fleet ("_all") is in scope only for '*' tokens, and changing it (a need of operator or more)
// takes the admin role.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminTokenConfig } from '../config/sections/incidents.js';
import { ADMIN_ERRORS } from '../errors.js';
import { FLEET } from '../incident/types.js';
import { sendAdminError } from './admin-errors.js';
import { ADMIN_ROLES, type AdminAuthorize, type AdminPrincipal, type AdminRole } from './auth-types.js';

export const ADMIN_TOKEN_ENV = 'STELLA_ADMIN_TOKEN';

export interface AdminAuthDeps {
  /** Where STELLA_ADMIN_TOKEN is read (default process.env); read once, at creation. */
  env?: NodeJS.ProcessEnv;
  /** Told of every refused request (401 and 403), for the audit log; at most REFUSALS_AUDITED a minute. */
  onRefused?: (refusal: AdminRefusal) => void;
  /** Milliseconds since the epoch (tests). */
  now?: () => number;
}

/** A refused admin request, as the audit log records it. */
export interface AdminRefusal {
  status: 401 | 403;
  /** The catalogue's name for it (src/errors.ts). */
  code: RefusalCode;
  message: string;
  method: string;
  path: string;
  remoteAddress: string | undefined;
  /** The token's name when it was known (403), else undefined. */
  principal: string | undefined;
  /** Refusals not reported in the minute before this one (over the cap). */
  suppressedBefore: number;
}

type RefusalCode = 'ADMIN_TOKEN_MISSING' | 'ADMIN_TOKEN_UNKNOWN' | 'ADMIN_ROLE_DENIED' | 'ADMIN_SCOPE_DENIED';

/** A flood of bad tokens must not grow the audit log without bound: this many refusals a minute are reported. */
export const REFUSALS_AUDITED = 60;

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

  const now = deps.now ?? Date.now;
  let window = { startMs: 0, reported: 0, suppressed: 0 };
  function refuse(req: FastifyRequest, reply: FastifyReply, code: RefusalCode, message: string, principal?: AdminPrincipal): undefined {
    sendAdminError(reply, code, message);
    const status = ADMIN_ERRORS[code].http;
    if (!deps.onRefused) return undefined;
    const t = now();
    let suppressedBefore = 0;
    if (t - window.startMs >= 60_000) {
      suppressedBefore = window.suppressed;
      window = { startMs: t, reported: 0, suppressed: 0 };
    }
    if (window.reported >= REFUSALS_AUDITED) {
      window.suppressed++;
      return undefined;
    }
    window.reported++;
    deps.onRefused({ status, code, message, method: req.method, path: req.url.split('?', 1)[0]!, remoteAddress: req.ip, principal: principal?.name, suppressedBefore });
    return undefined;
  }

  const authorize: AdminAuthorize = (req, reply, need) => {
    const header = req.headers.authorization;
    const principal = authenticate(header);
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="stella-admin"');
      return refuse(req, reply, header ? 'ADMIN_TOKEN_UNKNOWN' : 'ADMIN_TOKEN_MISSING', header ? `unknown admin token: ${knownTokens}` : `missing admin token: send "Authorization: Bearer <token>"; ${knownTokens}`);
    }
    let role = need.role;
    // Changing the whole fleet is an admin's act, whatever the route asks for.
    if (need.tenant === FLEET && rank(role) >= rank('operator')) role = 'admin';
    if (rank(principal.role) < rank(role)) {
      return refuse(req, reply, 'ADMIN_ROLE_DENIED', `token "${principal.name}" has role ${principal.role}; this needs ${role}${need.tenant === FLEET && role !== need.role ? ' (fleet-wide)' : ''}`, principal);
    }
    if (need.tenant !== undefined && !inScope(principal, need.tenant)) {
      return refuse(
        req,
        reply,
        'ADMIN_SCOPE_DENIED',
        need.tenant === FLEET
          ? `token "${principal.name}" is scoped to tenants ${(principal.tenants as string[]).join(', ')}; fleet-wide needs a "*" scope`
          : `token "${principal.name}" may not act on tenant "${need.tenant}"`,
        principal,
      );
    }
    return principal;
  };

  return { authorize, authenticate };
}
