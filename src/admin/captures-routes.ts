// POST /admin/v1/captures: build a signed forensic bundle of a tenant's window into the data dir
// (src/tee/capture.ts), the admin-API twin of `stella telemetry capture`.
//   body {"tenant": "acme", "from"?: ISO, "to"?: ISO, "signals"?: ["traces","logs"]}   (operator, tenant-scoped)
//   201  {"path": "/…/captures/acme-<fromMs>-<toMs>.tar", "manifestSha256": "…", "from": ISO, "to": ISO,
//         "clampedFrom"?: ISO (the from asked for, when clamped to the archive's first record), "chunks": n,
//         "records": {...}, "items": {...}, "shed": [...], "warnings": [...]}
//   errors (src/errors.ts, ADMIN_ERRORS): CAPTURE_INVALID_REQUEST 400 (bad body or window; checks shared
//   with the CLI in src/tee/capture-request.ts), ADMIN_* 401/403 (auth), CAPTURE_RUNNING 409,
//   CAPTURE_CODEC_UNAVAILABLE 501, CAPTURE_NO_SIGNING_KEY 503; bodies are google.rpc.Status JSON.
// The signing key is read per request, so `stella telemetry keys init` after start-up is enough. Bundles
// are 0600 in a 0700 dir and pruned (forensic.captures); every capture is a line in the audit log.
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DEFAULT_FORENSIC, type CaptureLimitsConfig } from '../config/sections/forensic.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { auditCapture, type CaptureAuditEntry } from '../tee/capture-audit.js';
import { ensurePrivateDir, pruneCaptures } from '../tee/capture-files.js';
import { isTenantId, parseCaptureRequest } from '../tee/capture-request.js';
import { captureWindow, CodecUnavailableError } from '../tee/capture.js';
import { childPath } from '../tee/layout.js';
import { createKeySigner } from '../tee/sign.js';
import { ADMIN_ERRORS, type AdminErrorCode } from '../errors.js';
import { adminErrorHandler, sendAdminError } from './admin-errors.js';
import type { AdminAuthorize } from './auth-types.js';

export const CAPTURES_PATH = '/admin/v1/captures';

export interface CaptureRoutesDeps {
  authorize: AdminAuthorize;
  /** The archive root (`forensicDir(config)`). */
  root: string;
  /** Where bundles are written (e.g. `${dataDir}/captures`; 0700, bundles 0600, pruned after each capture). */
  capturesDir: string;
  /** The ECDSA P-256 private key PEM file (e.g. `${dataDir}/keys/signing-key.pem`). */
  signingKeyPath: string;
  profile: string;
  /** The audit log every capture is written to (the incident store's `audit.log`). */
  auditFile: string;
  /** forensic.captures (window limits, bundle retention); defaults when absent. */
  limits?: CaptureLimitsConfig;
  metrics?: Pick<GatewayMetrics, 'teeCaptures' | 'teeCaptureFilesPruned' | 'incidentPersistFailures'>;
  logger?: Logger;
  now?: () => number;
}

interface CaptureBody {
  tenant?: unknown;
  from?: unknown;
  to?: unknown;
  signals?: unknown;
}

