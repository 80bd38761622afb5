// Notify: when incident mode starts, ends or expires, POST a JSON event to each configured webhook.
//
// - Signed: `X-Stella-Signature: sha256=<hex>` is HMAC-SHA256 over the raw body with the webhook's
//   secret (the scheme GitHub webhooks use: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries),
//   so a receiver can check the event came from this gateway; the body carries a unique `id` and the
//   `time`, so it can also refuse replays.
// - Never blocking: notify() only enqueues. Each webhook has its own bounded FIFO (events are delivered
//   in order, one at a time, so a receiver sees start before end); a full queue drops the new event.
// - Retried: network errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and
//   jitter up to `retries` times; other answers (4xx, 3xx) are permanent. Every failed attempt and
//   every event given up is counted.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import type { WebhookConfig } from '../config/sections/incidents.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { urlDestination, type EgressGuard } from '../egress/egress.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { IncidentChange } from './store.js';
import { FLEET, type Incident } from './types.js';

export const SIGNATURE_HEADER = 'X-Stella-Signature';
export const EVENT_HEADER = 'X-Stella-Event';
export const DELIVERY_HEADER = 'X-Stella-Delivery';

export interface NotifyConfig {
  /** Events waiting per webhook. */
  maxQueue: number;
  webhooks: WebhookConfig[];
}

export interface NotifyDeps {
  logger: Logger;
  metrics?: GatewayMetrics;
  /** Where secretEnv is looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Backoff timers (default: real time). */
  clock?: Clock;
  /** 0..1 for the jitter (default Math.random). */
  random?: () => number;
  /** Sealed mode (src/egress): a webhook off egress.allow is refused before any connection. */
  egress?: EgressGuard;
}

/** What a capture on incident end produced (src/incident/capture-on-end.ts), per tenant. */
export interface CaptureNotice {
  tenant: string;
  from: string;
  to: string;
  /** capture.completed: the bundle and the hex SHA-256 of its manifest.json (what `stella telemetry verify` checks). */
  path?: string;
  manifestSha256?: string;
  bytes?: number;
  /** capture.failed: why. */
  error?: string;
}

/** The JSON body of a notification. */
export interface NotifyEvent {
  type: 'incident.start' | 'incident.end' | 'incident.expire' | 'capture.completed' | 'capture.failed';
  /** Unique per event (the same for every webhook and every retry): receivers can de-duplicate on it. */
  id: string;
  /** When the change happened (ISO 8601). */
  time: string;
  /** true when the incident covers the whole fleet (scope "_all"). */
  fleet: boolean;
  incident: Incident;
  /** capture.* events only. */
  capture?: CaptureNotice;
  /** The gateway that sent it. */
  source: { hostname: string };
}

export interface Notifier {
  /** Queues the change for every webhook; returns at once. */
  notify(change: IncidentChange): void;
  /** Queues a capture.completed or capture.failed event about `incident`'s capture; returns at once. */
  announceCapture(type: 'capture.completed' | 'capture.failed', incident: Incident, capture: CaptureNotice): void;
  /** Events waiting or in flight, all webhooks. */
  pending(): number;
  /** Stops taking events, waits up to deadlineMs for the queues to drain, then gives up on the rest (counted). */
  stop(deadlineMs?: number): Promise<void>;
}

