// Time as the incident store and Notify see it: injectable, so tests drive TTL expiry and retry backoff
// without waiting (tests pass a manual clock; the gateway uses the system one).

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  now(): number;
  /** Runs fn after ms; the timer never keeps the process alive on its own (gateway stop() clears them). */
  setTimer(fn: () => void, ms: number): TimerHandle;
}

// setTimeout's ceiling (~24.8 days); longer waits are re-armed by the caller.
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
