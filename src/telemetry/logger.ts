// The gateway's log: JSON lines on stderr (pino), so stdout stays free for command output and log
// shippers get one object per line. Writes are asynchronous (sonic-boom buffers them) to keep logging
// off the hot path; call `flushLogger` before exiting so the last lines are not lost.
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { redactSecrets } from '../config/secrets.js';
import type { LogLevel } from '../config/types.js';
import type { Logger } from './logger-types.js';

export type GatewayLogger = PinoLogger & Logger;

/**
 * A pino logger at `level` writing to `destination` (default: stderr, asynchronous), with
 * `service: "stella-gateway"` and the pid on every line, ISO timestamps and level names
 * (`"level":"info"`) rather than numbers.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): GatewayLogger {
  return pino(
    {
      level,
      base: { service: 'stella-gateway', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Configured secrets (header values, substituted values) never reach the log, even when a
      // backend echoes one in an error message (src/config/secrets.ts).
      hooks: { streamWrite: redactSecrets },
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  );
}

/** Resolves once buffered lines are written, at once if the destination cannot flush, or after `timeoutMs`. */
export function flushLogger(logger: PinoLogger, timeoutMs = 1000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    try {
      logger.flush(done);
    } catch {
      done();
    }
  });
}
