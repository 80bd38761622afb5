// One exporter = batcher ─▶ bounded queue ─▶ `concurrency` senders with retry ─▶ transport.
// The queue bound counts every byte the exporter holds (batching, queued and in flight), so
// `hasRoomFor` is an honest answer and a full exporter refuses with a retryable OVERLOADED instead
// of growing (DESIGN.md, decision 6). Every item that leaves other than by a backend's ack is
// counted in exporter_dropped_items_total{reason}.
//
// With `queue.persistent` (./queue/persistent-queue.ts) every offered item is also appended to the
// exporter's on-disk log and the offer's `durable` promise says when the client may be acknowledged.
// The memory queue then holds what is being batched and sent; when it is full, items stay on disk only
// and are read back in order (no refusal until the disk budget is spent). An item's log record is marked
// done once the backend acknowledged it or it was dropped (counted); items still queued at shutdown
// stay on disk for the next start, which replays them before new data.
import { join } from 'node:path';
import type { ExporterConfig } from '../config/types.js';
import { ConfigError, DEFAULT_RETRY_AFTER_MS, rejected, retryable, type Outcome } from '../errors.js';
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
import { exporterDestination, guardTransport } from '../egress/egress.js';
import { createPersistentQueue, type PersistentQueue } from './queue/persistent-queue.js';
import type { Exporter, ExportItem, OfferOutcome } from './types.js';

export interface ExporterDeps {
  metrics: GatewayMetrics;
  logger: Logger;
  /** Use this transport instead of the one `config.kind` names (tests, custom backends). */
  transport?: Transport;
  transportOptions?: TransportOptions;
  /** Jitter source for retry delays (tests). */
  random?: () => number;
  /** `<data-dir>/queue`: where exporters with `queue.persistent` keep their logs (one folder each). */
  queueDir?: string;
}

