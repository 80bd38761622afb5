// A small client of the gateway's admin API for CLI commands (`incident`, `status`): where to connect
// (--admin URL, default http://127.0.0.1:8888), which token (--token or STELLA_ADMIN_TOKEN), and errors
// turned into one line an operator can act on (connection refused, 401, 403, timeouts).
import { ADMIN_TOKEN_ENV } from '../admin/auth.js';
import { UsageError } from './command.js';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8888';

/** Flags every admin command takes (spread into its parseArgs options). */
export const ADMIN_FLAGS = {
  admin: { type: 'string' },
  token: { type: 'string' },
} as const;

export const ADMIN_FLAGS_HELP = `  --admin URL          the gateway's admin listener (default ${DEFAULT_ADMIN_URL}; host:port works too)
  --token TOKEN        admin API bearer token (default: the ${ADMIN_TOKEN_ENV} environment variable;
                       prefer the variable: command-line arguments are visible to other users)`;

export type AdminResult<T> = { ok: true; status: number; body: T } | { ok: false; message: string; status?: number };

export interface AdminClient {
  readonly baseUrl: string;
  request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<AdminResult<T>>;
}

/** `http://host:port` from --admin (a URL, or host:port). */
export function adminBaseUrl(value: string | undefined): string {
  const raw = value ?? DEFAULT_ADMIN_URL;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--admin: expected a URL such as ${DEFAULT_ADMIN_URL} (got ${JSON.stringify(raw)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--admin: expected an http:// or https:// URL (got ${JSON.stringify(raw)})`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

export function createAdminClient(options: { admin?: string; token?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): AdminClient {
  const baseUrl = adminBaseUrl(options.admin);
  const token = options.token ?? (options.env ?? process.env)[ADMIN_TOKEN_ENV];
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    baseUrl,
    async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<AdminResult<T>> {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      let res: Response;
      try {
        res = await fetch(baseUrl + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (e) {
        return { ok: false, message: connectionProblem(baseUrl, e, timeoutMs) };
      }
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (res.ok) {
        if (parsed === undefined) return { ok: false, status: res.status, message: `${baseUrl}${path} answered ${res.status} without JSON: is --admin the gateway's admin listener?` };
        return { ok: true, status: res.status, body: parsed as T };
      }
      const serverMessage = typeof (parsed as { message?: unknown })?.message === 'string' ? (parsed as { message: string }).message : text.slice(0, 200);
      return { ok: false, status: res.status, message: httpProblem(res.status, serverMessage, token !== undefined) };
    },
  };
}

function connectionProblem(baseUrl: string, e: unknown, timeoutMs: number): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `no answer from the admin API at ${baseUrl} within ${timeoutMs / 1000}s`;
  const code = err.cause?.code;
  if (code === 'ECONNREFUSED') return `cannot connect to the admin API at ${baseUrl} (connection refused): is the gateway running, and is --admin its admin listener?`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve the host of ${baseUrl} (${code})`;
  return `cannot reach the admin API at ${baseUrl}: ${err.cause?.message ?? err.message}`;
}

function httpProblem(status: number, message: string, hadToken: boolean): string {
  if (status === 401) {
    return hadToken
      ? `401 unauthenticated: ${message} (check --token or ${ADMIN_TOKEN_ENV})`
      : `401 unauthenticated: no admin token; pass --token TOKEN or set ${ADMIN_TOKEN_ENV} (${message})`;
  }
  if (status === 403) return `403 permission denied: ${message}`;
  return `${status}: ${message}`;
}
