// Export health of one exporter: whether its backend is taking data, said once and then rarely.
//
// - The first failed attempt after a good spell opens a "trouble" spell and logs a warning (what
//   failed, how many items wait, since when). While it lasts, at most one reminder per
//   `reminderIntervalMs` (default 1 min), however many attempts fail: a backend down for an hour
//   costs 60 lines, not one per retry.
// - The spell ends, with one info line, at the first success once no batch is still waiting for a
//   retry (a success of a new batch while older ones sleep in backoff is not a recovery yet).
// - State: `ok` outside trouble; `down` in trouble with no success since it began; `degraded` in
//   trouble with successes too (a flapping or partly failing backend, or the backlog still retrying).
// Pure bookkeeping with an injectable clock; the exporter reports attempts and tells it what waits.
import type { Logger } from '../telemetry/logger-types.js';

export type ExporterHealthState = 'ok' | 'degraded' | 'down';

export interface ExporterBacklog {
  /** Items accepted and not yet acknowledged by the backend (batching, queued, in flight). */
  items: number;
  bytes: number;
  /** Batches currently waiting to retry after a retryable failure. */
  retrying: number;
  /** Age of the oldest queued or in-flight batch (ms); 0 when empty. */
  oldestAgeMs: number;
}

export interface ExporterHealthSnapshot {
  state: ExporterHealthState;
  /** ISO time the current trouble spell began; null when ok. */
  since: string | null;
  /** The last failure's reason label and message; null when there was none in this spell. */
  lastError: { reason: string; message: string } | null;
  /** Failed attempts in the current spell. */
  failures: number;
  queueItems: number;
  queueBytes: number;
  oldestAgeSeconds: number;
}

export interface HealthTracker {
  /** One attempt succeeded. */
  success(): void;
  /** One attempt failed (retryable or permanent). */
  failure(reason: string, message: string | undefined): void;
  snapshot(): ExporterHealthSnapshot;
}

export interface HealthDeps {
  exporter: string;
  logger: Logger;
  backlog: () => ExporterBacklog;
  reminderIntervalMs?: number;
  now?: () => number;
}

export const DEFAULT_REMINDER_INTERVAL_MS = 60_000;

export function createHealthTracker(deps: HealthDeps): HealthTracker {
  const { exporter, logger, backlog } = deps;
  const now = deps.now ?? Date.now;
  const reminderMs = deps.reminderIntervalMs ?? DEFAULT_REMINDER_INTERVAL_MS;
  let troubleSince: number | undefined;
  let lastSuccessAt: number | undefined;
  let lastReminderAt = 0;
  let failures = 0;
  let failuresSinceReminder = 0;
  let lastError: { reason: string; message: string } | null = null;

  const waiting = (b: ExporterBacklog) => ({ waitingItems: b.items, waitingBytes: b.bytes, oldestAgeSeconds: Math.round(b.oldestAgeMs / 1000) });

  return {
    success() {
      const t = now();
      lastSuccessAt = t;
      if (troubleSince === undefined) return;
      const b = backlog();
      if (b.retrying > 0) return;
      logger.info(
        { exporter, downForSeconds: Math.round((t - troubleSince) / 1000), failedAttempts: failures, ...waiting(b) },
        'export recovered: the backend accepts data again',
      );
      troubleSince = undefined;
      failures = 0;
      lastError = null;
    },
    failure(reason, message) {
      const t = now();
      failures++;
      failuresSinceReminder++;
      lastError = { reason, message: message ?? '' };
      if (troubleSince === undefined) {
        troubleSince = t;
        lastReminderAt = t;
        failuresSinceReminder = 0;
        logger.warn({ exporter, reason, detail: message, ...waiting(backlog()), since: new Date(t).toISOString() }, 'export failing: the backend does not accept data; retrying');
        return;
      }
      if (t - lastReminderAt >= reminderMs) {
        logger.warn(
          {
            exporter,
            reason,
            detail: message,
            failedAttempts: failures,
            failedSinceLastWarning: failuresSinceReminder,
            ...waiting(backlog()),
            since: new Date(troubleSince).toISOString(),
          },
          'export still failing',
        );
        lastReminderAt = t;
        failuresSinceReminder = 0;
      }
    },
    snapshot() {
      const b = backlog();
      const state: ExporterHealthState =
        troubleSince === undefined ? 'ok' : lastSuccessAt !== undefined && lastSuccessAt >= troubleSince ? 'degraded' : 'down';
      return {
        state,
        since: troubleSince === undefined ? null : new Date(troubleSince).toISOString(),
        lastError,
        failures,
        queueItems: b.items,
        queueBytes: b.bytes,
        oldestAgeSeconds: Math.round(b.oldestAgeMs / 100) / 10,
      };
    },
  };
}