/** `sha256=<hex>` of HMAC-SHA256(secret, body). */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** What a receiver does: recompute the signature over the raw body and compare in constant time. */
export function verifySignature(secret: string, body: string | Buffer, header: string | undefined | null): boolean {
  if (!header) return false;
  const expected = Buffer.from(signBody(secret, body));
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** The metric label of a webhook: host and path, never the query (it may hold a token). */
export function webhookLabel(url: string): string {
  const u = new URL(url);
  return `${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

interface Delivery {
  event: NotifyEvent;
  body: string;
  attempts: number;
}

interface Hook {
  config: WebhookConfig;
  label: string;
  secret: string;
  queue: Delivery[];
  busy: boolean;
}

type AttemptOutcome = { status: 'ok' } | { status: 'retry'; reason: string } | { status: 'permanent'; reason: string };

export function createNotifier(config: NotifyConfig, deps: NotifyDeps): Notifier {
  const { logger, metrics } = deps;
  const env = deps.env ?? process.env;
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const host = hostname();
  const hooks: Hook[] = config.webhooks.map((c, i) => {
    const secret = c.secret ?? (c.secretEnv !== undefined ? env[c.secretEnv] : undefined);
    if (!secret) {
      throw new ConfigError(`incidents.notify.webhooks[${i}].secretEnv: the environment variable ${c.secretEnv ?? '(unset)'} is not set (it holds the HMAC key)`);
    }
    return { config: c, label: webhookLabel(c.url), secret, queue: [], busy: false };
  });
  const stopController = new AbortController();
  let closed = false;
  let sleeping = new Set<{ timer: TimerHandle; wake: () => void }>();
  let idleWaiters: (() => void)[] = [];

  const pending = () => hooks.reduce((n, h) => n + h.queue.length, 0);
  const updateGauge = () => metrics?.incidentNotifyQueueSize.set(pending());

  function checkIdle(): void {
    if (hooks.every((h) => !h.busy)) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: clock.setTimer(() => {
          sleeping.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      sleeping.add(entry);
    });
  }

  async function attempt(hook: Hook, d: Delivery): Promise<AttemptOutcome> {
    if (deps.egress?.enforced) {
      const to = urlDestination(hook.config.url);
      const allowed = to ? deps.egress.check(to.host, to.port) : { ok: false as const, message: 'bad URL' };
      if (!allowed.ok) return { status: 'permanent', reason: 'egress_refused' };
    }
    const signal = AbortSignal.any([AbortSignal.timeout(hook.config.timeoutMs), stopController.signal]);
    try {
      const res = await fetch(hook.config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'stella-telemetry-gateway',
          [SIGNATURE_HEADER]: signBody(hook.secret, d.body),
          [EVENT_HEADER]: d.event.type,
          [DELIVERY_HEADER]: d.event.id,
        },
        body: d.body,
        redirect: 'manual',
        signal,
      });
      // Read the (small) answer so the connection can be reused.
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { status: 'ok' };
      const reason = `http_${res.status}`;
      if (res.status === 408 || res.status === 429 || res.status >= 500) return { status: 'retry', reason };
      return { status: 'permanent', reason };
    } catch (e) {
      const name = (e as Error).name;
      return { status: 'retry', reason: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network' };
    }
  }

  function drop(hook: Hook, reason: string, d: Delivery): void {
    metrics?.incidentNotifyDropped.inc({ webhook: hook.label, reason });
    logger.warn({ webhook: hook.label, event: d.event.type, id: d.event.id, scope: d.event.incident.scope, reason }, 'incident notification given up');
  }

  async function pump(hook: Hook): Promise<void> {
    if (hook.busy) return;
    hook.busy = true;
    try {
      while (hook.queue.length > 0 && !stopController.signal.aborted) {
        const d = hook.queue[0]!;
        d.attempts++;
        const outcome = await attempt(hook, d);
        if (stopController.signal.aborted) break;
        if (outcome.status === 'ok') {
          metrics?.incidentNotifyDelivered.inc({ webhook: hook.label, event: d.event.type });
          hook.queue.shift();
          continue;
        }
        metrics?.incidentNotifyFailures.inc({ webhook: hook.label, reason: outcome.reason });
        if (outcome.status === 'permanent' || d.attempts > hook.config.retries) {
          hook.queue.shift();
          drop(hook, outcome.status === 'permanent' ? 'rejected' : 'retries_exhausted', d);
          continue;
        }
        const base = Math.min(hook.config.maxBackoffMs, hook.config.initialBackoffMs * 2 ** (d.attempts - 1));
        // Equal jitter: at least half the backoff, so retries of many gateways spread out but still wait.
        await sleep(base / 2 + (base / 2) * random());
      }
    } finally {
      hook.busy = false;
      updateGauge();
      checkIdle();
    }
  }

  function enqueue(type: NotifyEvent['type'], incident: Incident, capture?: CaptureNotice): void {
    const event: NotifyEvent = {
      type,
      id: randomUUID(),
      time: new Date(clock.now()).toISOString(),
      fleet: incident.scope === FLEET,
      incident,
      ...(capture && { capture }),
      source: { hostname: host },
    };
    const body = JSON.stringify(event);
    for (const hook of hooks) {
      const d: Delivery = { event, body, attempts: 0 };
      if (closed) {
        drop(hook, 'shutdown', d);
        continue;
      }
      if (hook.queue.length >= config.maxQueue) {
        drop(hook, 'queue_full', d);
        continue;
      }
      hook.queue.push(d);
      void pump(hook);
    }
    updateGauge();
  }

  return {
    notify(change) {
      enqueue(`incident.${change.type}`, change.incident);
    },

    announceCapture(type, incident, capture) {
      enqueue(type, incident, capture);
    },

    pending,

    async stop(deadlineMs = 5000) {
      if (closed) return;
      closed = true;
      if (hooks.some((h) => h.busy)) {
        // A timer that keeps the process alive: the drain must get its chance even when nothing else runs.
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          idleWaiters.push(resolve);
          timer = setTimeout(resolve, deadlineMs);
        });
        clearTimeout(timer);
      }
      // Past the deadline: abort what is in flight, wake the sleepers, and count what is left.
      stopController.abort();
      for (const s of sleeping) {
        s.timer.cancel();
        s.wake();
      }
      sleeping = new Set();
      if (hooks.some((h) => h.busy)) await new Promise<void>((resolve) => idleWaiters.push(resolve));
      for (const hook of hooks) {
        for (const d of hook.queue) drop(hook, 'shutdown', d);
        hook.queue = [];
      }
      updateGauge();
    },
  };
}
