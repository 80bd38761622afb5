// How the admin API answers an error: the code's HTTP status from the catalogue (src/errors.ts,
// ADMIN_ERRORS) and a google.rpc.Status JSON body whose ErrorInfo detail names the code, so scripts can
// branch on the name instead of parsing messages (https://google.aip.dev/193).
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ADMIN_ERRORS, type AdminErrorCode } from '../errors.js';

export const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
/** ErrorInfo.domain: whose codes these are. */
export const ADMIN_ERROR_DOMAIN = 'stella.admin';

/** An admin API error body: google.rpc.Status in its JSON form (`code` is the gRPC code). */
export interface AdminErrorBody {
  code: number;
  message: string;
  details: [{ '@type': typeof ERROR_INFO_TYPE_URL; reason: AdminErrorCode; domain: typeof ADMIN_ERROR_DOMAIN }];
}

export function adminErrorBody(code: AdminErrorCode, message?: string): AdminErrorBody {
  const spec = ADMIN_ERRORS[code];
  return { code: spec.grpc, message: message ?? spec.message, details: [{ '@type': ERROR_INFO_TYPE_URL, reason: code, domain: ADMIN_ERROR_DOMAIN }] };
}

/** Sends the error with its catalogue status; every admin route answers errors this way. */
export function sendAdminError(reply: FastifyReply, code: AdminErrorCode, message?: string): FastifyReply {
  return reply.code(ADMIN_ERRORS[code].http).header('cache-control', 'no-store').send(adminErrorBody(code, message));
}

/**
 * For a route scope's setErrorHandler: what fastify refuses before a handler runs (a body that is not
 * JSON, too large, of another content type) keeps its message; anything else is an internal error,
 * whose message stays in the log, not in the answer.
 */
export function adminErrorHandler(error: FastifyError, _req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = error.statusCode ?? 500;
  if (status === 413) return sendAdminError(reply, 'ADMIN_BODY_TOO_LARGE', error.message);
  if (status === 415) return sendAdminError(reply, 'ADMIN_UNSUPPORTED_MEDIA_TYPE', error.message);
  if (status >= 400 && status < 500) return sendAdminError(reply, 'ADMIN_BAD_REQUEST', error.message);
  return sendAdminError(reply, 'ADMIN_INTERNAL');
}
