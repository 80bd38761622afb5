// The start/stop graph: every component the gateway starts is recorded here, with its stop, the moment
// it is created; shut-down and the clean-up after a failed start both happen here and nowhere else.
// Model: the OpenTelemetry Collector's service/internal/graph (components started in reverse
// topological order, shut down in topological order) and its service, which stops the pipelines before
// the extensions around them.
//
// A new stage is one push and one start:
//
//   const stage = createStage(...);
//   started.push('stage name', (leftMs) => stage.stop(leftMs));
//   await stage.start();
//
// Push before start: a start that fails half-way (some exporters running, a watcher installed) is then
// cleaned up like any other, so every stop must cope with a start that failed or never ran.
import type { Logger } from './telemetry/logger-types.js';

/** Stops one component. `leftMs` is the time left to the shut-down deadline (0 after a failed start). */
export type StopFn = (leftMs: number) => unknown;

export interface PushOptions {
  /**
   * Stops at the same time as the component of this name (pushed earlier), each given the time left:
   * for stages that drain side by side (the receivers; the tee and the exporters). Ignored when no such
   * component was pushed (a receiver that is disabled).
   */
  with?: string;
  /**
   * A service around the pipeline (policy and tenant stores, the admin listener): stopped only after
   * every pipeline stage has drained, so /readyz answers "stopping" and policies stay loaded meanwhile
   * (the Collector's extensions).
   */
  service?: boolean;
}

export interface StartStopGraph {
  /** Records a component that is starting (or started): its stop runs exactly once. */
  push(name: string, stop: StopFn, options?: PushOptions): void;
  /**
   * After a failed start: stops everything recorded, newest first, with no time to drain. Never
   * rejects (the start-up error is what the caller reports); a stop that fails is logged.
   */
  unwind(): Promise<void>;
  /**
   * Shut-down within one deadline: the pipeline newest first (receivers, then each stage in turn; a
   * group pushed `with` each other side by side), then the services newest first. Every stop runs even
   * when one fails; the first failure is logged and rethrown at the end.
   */
  stop(deadlineMs: number): Promise<void>;
  /** What is recorded, in push order (for logs and tests). */
  names(): string[];
}

interface Entry {
  name: string;
  stop: StopFn;
  service: boolean;
  done: boolean;
}

export function createStartStopGraph(deps: { logger: Logger }): StartStopGraph {
  const entries: Entry[] = [];
  // Groups of entries that stop side by side, in push order of their first member.
  const groups: Entry[][] = [];

  async function stopOne(e: Entry, leftMs: number): Promise<void> {
    if (e.done) return;
    e.done = true;
    try {
      await e.stop(leftMs);
    } catch (err) {
      deps.logger.error({ component: e.name, err: (err as Error)?.message ?? String(err) }, 'stopping a component failed');
      throw err;
    }
  }

  return {
    push(name, stop, options = {}) {
      if (entries.some((e) => e.name === name)) throw new Error(`start/stop graph: ${name} is already recorded`);
      const entry: Entry = { name, stop, service: options.service ?? false, done: false };
      entries.push(entry);
      const group = options.with === undefined ? undefined : groups.find((g) => g.some((e) => e.name === options.with));
      if (group) {
        if (group[0]!.service !== entry.service) throw new Error(`start/stop graph: ${name} and ${options.with} stop in different phases`);
        group.push(entry);
      } else groups.push([entry]);
    },

    async unwind() {
      for (const e of [...entries].reverse()) await stopOne(e, 0).catch(() => {});
    },

    async stop(deadlineMs) {
      const deadline = Date.now() + deadlineMs;
      const left = () => Math.max(0, deadline - Date.now());
      const order = [...groups.filter((g) => !g[0]!.service).reverse(), ...groups.filter((g) => g[0]!.service).reverse()];
      let first: { err: unknown } | undefined;
      for (const group of order) {
        // Members start in push order: a group of synchronous stops runs in that order.
        const results = await Promise.allSettled(group.map((e) => stopOne(e, left())));
        for (const r of results) if (r.status === 'rejected') first ??= { err: r.reason };
      }
      if (first) throw first.err;
    },

    names: () => entries.map((e) => e.name),
  };
}
