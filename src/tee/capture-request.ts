// What a capture may ask for, checked in one place for both ways in: `stella telemetry capture` (CLI
// flags) and POST /admin/v1/captures (JSON body). Both hand their raw input here and print the same
// message on refusal, so the CLI can never accept what the API refuses (issue 18, finding 7: the CLI
// once took `--tenant ../../x` and wrote a hold outside the data dir).
//
// The rules (docs/guides/captures.md):
//   tenant   a tenant id (TENANT_RE: no "/", no leading "."), never the fleet "_all"
//   from/to  ISO 8601 or epoch milliseconds; to defaults to now, from to one hour before to
//   to       at most forensic.captures.maxFutureSkew (5m) past now
//   from     before to; clamped up to the tenant's first archived record (nothing older exists, and a
//            hold on the years before it would only pin the whole archive); a window that ends at or
//            before that record is refused (nothing to capture)
//   span     to - from (after clamping) at most forensic.captures.maxWindow (7d)
//   signals  a non-empty list (array or comma-separated string) of traces, metrics, logs
import { isTenantId } from '../tenant-id.js';
import { formatDuration } from '../config/units.js';
import { DEFAULT_FORENSIC } from '../config/sections/forensic.js';
import { SIGNALS, type Signal } from '../signals.js';
import { listSegments } from './layout.js';

export const DEFAULT_CAPTURE_WINDOW_MS = 3_600_000;

export interface CaptureWindowLimits {
  maxWindowMs: number;
  maxFutureSkewMs: number;
}

export const DEFAULT_CAPTURE_LIMITS: CaptureWindowLimits = {
  maxWindowMs: DEFAULT_FORENSIC.captures.maxWindowMs,
  maxFutureSkewMs: DEFAULT_FORENSIC.captures.maxFutureSkewMs,
};

/** The raw input: JSON body fields, or the CLI's flag strings (signals joined by ","). */
export interface CaptureRequestInput {
  tenant?: unknown;
  from?: unknown;
  to?: unknown;
  signals?: unknown;
}

export interface CaptureRequest {
  tenant: string;
  fromMs: number;
  toMs: number;
  signals: Signal[];
  /** The `from` asked for, when it was clamped to the archive's first record. */
  requestedFromMs?: number;
}

/** `field` is the input's name (tenant, from, to, signals, window); the CLI shows it as its flag. */
export type CaptureRequestResult = { ok: true; request: CaptureRequest } | { ok: false; field: string; message: string };

export interface CaptureRequestContext {
  now: number;
  limits: CaptureWindowLimits;
  /** The archive root: its first record of the tenant bounds `from`. */
  root: string;
}

const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v) : String(v));
const iso = (ms: number) => new Date(ms).toISOString();

function parseTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.length > 64) return undefined;
  const ms = /^\d{1,16}$/.test(value) ? Number(value) : Date.parse(value);
  // new Date() takes ±8.64e15 ms; beyond it there is no ISO form to write into a manifest.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? ms : undefined;
}

/** The first record time (ms) of a tenant's archive, from its segment names; undefined when it has none. */
export function firstArchivedRecordMs(root: string, tenant: string): number | undefined {
  let first: number | undefined;
  for (const seg of listSegments(root, { tenant })) first = first === undefined ? seg.firstRecordTimeMs : Math.min(first, seg.firstRecordTimeMs);
  return first;
}

export function parseCaptureRequest(input: CaptureRequestInput, ctx: CaptureRequestContext): CaptureRequestResult {
  const fail = (field: string, message: string): CaptureRequestResult => ({ ok: false, field, message: `${field}: ${message}` });
  if (input.tenant === undefined) return fail('tenant', 'required');
  if (!isTenantId(input.tenant)) {
    return fail('tenant', `expected a tenant id (letters, digits, ".", "_", "-", starting with a letter or digit, at most 128) (got ${show(input.tenant)})`);
  }
  const tenant = input.tenant;
  const timeError = (v: unknown) => `expected an ISO 8601 time such as 2026-01-31T12:00:00Z or epoch milliseconds (got ${show(v)})`;
  const toMs = input.to === undefined ? ctx.now : parseTime(input.to);
  if (toMs === undefined) return fail('to', timeError(input.to));
  const fromAsked = input.from === undefined ? toMs - DEFAULT_CAPTURE_WINDOW_MS : parseTime(input.from);
  if (fromAsked === undefined) return fail('from', timeError(input.from));
  if (!(fromAsked < toMs)) return fail('from', `${iso(fromAsked)} must be before to (${iso(toMs)})`);
  if (toMs > ctx.now + ctx.limits.maxFutureSkewMs) {
    return fail('to', `${iso(toMs)} is in the future (now ${iso(ctx.now)}; at most ${formatDuration(ctx.limits.maxFutureSkewMs)} ahead, forensic.captures.maxFutureSkew)`);
  }
  let signals: Signal[] = [...SIGNALS];
  if (input.signals !== undefined) {
    const list = typeof input.signals === 'string' ? input.signals.split(',').map((s) => s.trim()) : input.signals;
    if (!Array.isArray(list) || list.length === 0 || list.some((s) => !(SIGNALS as readonly unknown[]).includes(s))) {
      return fail('signals', `expected a list of ${SIGNALS.join(', ')} (got ${show(Array.isArray(list) ? list.join(',') : input.signals)})`);
    }
    signals = SIGNALS.filter((s) => list.includes(s));
  }
  // Only now, with a valid tenant id, is the archive looked at.
  const first = firstArchivedRecordMs(ctx.root, tenant);
  let fromMs = fromAsked;
  if (first !== undefined && fromMs < first) {
    if (toMs <= first) return fail('window', `${iso(fromAsked)} .. ${iso(toMs)} ends before tenant ${tenant}'s first archived record (${iso(first)}): nothing to capture`);
    fromMs = first;
  }
  if (toMs - fromMs > ctx.limits.maxWindowMs) {
    return fail(
      'window',
      `${iso(fromMs)} .. ${iso(toMs)} spans ${formatDuration(toMs - fromMs)}, more than forensic.captures.maxWindow (${formatDuration(ctx.limits.maxWindowMs)}): capture it in parts`,
    );
  }
  const request: CaptureRequest = { tenant, fromMs, toMs, signals };
  if (fromMs !== fromAsked) request.requestedFromMs = fromAsked;
  return { ok: true, request };
}