export function registerCaptureRoutes(app: FastifyInstance, deps: CaptureRoutesDeps): void {
  const now = deps.now ?? Date.now;
  const limits = deps.limits ?? DEFAULT_FORENSIC.captures;
  let running = false;

  /** Every capture asked for leaves one audit line; a log that cannot be written is counted and logged, not hidden. */
  function audit(entry: Omit<CaptureAuditEntry, 'via'>): void {
    deps.metrics?.teeCaptures.inc({ outcome: entry.outcome });
    try {
      auditCapture(deps.auditFile, now(), { via: 'api', ...entry });
    } catch (err) {
      deps.metrics?.incidentPersistFailures.inc({ file: 'audit' });
      deps.logger?.error({ err: (err as Error).message, file: deps.auditFile }, 'cannot append a capture to the audit log');
    }
  }

  void app.register(async (scope) => {
    scope.setErrorHandler(adminErrorHandler);
    scope.addHook('onRequest', async (req, reply) => {
      if (!deps.authorize(req, reply, { role: 'operator' })) return reply;
    });
    scope.post(CAPTURES_PATH, async (req, reply) => {
      const principal = deps.authorize(req, reply, { role: 'operator' });
      if (!principal) return reply;
      const by = principal.name;
      const refuse = (code: AdminErrorCode, message: string = ADMIN_ERRORS[code].message, entry: Partial<CaptureAuditEntry> = {}): FastifyReply => {
        audit({ by, outcome: 'refused', tenant: body?.tenant, error: message, ...entry });
        return sendAdminError(reply, code, message);
      };
      const body = (req.body ?? {}) as CaptureBody;
      if (typeof body !== 'object' || Array.isArray(body)) return refuse('ADMIN_BAD_REQUEST', 'expected a JSON object body');
      // The tenant is checked (shape, then the token's scope) before the archive is looked at.
      if (!isTenantId(body.tenant)) {
        const bad = parseCaptureRequest({ tenant: body.tenant }, { now: now(), limits, root: deps.root });
        return refuse('CAPTURE_INVALID_REQUEST', bad.ok ? 'tenant: expected a tenant id' : bad.message);
      }
      if (!deps.authorize(req, reply, { role: 'operator', tenant: body.tenant })) {
        audit({ by, outcome: 'refused', tenant: body.tenant, error: `token "${by}" may not act on tenant "${body.tenant}"` });
        return reply;
      }
      const parsed = parseCaptureRequest(body, { now: now(), limits, root: deps.root });
      if (!parsed.ok) return refuse('CAPTURE_INVALID_REQUEST', parsed.message);
      const request = parsed.request;
      let keyPem: string;
      try {
        keyPem = readFileSync(deps.signingKeyPath, 'utf8');
      } catch {
        return refuse('CAPTURE_NO_SIGNING_KEY', `no signing key at ${deps.signingKeyPath}: run "stella telemetry keys init --out <dataDir>/keys"`, { request });
      }
      if (running) return refuse('CAPTURE_RUNNING', undefined, { request });
      running = true;
      try {
        const { tenant, fromMs, toMs, signals } = request;
        ensurePrivateDir(deps.capturesDir);
        const path = childPath(deps.capturesDir, `${tenant}-${fromMs}-${toMs}-${signals.join('+')}.tar`);
        // Streamed to `${path}.tmp` and renamed: the gateway never holds the bundle in memory.
        const result = await captureWindow({ root: deps.root, tenant, fromMs, toMs, signals, profile: deps.profile, signer: createKeySigner(keyPem), now, out: path });
        audit({ by, outcome: 'ok', tenant, request, path, manifestSha256: result.manifestSha256, bytes: result.bytes, holdPath: result.holdPath });
        prune(path);
        const m = result.manifest;
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({
            path,
            manifestSha256: result.manifestSha256,
            from: new Date(fromMs).toISOString(),
            to: new Date(toMs).toISOString(),
            ...(request.requestedFromMs !== undefined && { clampedFrom: new Date(request.requestedFromMs).toISOString() }),
            chunks: m.totals.chunks,
            records: m.totals.records,
            items: m.totals.items,
            shed: m.shed,
            warnings: result.warnings,
          });
      } catch (err) {
        audit({ by, outcome: 'failed', tenant: request.tenant, request, error: (err as Error).message });
        // The archive holds segments this Node cannot read (written by a newer one): say so, not "internal error".
        if (err instanceof CodecUnavailableError) return sendAdminError(reply, 'CAPTURE_CODEC_UNAVAILABLE', err.message);
        throw err;
      } finally {
        running = false;
      }
    });
  });

  function prune(keep?: string): void {
    const report = pruneCaptures(deps.capturesDir, limits, now(), keep);
    for (const d of report.deleted) deps.metrics?.teeCaptureFilesPruned.inc({ reason: d.reason });
    if (report.deleted.length > 0 || report.errors.length > 0) {
      deps.logger?.info({ deleted: report.deleted, kept: report.kept, errors: report.errors }, `capture bundles: deleted ${report.deleted.length}`);
    }
  }
}

/**
 * Prunes `${dataDir}/captures` now and every `intervalMs` (forensic.pruneInterval): bundles older than
 * forensic.captures.retention or beyond maxCount/maxBytes are deleted, oldest first.
 */
export function startCapturePruner(
  o: { capturesDir: string; limits: CaptureLimitsConfig; intervalMs: number },
  deps: { metrics?: Pick<GatewayMetrics, 'teeCaptureFilesPruned'>; logger?: Logger; now?: () => number },
): { stop(): void } {
  const run = () => {
    try {
      const report = pruneCaptures(o.capturesDir, o.limits, (deps.now ?? Date.now)());
      for (const d of report.deleted) deps.metrics?.teeCaptureFilesPruned.inc({ reason: d.reason });
      if (report.deleted.length > 0 || report.errors.length > 0) {
        deps.logger?.info({ deleted: report.deleted, kept: report.kept, errors: report.errors }, `capture bundles: deleted ${report.deleted.length}`);
      }
    } catch (err) {
      deps.logger?.error({ err: (err as Error).message, dir: o.capturesDir }, 'capture bundle pruner failed');
    }
  };
  run();
  const timer = setInterval(run, o.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
