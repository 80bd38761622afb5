// The logger the stages are given: the small pino-compatible subset they use, so a stage (and its
// tests) can take pino, a test double or the silent logger without depending on pino's types.

type LogFn = (obj: object, msg?: string) => void;

export interface Logger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  debug: LogFn;
}

const noop: LogFn = () => {};

/** Discards everything; for tests and tools that want no output. */
export const silentLogger: Logger = { info: noop, warn: noop, error: noop, debug: noop };
