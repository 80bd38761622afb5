// How late request bodies arrive after their headers, for the receivers' overload shedding
// (docs/guides/overload.md "Late bodies are not read in vain"). Under overload the backlog builds up in
// the clients' connections and in the bodies read side by side, so bodies arrive seconds after their
// headers; a request whose body would come too late for process.maxExpectedWait or its deadline is then
// refused on its headers.
//
// The estimate is the median of the last SAMPLES bodies' lags, not the last body's: one client that
// trickles its body over a minute (slow, or a slowloris) must not make the gateway refuse everyone
// else (with the last body's lag it did, for as long as that body had taken, less maxExpectedWait). Slots
// not yet filled count as no lag (a fresh gateway has no evidence of a backlog), so it takes half of
// the recent bodies arriving late to move it. It decays in real time since the last body arrived, so
// refusing (which stops bodies arriving) cannot keep it up.
const SAMPLES = 32;

export interface BodyLag {
  /** A body arrived `lagMs` after its headers, at `now` (performance.now()). */
  record(lagMs: number, now: number): void;
  /** The expected lag of a body whose headers arrive at `now`, ms. */
  current(now: number): number;
}

export function createBodyLag(samples = SAMPLES): BodyLag {
  const ring = new Float64Array(samples);
  const sorted = new Float64Array(samples);
  let next = 0;
  let median = 0;
  let lastAt = 0;
  return {
    record(lagMs, now) {
      ring[next] = lagMs;
      next = (next + 1) % samples;
      sorted.set(ring);
      median = sorted.sort()[samples >> 1]!;
      lastAt = now;
    },
    current(now) {
      return Math.max(0, median - (now - lastAt));
    },
  };
}
