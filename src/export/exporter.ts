// One exporter = batcher ─▶ bounded queue ─▶ `concurrency` senders with retry ─▶ transport.
// The queue bound counts every byte the exporter holds (batching, queued and in flight), so
// `hasRoomFor` is an honest answer and a full exporter refuses with a retryable OVERLOADED instead
// of growing (DESIGN.md, decision 6). Every item that leaves other than by a backend's ack is
// counted in exporter_dropped_items_total{reason}.
import type { ExporterConfig } from '../config/types.js';
import { DEFAULT_RETRY_AFTER_MS, rejected, retryable, type Outcome } from '../errors.js';
import type { Signal } from '../signals.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { createBatcher } from './batcher.js';
import { createFileTransport } from './file-exporter.js';
import { createHealthTracker } from './health.js';
import { createOtlpGrpcTransport } from './otlp-grpc-transport.js';
import { createOtlpHttpTransport } from './otlp-http-transport.js';
import { createRetrySchedule } from './retry.js';
import type { ExportBatch, Transport, TransportOptions, TransportResult } from './transport.js';
import type { Exporter, ExportItem } from './types.js';

export interface ExporterDeps {
  metrics: GatewayMetrics;
  logger: Logger;
  /** Use this transport instead of the one `config.kind` names (tests, custom backends). */
  transport?: Transport;
  transportOptions?: TransportOptions;
  /** Jitter source for retry delays (tests). */
  random?: () => number;
}

export type DropReason = 'permanent' | 'retries_exhausted' | 'shutdown';

/** The transport `config.kind` names. */
export function createTransport(config: ExporterConfig, options: TransportOptions = {}): Transport {
  switch (config.kind) {
    case 'otlp-grpc':
      return createOtlpGrpcTransport(config, options);
    case 'otlp-http':
      return createOtlpHttpTransport(config, options);
    case 'file':
      return createFileTransport(config);
  }
}

/** Resolves after `ms`, or early (false) when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A FIFO of batches that does not shift arrays on every take. */
class BatchQueue {
  private items: ExportBatch[] = [];
  private head = 0;
  bytes = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(b: ExportBatch): void {
    this.items.push(b);
    this.bytes += b.body.length;
  }
  peek(): ExportBatch | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }
  shift(): ExportBatch | undefined {
    if (this.head >= this.items.length) return undefined;
    const b = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as ExportBatch;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.bytes -= b.body.length;
    return b;
  }
}

