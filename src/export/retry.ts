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
 * never shorter than the hint, but never longer than maxBackoffMs either. A backend that says
 * "Retry-After: 400" is honoured up to the configured ceiling and then asked again: waiting longer
 * than maxBackoffMs would hold the queue for nothing, and giving up because the hint exceeds the
 * budget would turn a retryable answer into a drop (issue 19).
 */
export function retryDelay(
  retryIndex: number,
  config: RetryConfig,
  hintMs: number | undefined,
  random: () => number = Math.random,
): number {
  const computed = backoffDelay(retryIndex, config, random);
  if (hintMs === undefined || !Number.isFinite(hintMs) || hintMs < 0) return computed;
  return Math.max(computed, Math.min(Math.ceil(hintMs), config.maxBackoffMs));
}

export interface RetryStep {
  /** How long to wait before the next attempt. */
  delayMs: number;
  /**
   * False once the next attempt would start after maxElapsedMs since the first one. What happens
   * then is the exporter's call (retry.whenExhausted): keep retrying at the capped backoff, or drop.
   */
  withinBudget: boolean;
}

export interface RetrySchedule {
  /** Retries granted so far. */
  readonly retries: number;
  /** After a retryable failure: the wait before the next attempt and whether it is within the budget. */
  next(hintMs?: number): RetryStep;
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
      const delayMs = retryDelay(retries, config, hintMs, random);
      retries++;
      return { delayMs, withinBudget: now() - start + delayMs <= config.maxElapsedMs };
    },
  };
}
