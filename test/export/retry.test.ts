import t from 'tap';
import { backoffCeiling, backoffDelay, createRetrySchedule, retryDelay } from '../../src/export/retry.js';

const cfg = { initialBackoffMs: 100, maxBackoffMs: 1000, maxElapsedMs: 5000 };

t.test('exponential ceiling, capped at maxBackoffMs', async (t) => {
  t.same([0, 1, 2, 3, 4, 10, 100].map((i) => backoffCeiling(i, cfg)), [200, 400, 800, 1000, 1000, 1000, 1000]);
});

t.test('full jitter stays within [initialBackoffMs, ceiling]', async (t) => {
  for (let i = 0; i < 8; i++) {
    t.equal(backoffDelay(i, cfg, () => 0), 100, `retry ${i}: random 0 → the initial backoff`);
    t.equal(backoffDelay(i, cfg, () => 0.999999), backoffCeiling(i, cfg), `retry ${i}: random→1 gives the ceiling`);
  }
  t.equal(backoffDelay(1, cfg, () => 0.5), 250, 'midpoint of [100, 400]');
  let min = Infinity;
  let max = -Infinity;
  for (let n = 0; n < 2000; n++) {
    const d = backoffDelay(2, cfg);
    min = Math.min(min, d);
    max = Math.max(max, d);
  }
  t.ok(min >= 100 && max <= 800, `Math.random jitter within bounds (${min}..${max})`);
  t.ok(max - min > 300, 'and actually spread out');
});

t.test('a server hint is honoured up to maxBackoffMs: never shorter, never past the ceiling', async (t) => {
  t.equal(retryDelay(0, cfg, 750, () => 0.5), 750, 'hint longer than the computed delay wins');
  t.equal(retryDelay(0, cfg, 5000, () => 0.5), 1000, 'hint beyond maxBackoffMs is capped at maxBackoffMs');
  t.equal(retryDelay(0, cfg, 400_000, () => 0.5), 1000, 'Retry-After: 400 is capped too');
  t.equal(retryDelay(3, cfg, 10, () => 0.5), 550, 'a hint shorter than the backoff does not shorten it');
  t.equal(retryDelay(0, cfg, undefined, () => 0), 100);
  t.equal(retryDelay(0, cfg, -5, () => 0), 100, 'a nonsense hint is ignored');
});

t.test('the schedule says when the next attempt would pass maxElapsedMs, and keeps giving delays', async (t) => {
  let clock = 0;
  const s = createRetrySchedule({ initialBackoffMs: 100, maxBackoffMs: 1000, maxElapsedMs: 2000 }, { random: () => 0.999999, now: () => clock });
  const steps: Array<[number, boolean]> = [];
  for (let i = 0; i < 6; i++) {
    const step = s.next();
    steps.push([step.delayMs, step.withinBudget]);
    clock += step.delayMs + 10; // the attempt itself takes 10 ms
  }
  t.same(steps, [[200, true], [400, true], [800, true], [1000, false], [1000, false], [1000, false]], 'past the budget: capped backoff');
  t.equal(s.retries, 6);

  clock = 0;
  const h = createRetrySchedule(cfg, { random: () => 0, now: () => clock });
  t.same(h.next(400_000), { delayMs: 1000, withinBudget: true }, 'Retry-After: 400 against a 5 s budget: wait 1 s, within budget');
  clock = 4500;
  t.same(h.next(2000), { delayMs: 1000, withinBudget: false }, 'a wait ending past maxElapsedMs is flagged, not refused');
});
