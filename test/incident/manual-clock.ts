// A clock the test moves by hand: timers fire in order of their due time when advance() passes it.
import type { Clock } from '../../src/incident/clock.js';

export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
  /** Timers armed and not yet fired or cancelled. */
  pending(): number;
}

export function manualClock(start = Date.parse('2026-01-01T00:00:00Z')): ManualClock {
  let now = start;
  let timers: { at: number; fn: () => void; live: boolean }[] = [];
  const fire = () => {
    for (;;) {
      const due = timers.filter((t) => t.live && t.at <= now).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      due.fn();
    }
    timers = timers.filter((t) => t.live);
  };
  return {
    now: () => now,
    setTimer(fn, ms) {
      const t = { at: now + Math.max(0, ms), fn, live: true };
      timers.push(t);
      return { cancel: () => void (t.live = false) };
    },
    advance(ms) {
      now += ms;
      fire();
    },
    set(ms) {
      now = ms;
      fire();
    },
    pending: () => timers.filter((t) => t.live).length,
  };
}