/** The folder of an exporter's persistent queue (names like `tempo@team-a` are kept readable, other characters escaped). */
export function queueFolder(queueDir: string, exporter: string): string {
  return join(queueDir, exporter.replace(/[^A-Za-z0-9._@-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

const OK: Outcome = { status: 'ok' };

export type DropReason = 'permanent' | 'retries_exhausted' | 'shutdown';

/** The transport `config.kind` names. */
export function createTransport(config: ExporterConfig, options: TransportOptions = {}): Transport {
  switch (config.kind) {
    case 'otlp-grpc':
      return guarded(config, createOtlpGrpcTransport(config, options), options);
    case 'otlp-http':
      return guarded(config, createOtlpHttpTransport(config, options), options);
    case 'file':
      return createFileTransport(config);
  }
}

/** Sealed mode: the transport asks egress.allow before each send (src/egress/egress.ts). */
function guarded(config: ExporterConfig, transport: Transport, options: TransportOptions): Transport {
  const destination = options.egress?.enforced ? exporterDestination(config) : undefined;
  return destination && options.egress ? guardTransport(transport, destination, options.egress) : transport;
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

function persistentQueueOf(config: ExporterConfig, deps: ExporterDeps, onWritten: () => void): PersistentQueue | undefined {
  if (!config.queue?.persistent) return undefined;
  if (!deps.queueDir) throw new ConfigError(`exporters: ${config.name}: queue.persistent needs a data dir`);
  const { logger, metrics } = deps;
  const exporter = config.name;
  return createPersistentQueue(
    {
      dir: queueFolder(deps.queueDir, exporter),
      sync: config.queue.sync,
      syncIntervalMs: config.queue.syncIntervalMs,
      maxDiskBytes: config.queue.maxDiskBytes,
      // The write buffer holds what arrives during one write + fsync. Each request in it still holds its
      // admission (admit.maxInflightBytes) until durable, which bounds it already; this is a safety net,
      // not the memory queue's bound (requests kept in memory are the same bytes as in the memory queue).
      maxBufferBytes: Math.max(config.queueMaxBytes, 64 * 1024 * 1024),
      // Small enough that acknowledged segments are deleted soon, large enough that rotation is rare.
      segmentBytes: Math.max(1024 * 1024, Math.min(64 * 1024 * 1024, Math.floor(config.queue.maxDiskBytes / 16))),
    },
    {
      tornTail(i) {
        metrics.exporterQueueTornBytes.inc({ exporter }, i.bytes);
        metrics.exporterQueueLostRecords.inc({ exporter }, i.records);
        logger.warn(
          { exporter, file: i.file, offset: i.offset, bytes: i.bytes, records: i.records, reason: i.reason },
          'persistent queue: torn tail cut off (a write a crash interrupted: with sync batch or always it was never acknowledged to its client)',
        );
      },
      corrupt(i) {
        metrics.exporterQueueCorruptBytes.inc({ exporter }, i.bytes);
        logger.error({ exporter, file: i.file, offset: i.offset, bytes: i.bytes, reason: i.reason }, 'persistent queue: damaged record skipped');
      },
      lost(i) {
        metrics.exporterQueueLostRecords.inc({ exporter }, i.records);
        logger.error({ exporter, file: i.file, records: i.records, firstSeq: i.firstSeq, lastSeq: i.lastSeq }, 'persistent queue: requests lost with damaged records (counted)');
      },
      written: onWritten,
      ackStateLost(reason) {
        logger.warn({ exporter, reason }, 'persistent queue: read offset unknown, replaying everything on disk (expect duplicates)');
      },
    },
  );
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

  const pq = persistentQueueOf(config, deps, () => loadBacklog());
  let loading = false;
  let ageTimer: NodeJS.Timeout | undefined;
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
  // The oldest entry held anywhere: in memory, or on disk not yet acknowledged (persistent queue).
  metrics.exporterOldestAge.set(name, () => Math.max(oldestAgeMs(), diskOldestAgeMs()));
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
    if (pq) metrics.exporterQueueDiskBytes.set({ exporter: name }, pq.stats().diskBytes);
  }
  metrics.exporterQueueCapacityBytes.set({ exporter: name, medium: 'memory' }, config.queueMaxBytes);
  if (pq) metrics.exporterQueueCapacityBytes.set({ exporter: name, medium: 'disk' }, config.queue.maxDiskBytes);

  function diskOldestAgeMs(): number {
    const oldest = pq?.stats().oldestTimeMs;
    return oldest === undefined ? 0 : Math.max(0, Date.now() - oldest);
  }

  updateGauges();

  function updateDiskGauges(): void {
    if (!pq) return;
    const s = pq.stats();
    metrics.exporterQueueDiskBytes.set({ exporter: name }, s.diskBytes);
  }

  /** The batch reached the backend or was dropped (counted): its log records are done. */
  function settled(batch: ExportBatch): void {
    if (pq && batch.seqs) pq.done(batch.seqs);
  }

  function drop(batch: ExportBatch, reason: DropReason, message?: string): void {
    heldItems -= batch.items;
    if (pq && reason === 'shutdown' && batch.seqs) {
      // Not lost: it stays in the on-disk log and is replayed at the next start.
      logger.info({ exporter: name, signal: batch.signal, tenant: batch.tenant, items: batch.items }, 'export batch kept in the persistent queue for the next start');
      return;
    }
    settled(batch);
    metrics.exporterDroppedItems.inc({ exporter: name, signal: batch.signal, reason }, batch.items);
    logger.warn(
      { exporter: name, signal: batch.signal, tenant: batch.tenant, items: batch.items, bytes: batch.body.length, reason, detail: message },
      'export batch dropped',
    );
  }

  function hasRoomFor(bytes: number, tenant = ''): boolean {
    if (state !== 'idle' && state !== 'running') return false;
    return pq ? pq.hasRoomFor(tenant, bytes) : usedBytes() + bytes <= config.queueMaxBytes;
  }

  function offerPersistent(item: ExportItem, queue: PersistentQueue): OfferOutcome {
    if (!queue.hasRoomFor(item.tenant, item.body.length)) {
      metrics.exporterRefusedItems.inc({ exporter: name, signal: item.signal }, item.items);
      return retryable('QUEUE_FULL', DEFAULT_RETRY_AFTER_MS, `the persistent export queue of ${name} is full (queue.maxDiskBytes)`);
    }
    // In memory too when nothing older waits on disk and the memory queue has room; else read back later.
    const direct = state === 'running' && !queue.hasBacklog && usedBytes() + item.body.length <= config.queueMaxBytes;
    const started = performance.now();
    const { seq, durable } = queue.append(item, Date.now(), direct);
    if (direct) batcher.add({ signal: item.signal, tenant: item.tenant, body: item.body, items: item.items, seq });
    updateGauges();
    return {
      status: 'ok',
      durable: durable.then((r) => {
        metrics.exporterQueueSyncLatency.observe({ exporter: name }, (performance.now() - started) / 1000);
        if (r.ok) return OK;
        logger.error({ exporter: name, err: r.message }, 'persistent queue write failed; the client is asked to retry');
        return retryable('QUEUE_WRITE_FAILED', DEFAULT_RETRY_AFTER_MS, `${name}: ${r.message}`);
      }),
    };
  }

  /** Reads items kept only on disk (replay after a restart, or spilled) into the memory queue, in order. */
  function loadBacklog(): void {
    if (!pq || loading || state !== 'running' || !pq.hasBacklog) return;
    const room = config.queueMaxBytes - usedBytes();
    if (room <= 0) return;
    loading = true;
    let loaded = 0;
    pq.readNext(room)
      .then((records) => {
        loaded = records.length;
        if (state !== 'running') return;
        for (const r of records) batcher.add({ signal: r.signal, tenant: r.tenant, body: r.payload, items: r.items, seq: r.seq });
      })
      .catch((err: Error) => logger.error({ exporter: name, err: err.message }, 'reading the persistent queue failed; retrying'))
      .finally(() => {
        loading = false;
        updateGauges();
        if (loaded > 0) loadBacklog();
      });
  }

  function offer(item: ExportItem): OfferOutcome {
    if (!signals.includes(item.signal)) {
      return rejected('INTERNAL', `exporter ${name} does not export ${item.signal}`);
    }
    if (state === 'stopping' || state === 'stopped') {
      metrics.exporterRefusedItems.inc({ exporter: name, signal: item.signal }, item.items);
      return retryable('SHUTTING_DOWN');
    }
    if (!pq && usedBytes() + item.body.length > config.queueMaxBytes) {
      metrics.exporterRefusedItems.inc({ exporter: name, signal: item.signal }, item.items);
      return retryable('OVERLOADED', DEFAULT_RETRY_AFTER_MS, `the export queue of ${name} is full`);
    }
    if (pq) return offerPersistent(item, pq);
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
        loadBacklog();
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
          settled(batch);
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
    if (pq) {
      const r = await pq.open();
      metrics.exporterQueueReplayedRecords.inc({ exporter: name }, r.pendingRecords);
      metrics.exporterQueuePossibleDuplicates.inc({ exporter: name }, r.maybeSentRecords);
      if (r.pendingRecords > 0) {
        logger.warn(
          { exporter: name, records: r.pendingRecords, bytes: r.pendingBytes, maybeSentBefore: r.maybeSentRecords, segments: r.segments },
          'persistent queue: replaying requests the backend had not acknowledged before the restart (before new data; those already sent may arrive twice)',
        );
      } else logger.info({ exporter: name, segments: r.segments }, 'persistent queue opened: nothing to replay');
      updateDiskGauges();
      ageTimer = setInterval(updateDiskGauges, 1000);
      ageTimer.unref();
    }
    state = 'running';
    loadBacklog();
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
    if (pq) {
      clearInterval(ageTimer);
      await pq.close().catch((err: Error) => logger.error({ exporter: name, err: err.message }, 'closing the persistent queue failed'));
      const left = pq.stats();
      if (left.records > 0) logger.info({ exporter: name, records: left.records, bytes: left.diskBytes }, 'persistent queue: requests kept on disk for the next start');
      updateDiskGauges();
    }
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