export function createExporter(config: ExporterConfig, deps: ExporterDeps): Exporter {
  const { metrics, logger } = deps;
  const name = config.name;
  const signals: readonly Signal[] = [...config.signals];
  const transport = deps.transport ?? createTransport(config, { logger, metrics, ...deps.transportOptions });
  const concurrency = Math.max(1, config.concurrency);
  const queue = new BatchQueue();
  const abort = new AbortController();
  let state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  let inflight = 0;
  let inflightBytes = 0;
  let drainDeadline = Infinity;
  let shutdownPromise: Promise<void> | undefined;
  const settledWaiters: Array<() => void> = [];

  // For health and the oldest-age gauge: items held, when each batch was formed, batches in retry.
  let heldItems = 0;
  let retrying = 0;
  const bornAt = new WeakMap<ExportBatch, number>();
  const sending = new Set<ExportBatch>();
  const oldestAgeMs = (): number => {
    let oldest = Infinity;
    for (const b of sending) oldest = Math.min(oldest, bornAt.get(b) ?? oldest);
    const head = queue.peek();
    if (head) oldest = Math.min(oldest, bornAt.get(head) ?? oldest);
    return oldest === Infinity ? 0 : Math.max(0, Date.now() - oldest);
  };
  const health = createHealthTracker({
    exporter: name,
    logger,
    backlog: () => ({ items: heldItems, bytes: usedBytes(), retrying, oldestAgeMs: oldestAgeMs() }),
  });
  metrics.exporterQueueCapacityBytes.set({ exporter: name }, config.queueMaxBytes);
  metrics.exporterOldestAge.set(name, oldestAgeMs);
  const whenExhausted = config.retry.whenExhausted ?? 'keep';

  const batcher = createBatcher(config.batch, (batch) => {
    bornAt.set(batch, Date.now());
    queue.push(batch);
    pump();
  });

  const usedBytes = (): number => batcher.pendingBytes + queue.bytes + inflightBytes;

  function updateGauges(): void {
    metrics.exporterQueueBytes.set({ exporter: name }, usedBytes());
    metrics.exporterQueueBatches.set({ exporter: name }, queue.length + inflight);
  }
  updateGauges();

  function drop(batch: ExportBatch, reason: DropReason, message?: string): void {
    heldItems -= batch.items;
    metrics.exporterDroppedItems.inc({ exporter: name, signal: batch.signal, reason }, batch.items);
    logger.warn(
      { exporter: name, signal: batch.signal, tenant: batch.tenant, items: batch.items, bytes: batch.body.length, reason, detail: message },
      'export batch dropped',
    );
  }

  function hasRoomFor(bytes: number): boolean {
    return (state === 'idle' || state === 'running') && usedBytes() + bytes <= config.queueMaxBytes;
  }

  function offer(item: ExportItem): Outcome {
    if (!signals.includes(item.signal)) {
      return rejected('INTERNAL', `exporter ${name} does not export ${item.signal}`);
    }
    if (state === 'stopping' || state === 'stopped') {
      metrics.exporterRefusedItems.inc({ exporter: name, signal: item.signal }, item.items);
      return retryable('SHUTTING_DOWN');
    }
    if (usedBytes() + item.body.length > config.queueMaxBytes) {
      metrics.exporterRefusedItems.inc({ exporter: name, signal: item.signal }, item.items);
      return retryable('OVERLOADED', DEFAULT_RETRY_AFTER_MS, `the export queue of ${name} is full`);
    }
    batcher.add(item);
    heldItems += item.items;
    updateGauges();
    return { status: 'ok' };
  }

  function pump(): void {
    if (state === 'idle' || state === 'stopped') return;
    while (inflight < concurrency && queue.length > 0 && !abort.signal.aborted) {
      const batch = queue.shift()!;
      inflight++;
      inflightBytes += batch.body.length;
      sending.add(batch);
      void sendWithRetry(batch).finally(() => {
        sending.delete(batch);
        inflight--;
        inflightBytes -= batch.body.length;
        updateGauges();
        pump();
        checkSettled();
      });
    }
    updateGauges();
  }

  function checkSettled(): void {
    if (inflight === 0 && queue.length === 0 && batcher.pendingBytes === 0 && batcher.pendingBatches === 0) {
      for (const w of settledWaiters.splice(0)) w();
    }
  }

  async function attempt(batch: ExportBatch): Promise<TransportResult> {
    const started = performance.now();
    let result: TransportResult;
    try {
      result = await transport.send(batch, abort.signal);
    } catch (err) {
      // The contract says transports never throw; if one does, it is retried like any retryable failure.
      result = { status: 'retryable', reason: 'exception', message: (err as Error).message };
    }
    if (result.status === 'ok' || !abort.signal.aborted) {
      metrics.exporterLatency.observe({ exporter: name, outcome: result.status }, (performance.now() - started) / 1000);
    }
    return result;
  }

  async function sendWithRetry(batch: ExportBatch): Promise<void> {
    const labels = { exporter: name, signal: batch.signal };
    const schedule = createRetrySchedule(config.retry, deps.random ? { random: deps.random } : {});
    let pastBudget = false;
    let inRetry = false;
    try {
      for (;;) {
        const result = await attempt(batch);
        if (result.status === 'ok') {
          heldItems -= batch.items;
          metrics.exporterSentItems.inc(labels, batch.items);
          metrics.exporterSentBatches.inc(labels);
          if (inRetry) {
            inRetry = false;
            retrying--;
          }
          health.success();
          return;
        }
        if (abort.signal.aborted) return drop(batch, 'shutdown', result.message);
        metrics.exportFailures.inc({ ...labels, reason: result.reason });
        health.failure(result.reason, result.message);
        if (result.status === 'permanent') return drop(batch, 'permanent', `${result.reason}: ${result.message ?? ''}`);
        if (!inRetry) {
          inRetry = true;
          retrying++;
        }
        const step = schedule.next(result.retryAfterMs);
        if (!step.withinBudget && !pastBudget) {
          // The budget is spent but the answer is still "retry later". Dropping would lose acknowledged
          // data while the queue has room; by default the batch stays and is retried (the queue's
          // bound is the limit: a full queue refuses new data with a retryable status).
          if (whenExhausted === 'drop') {
            return drop(batch, 'retries_exhausted', `${result.reason}: ${result.message ?? ''} (after ${schedule.retries - 1} retries)`);
          }
          pastBudget = true;
          metrics.exporterRetriesPastBudget.inc(labels);
          logger.warn(
            { exporter: name, signal: batch.signal, tenant: batch.tenant, items: batch.items, reason: result.reason, retries: schedule.retries - 1, maxElapsedMs: config.retry.maxElapsedMs },
            'export batch still failing after its retry budget; kept in the queue and retried every retry.maxBackoff',
          );
        }
        const delay = step.delayMs;
        // Draining: a retry that cannot happen before the deadline will not be sent; say so now.
        if (state === 'stopping' && Date.now() + delay > drainDeadline) return drop(batch, 'shutdown', result.message);
        logger.debug({ exporter: name, signal: batch.signal, reason: result.reason, delayMs: delay }, 'export retry');
        metrics.exporterRetries.inc(labels);
        if (!(await sleep(delay, abort.signal))) return drop(batch, 'shutdown', result.message);
      }
    } finally {
      if (inRetry) retrying--;
    }
  }

  async function start(): Promise<void> {
    if (state !== 'idle') return;
    state = 'running';
    pump();
  }

  async function doShutdown(deadlineMs: number): Promise<void> {
    state = 'stopping';
    drainDeadline = Date.now() + Math.max(0, deadlineMs);
    batcher.flushAll();
    batcher.close();
    pump();
    const settled = new Promise<void>((resolve) => settledWaiters.push(resolve));
    checkSettled();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs))))]);
    clearTimeout(timer);
    // Deadline (or drained): cancel in-flight requests and waits, drop whatever is still queued.
    abort.abort();
    for (let b = queue.shift(); b; b = queue.shift()) drop(b, 'shutdown', 'shutdown deadline');
    updateGauges();
    // Transports honour the abort signal, so in-flight sends settle promptly.
    const afterAbort = new Promise<void>((resolve) => settledWaiters.push(resolve));
    checkSettled();
    await afterAbort;
    await transport.close().catch((err: Error) => logger.warn({ exporter: name, err: err.message }, 'closing export transport failed'));
    state = 'stopped';
    updateGauges();
    logger.info({ exporter: name }, 'exporter stopped');
  }

  return {
    name,
    signals,
    health: () => health.snapshot(),
    hasRoomFor,
    offer,
    start,
    shutdown(deadlineMs: number) {
      shutdownPromise ??= doShutdown(deadlineMs);
      return shutdownPromise;
    },
  };
}
