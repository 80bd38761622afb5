// Shedding: records the tee drops (buffer full, disk budget spent, a failed write, shutdown) are
// counted (tee_shed_records_total{tenant,reason}), flagged (tee_shedding{tenant} = 1 while it lasts)
// and, once the window ends, written to <tenant>/shed.jsonl, so a capture of that time can say the
// archive has a gap there.
import { appendFileSync, mkdirSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { shedLogPath, tenantDir, type ShedWindow } from './layout.js';
import type { ShedReason, TeeOffer } from './tee.js';
import type { Lane, Lanes } from './tee-lanes.js';

/** Shed windows waiting to be appended to shed.jsonl per tenant (when even that fails). */
const MAX_PENDING_SHED_LINES = 1000;

export interface Shedding {
  /** Drops a record of `bytes`, opening or extending the lane's shed window. */
  shed(l: Lane, o: TeeOffer, bytes: number, reason: ShedReason): void;
  /** Ends the lane's shed window; `sync` (the shutdown deadline, file work may be stuck) appends its line at once. */
  endShedWindow(l: Lane, sync?: boolean): void;
  /** Appends the lane's pending shed lines to shed.jsonl (kept for the next try when that fails). */
  writeShedLines(l: Lane): Promise<void>;
}

export function createShedding(deps: { root: string; metrics: GatewayMetrics; logger: Logger; now: () => number; lanes: Lanes }): Shedding {
  const { root, metrics, logger, now, lanes } = deps;

  function shed(l: Lane, o: TeeOffer, bytes: number, reason: ShedReason): void {
    metrics.teeShedRecords.inc({ tenant: l.label, reason });
    let w = l.shed;
    if (w && w.reason !== reason) {
      endShedWindow(l);
      w = undefined;
    }
    if (!w) {
      w = l.shed = { fromMs: o.timeMs, toMs: o.timeMs, records: 0, bytes: 0, reason, lastShedAt: 0 };
      metrics.teeShedding.set({ tenant: l.label }, 1);
      logger.warn({ tenant: l.tenant, reason }, 'forensic tee: shedding records (the archive will have a gap)');
    }
    if (o.timeMs < w.fromMs) w.fromMs = o.timeMs;
    if (o.timeMs > w.toMs) w.toMs = o.timeMs;
    w.records++;
    w.bytes += bytes;
    w.lastShedAt = now();
  }

  function endShedWindow(l: Lane, sync = false): void {
    const w = l.shed;
    if (!w) return;
    l.shed = undefined;
    metrics.teeShedding.set({ tenant: l.label }, 0);
    const line: ShedWindow = { fromMs: w.fromMs, toMs: w.toMs, records: w.records, bytes: w.bytes, reason: w.reason };
    logger.warn({ tenant: l.tenant, ...line }, 'forensic tee: shed window ended');
    if (l.shedLines.length >= MAX_PENDING_SHED_LINES) l.shedLines.shift();
    l.shedLines.push(`${JSON.stringify(line)}\n`);
    if (!sync) {
      void lanes.onLane(l, () => writeShedLines(l));
      return;
    }
    try {
      mkdirSync(tenantDir(root, l.tenant), { recursive: true });
      appendFileSync(shedLogPath(root, l.tenant), l.shedLines.join(''));
      l.shedLines = [];
    } catch (err) {
      logger.error({ tenant: l.tenant, err: String(err) }, 'forensic tee: cannot append to shed.jsonl at shutdown');
    }
  }

  async function writeShedLines(l: Lane): Promise<void> {
    if (l.shedLines.length === 0) return;
    const n = l.shedLines.length; // lines added while appending wait for the next call
    const text = l.shedLines.slice(0, n).join('');
    try {
      await mkdir(tenantDir(root, l.tenant), { recursive: true });
      await appendFile(shedLogPath(root, l.tenant), text);
      l.shedLines.splice(0, n);
    } catch (err) {
      // Kept in memory and retried on the next tick; a full disk often frees up after pruning.
      logger.error({ tenant: l.tenant, err: String(err) }, 'forensic tee: cannot append to shed.jsonl (will retry)');
    }
  }

  return { shed, endShedWindow, writeShedLines };
}
