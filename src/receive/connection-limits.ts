// Limits on the connections of a receiver listener (both protocols): a maximum number of open
// connections (over it a new connection is closed at once by node's `server.maxConnections` and
// counted), and the accounting every limit shares: the open-connections gauge, the closed-by-reason
// counter and a rate-limited warning, so an operator learns that a limit is being hit without one log
// line per refused connection.
import type { Server } from 'node:net';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { Protocol } from './types.js';

export type CloseReason =
  | 'over_limit'
  | 'handshake_timeout'
  | 'idle'
  | 'max_age'
  | 'too_many_pings'
  | 'keepalive_timeout'
  | 'header_too_large';

/** At most one warning per reason and listener per this interval; the count of the others rides along. */
export const WARN_INTERVAL_MS = 10_000;

export interface ConnectionLimiter {
  /** Count a connection closed on a limit (and warn, rate-limited). */
  closed(reason: CloseReason, detail?: object): void;
}

export function createConnectionLimiter(
  server: Server,
  opts: { protocol: Protocol; maxConnections: number; metrics: GatewayMetrics; logger: Logger },
): ConnectionLimiter {
  const { protocol, metrics, logger } = opts;
  const lastWarn = new Map<CloseReason, { at: number; suppressed: number }>();
  metrics.receiverConnections.set({ protocol }, 0);
  for (const reason of ['over_limit', 'handshake_timeout', 'idle'] as const) metrics.receiverConnectionsClosed.inc({ protocol, reason }, 0);

  function closed(reason: CloseReason, detail: object = {}): void {
    metrics.receiverConnectionsClosed.inc({ protocol, reason });
    const now = Date.now();
    const w = lastWarn.get(reason);
    if (w && now - w.at < WARN_INTERVAL_MS) {
      w.suppressed++;
      return;
    }
    lastWarn.set(reason, { at: now, suppressed: 0 });
    if (reason === 'idle' || reason === 'max_age') return; // routine, counted only
    logger.warn(
      { protocol, reason, ...detail, ...(w && w.suppressed > 0 ? { sinceLastWarning: w.suppressed } : {}) },
      `receiver connection limit hit: ${reason}`,
    );
  }

  // node closes a connection over maxConnections before any byte is read and emits 'drop'.
  server.maxConnections = opts.maxConnections;
  server.on('drop', () => closed('over_limit', { maxConnections: opts.maxConnections }));
  let open = 0;
  server.on('connection', (socket: { once(event: 'close', l: () => void): void }) => {
    open++;
    metrics.receiverConnections.set({ protocol }, open);
    socket.once('close', () => {
      open--;
      metrics.receiverConnections.set({ protocol }, open);
    });
  });
  return { closed };
}
