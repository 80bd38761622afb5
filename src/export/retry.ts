// Retry timing for export: exponential backoff with full jitter, server hints honoured, bounded in
// total time. Pure functions plus a small schedule with injectable random and clock, so tests can
// check the bounds exactly. Models: the OpenTelemetry Collector's exporterhelper retry
// (max(backoff, throttle hint)) and https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
// OTLP asks clients to honour RetryInfo / Retry-After: https://opentelemetry.io/docs/specs/otlp/#otlpgrpc-throttling
import type { RetryConfig } from '../config/types.js';

/** The upper bound of the jitter window of retry number `retryIndex` (0 = first retry). */
export function backoffCeiling(retryIndex: number, config: RetryConfig): number {
  // Doubling from the first retry on, so even the first retry is jittered: [initial, 2*initial].
  const exp = config.initialBackoffMs * 2 ** Math.min(retryIndex + 1, 52);
  return Math.max(config.initialBackoffMs, Math.min(config.maxBackoffMs, exp));
}

/**
 * The computed delay before retry `retryIndex`: uniform in [initialBackoffMs, ceiling], so never
 * shorter than initialBackoffMs and never longer than maxBackoffMs.
 */
export function backoffDelay(retryIndex: number, config: RetryConfig, random: () => number = Math.random): number {
  const floor = Math.min(config.initialBackoffMs, config.maxBackoffMs);
  const ceiling = backoffCeiling(retryIndex, config);
  return Math.round(floor + random() * (ceiling - floor));
}

/**
 * The delay before retry `retryIndex` given the server's hint (RetryInfo.retry_delay or Retry-After):
 * never shorter than the hint, even when the hint exceeds maxBackoffMs (the server knows best; the
 * total budget maxElapsedMs still applies); otherwise the jittered backoff.
 */
export function retryDelay(
  retryIndex: number,
  config: RetryConfig,
  hintMs: number | undefined,
  random: () => number = Math.random,
): number {
  const computed = backoffDelay(retryIndex, config, random);
  if (hintMs === undefined || !Number.isFinite(hintMs) || hintMs < 0) return computed;
  return Math.max(Math.ceil(hintMs), computed);
}

export interface RetrySchedule {
  /** Retries granted so far. */
  readonly retries: number;
  /**
   * After a retryable failure: the delay to wait before the next attempt, or undefined to give up
   * (waiting would end after maxElapsedMs since the first attempt).
   */
  next(hintMs?: number): number | undefined;
}

export interface RetryEnv {
  random?: () => number;
  now?: () => number;
}

/** One schedule per batch; the clock starts at creation (the first attempt). */
export function createRetrySchedule(config: RetryConfig, env: RetryEnv = {}): RetrySchedule {
  const random = env.random ?? Math.random;
  const now = env.now ?? Date.now;
  const start = now();
  let retries = 0;
  return {
    get retries() {
      return retries;
    },
    next(hintMs) {
      const delay = retryDelay(retries, config, hintMs, random);
      if (now() - start + delay > config.maxElapsedMs) return undefined;
      retries++;
      return delay;
    },
  };
}
