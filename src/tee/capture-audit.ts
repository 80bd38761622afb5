// One audit line per capture asked for, through the CLI or the admin API, whatever its outcome: who,
// which tenant and window, and what came of it (the bundle's path and manifest digest, or the reason it
// was refused or failed). Written to the incident audit log (src/incident/audit-log.ts).
import { appendAudit } from '../incident/audit-log.js';
import type { CaptureRequest } from './capture-request.js';

export type CaptureOutcome = 'ok' | 'refused' | 'failed';

export interface CaptureAuditEntry {
  via: 'api' | 'cli' | 'incident';
  /** A token name (API), the OS user (CLI), or `incident:<scope>` (capture on incident end). */
  by: string;
  outcome: CaptureOutcome;
  /** The tenant as given (a refused one may not be a tenant id: it is only ever written as a JSON string). */
  tenant: unknown;
  request?: CaptureRequest;
  /** Refused or failed: why. */
  error?: string;
  path?: string;
  manifestSha256?: string;
  bytes?: number;
  holdPath?: string;
}

const short = (v: unknown) => {
  const s = typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v) ?? String(v);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
};

/** Appends the line; throws when the log cannot be written (the caller counts and reports it). */
export function auditCapture(file: string, nowMs: number, e: CaptureAuditEntry): void {
  const r = e.request;
  appendAudit(file, nowMs, {
    action: 'capture',
    scope: short(e.tenant),
    by: e.by,
    reason: e.error ?? null,
    outcome: e.outcome,
    via: e.via,
    ...(r && {
      window: {
        from: new Date(r.fromMs).toISOString(),
        to: new Date(r.toMs).toISOString(),
        ...(r.requestedFromMs !== undefined && { requestedFrom: new Date(r.requestedFromMs).toISOString() }),
      },
      signals: r.signals,
    }),
    ...(e.path !== undefined && { path: e.path }),
    ...(e.manifestSha256 !== undefined && { manifestSha256: e.manifestSha256 }),
    ...(e.bytes !== undefined && { bytes: e.bytes }),
    ...(e.holdPath !== undefined && { holdPath: e.holdPath }),
  });
}
