// POST /admin/v1/captures: build a signed forensic bundle of a tenant's window into the data dir
// (src/tee/capture.ts), the admin-API twin of `stella telemetry capture`.
//   body {"tenant": "acme", "from"?: ISO, "to"?: ISO, "signals"?: ["traces","logs"]}   (operator, tenant-scoped)
//   201  {"path": "/…/captures/acme-<fromMs>-<toMs>.tar", "manifestSha256": "…", "chunks": n,
//         "records": {...}, "items": {...}, "shed": [...], "warnings": [...]}
//   400 bad body, 401/403 auth, 409 a capture is already running, 503 no signing key; errors are {code, message}.
// The signing key is read per request, so `stella telemetry keys init` after start-up is enough.
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyError, FastifyInstance } from 'fastify';
import { SIGNALS, type Signal } from '../signals.js';
import { captureWindow, CodecUnavailableError } from '../tee/capture.js';
import { createKeySigner } from '../tee/sign.js';
import { sendAdminError } from './auth.js';
import type { AdminAuthorize } from './auth-types.js';

export const CAPTURES_PATH = '/admin/v1/captures';
const DEFAULT_WINDOW_MS = 3_600_000;
const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface CaptureRoutesDeps {
  authorize: AdminAuthorize;
  /** The archive root (`forensicDir(config)`). */
  root: string;
  /** Where bundles are written (e.g. `${dataDir}/captures`). */
  capturesDir: string;
  /** The ECDSA P-256 private key PEM file (e.g. `${dataDir}/keys/signing-key.pem`). */
  signingKeyPath: string;
  profile: string;
  now?: () => number;
}

interface CaptureBody {
  tenant?: unknown;
  from?: unknown;
  to?: unknown;
  signals?: unknown;
}

function parseTime(value: unknown, name: string): number | string {
  if (typeof value !== 'string') return `${name}: expected an ISO 8601 time`;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : `${name}: expected an ISO 8601 time (got "${value}")`;
}

export function registerCaptureRoutes(app: FastifyInstance, deps: CaptureRoutesDeps): void {
  const now = deps.now ?? Date.now;
  let running = false;
  void app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError, _req, reply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      return sendAdminError(reply, status, status === 500 ? 'internal error' : error.message);
    });
    scope.addHook('onRequest', async (req, reply) => {
      if (!deps.authorize(req, reply, { role: 'operator' })) return reply;
    });
    scope.post(CAPTURES_PATH, async (req, reply) => {
      const body = (req.body ?? {}) as CaptureBody;
      if (typeof body !== 'object' || Array.isArray(body)) return sendAdminError(reply, 400, 'expected a JSON object body');
      if (typeof body.tenant !== 'string' || !TENANT_RE.test(body.tenant)) return sendAdminError(reply, 400, 'tenant: expected a tenant id');
      const tenant = body.tenant;
      if (!deps.authorize(req, reply, { role: 'operator', tenant })) return reply;
      const toMs = body.to === undefined ? now() : parseTime(body.to, 'to');
      if (typeof toMs === 'string') return sendAdminError(reply, 400, toMs);
      const fromMs = body.from === undefined ? toMs - DEFAULT_WINDOW_MS : parseTime(body.from, 'from');
      if (typeof fromMs === 'string') return sendAdminError(reply, 400, fromMs);
      if (!(fromMs < toMs)) return sendAdminError(reply, 400, 'from must be before to');
      let signals: Signal[] = [...SIGNALS];
      if (body.signals !== undefined) {
        const list = typeof body.signals === 'string' ? body.signals.split(',') : body.signals;
        if (!Array.isArray(list) || list.length === 0 || list.some((s) => !(SIGNALS as readonly unknown[]).includes(s))) {
          return sendAdminError(reply, 400, `signals: expected a list of ${SIGNALS.join(', ')}`);
        }
        signals = SIGNALS.filter((s) => list.includes(s));
      }
      let keyPem: string;
      try {
        keyPem = readFileSync(deps.signingKeyPath, 'utf8');
      } catch {
        return sendAdminError(reply, 503, `no signing key at ${deps.signingKeyPath}: run "stella telemetry keys init --out <dataDir>/keys"`);
      }
      if (running) return sendAdminError(reply, 409, 'a capture is already running; retry when it is done');
      running = true;
      try {
        mkdirSync(deps.capturesDir, { recursive: true });
        const path = join(deps.capturesDir, `${tenant}-${fromMs}-${toMs}-${signals.join('+')}.tar`);
        // Streamed to `${path}.tmp` and renamed: the gateway never holds the bundle in memory.
        const result = await captureWindow({ root: deps.root, tenant, fromMs, toMs, signals, profile: deps.profile, signer: createKeySigner(keyPem), now, out: path });
        const m = result.manifest;
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({ path, manifestSha256: result.manifestSha256, chunks: m.totals.chunks, records: m.totals.records, items: m.totals.items, shed: m.shed, warnings: result.warnings });
      } catch (err) {
        // The archive holds segments this Node cannot read (written by a newer one): say so, not "internal error".
        if (err instanceof CodecUnavailableError) return sendAdminError(reply, 501, err.message);
        throw err;
      } finally {
        running = false;
      }
    });
  });
}
