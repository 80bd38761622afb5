// A hand-driven clock (src/incident/clock.ts's Clock, which the tail sampler, the incident store and
// Notify take): timers fire only when advance() moves time past them, in due order, each
// seeing now() at its own due time. Shared by the tests and the sampling micro-bench (which runs many
// timers, hence the linear scan instead of a sort per step).
import type { Clock } from '../../src/incident/clock.js';

export interface ManualClock extends Clock {
  advance(ms: number): void;
  /** Timers set and neither fired nor cancelled. */
  pending(): number;
}

export function manualClock(start = 1_000_000): ManualClock {
  let now = start;
  let timers: { at: number; fn: () => void; live: boolean }[] = [];
  return {
    now: () => now,
    setTimer(fn, ms) {
      const t = { at: now + Math.max(0, ms), fn, live: true };
      timers.push(t);
      return { cancel: () => void (t.live = false) };
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let due: (typeof timers)[number] | undefined;
        for (const t of timers) if (t.live && t.at <= end && (!due || t.at < due.at)) due = t;
        if (!due) break;
        now = Math.max(now, due.at);
        due.live = false;
        due.fn();
      }
      now = end;
      if (timers.length > 64) timers = timers.filter((t) => t.live);
    },
    pending: () => timers.filter((t) => t.live).length,
  };
}
