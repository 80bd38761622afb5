// The processing stage, pool side: a piscina worker pool running ./worker/worker.js. A request's bytes
// are transferred to a worker and the output transferred back (never copied across threads, except a
// view that shares its buffer with other data, which is copied once first). Pool-level refusals are
// Outcomes, not throws: a full queue is OVERLOADED, a slow task PROCESSING_TIMEOUT, a closed pool
// SHUTTING_DOWN (all retryable); a worker that crashes fails only its task (INTERNAL) and is replaced.
//
// Overload levels off instead of collapsing (docs/guides/overload.md): the queue is the pool's own (piscina
// only ever holds as many tasks as there are workers), so a task is looked at once more when a worker
// frees up. Work nobody waits for is dropped before it reaches a worker: a client that has gone (its
// AbortSignal), a deadline that has passed, a wait longer than maxQueueWait. A newcomer whose expected
// wait (tasks ahead × the recent task time) exceeds maxExpectedWait (shorter: the queue stays short
// under overload, while queued tasks ride out a stall up to maxQueueWait) or what is left of its
// deadline is refused at once with OVERLOADED, while the retry is still useful to the client.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ProcessConfig } from '../config/types.js';
import { DEFAULT_RETRY_AFTER_MS, rejected, retryable, type Refusal } from '../errors.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { ProcessOk, ProcessResult, ProcessTask, WorkerResult } from './protocol.js';
import { transferableView } from './wire/transfer.js';
import { SIGNALS, type Signal } from '../signals.js';
import type { SignalHistogramChild } from '../telemetry/signal-histogram.js';

export interface ProcessPoolStats {
  /** Worker threads alive. */
  workers: number;
  /** Tasks accepted by run() and not yet settled (running or queued). */
  inflight: number;
  /** Tasks waiting for a worker. */
  queued: number;
  /** Tasks completed by workers since start. */
  completed: number;
  /** piscina's utilisation: share of worker capacity spent running tasks since start (0..1). */
  utilization: number;
}

export interface ProcessPool {
  /**
   * Runs one task in a worker. task.body is transferred: afterwards it is detached (length 0) unless it
   * had to be copied (a view into a larger buffer). Never rejects.
   * With task.policy (the active CompiledPolicy; task.policyVersion defaults to its version) the request
   * is processed under exactly that version: workers receive the policy only when they lack it.
   */
  run(task: ProcessTask, client?: ClientWait): Promise<ProcessResult | Refusal>;
  /**
   * The refusal a task arriving now would get for the pool's load alone (queue full, expected wait over
   * maxExpectedWait or past `deadlineAt`), without submitting one: receivers ask before they read a body,
   * adding `aheadMs`, how long they expect the body to take to arrive, and `bodiesAhead`, the bodies
   * they are receiving (each a task ahead of this one).
   */
  pressure(deadlineAt?: number, aheadMs?: number, bodiesAhead?: number): Refusal | undefined;
  /** Refuses new tasks (SHUTTING_DOWN), lets accepted ones finish, then stops the workers. */
  close(): Promise<void>;
  stats(): ProcessPoolStats;
}

/** What the pool knows of the client waiting for a task (receive/types.ts RequestContext). */
export interface ClientWait {
  /** Epoch ms after which the client no longer waits for the answer. */
  deadlineAt?: number;
  /** Aborted when the client has gone before it got its answer. */
  signal?: AbortSignal;
}

export type DropReason = 'client_gone' | 'deadline' | 'queue_wait';

export interface ProcessPoolDeps {
  metrics: GatewayMetrics;
  /** The tenant's metric label (capped by tenancy.maxTenantLabels); the tenant itself by default. */
  tenantLabel?: (tenant: string) => string;
  /** The worker module; tests substitute their own. Default: the compiled worker.js next to this file. */
  workerFile?: string | URL;
}

/** Where the compiled worker entry lives: dist/src/process/worker/worker.js beside dist/src/process/pool.js. */
export const defaultWorkerFile = new URL('./worker/worker.js', import.meta.url);

// setTimeout's ceiling: workers are kept for the life of the pool (min = max threads), never reaped.
const KEEP_WORKERS_MS = 2 ** 31 - 1;

export function createProcessPool(config: ProcessConfig, deps: ProcessPoolDeps): ProcessPool {
  const { metrics } = deps;
  const tenantLabel = deps.tenantLabel ?? ((tenant: string) => tenant);
  // Per-signal series, looked up once (src/telemetry/signal-histogram.ts: an observe is a few array writes).
  const timing = Object.fromEntries(
    SIGNALS.map((signal) => [signal, { processing: metrics.workerProcessingSeconds.labels({ signal }), evaluation: metrics.policyEvaluationSeconds.labels({ signal }) }]),
  ) as Record<Signal, { processing: SignalHistogramChild; evaluation: SignalHistogramChild }>;
  const workers = config.workers > 0 ? config.workers : Math.max(1, availableParallelism());
  const maxQueueWaitMs = config.maxQueueWaitMs;
  const maxExpectedWaitMs = Math.min(config.maxExpectedWaitMs, maxQueueWaitMs);
  const file = deps.workerFile ?? defaultWorkerFile;
  const piscina = new Piscina({
    filename: typeof file === 'string' ? file : fileURLToPath(file),
    minThreads: workers,
    maxThreads: workers,
    idleTimeout: KEEP_WORKERS_MS,
    // The queue below is the bound: piscina is handed a task only when a worker is free (its queue
    // holds tasks only while workers start). Its limit is a backstop.
    maxQueue: config.maxQueue + workers + 1,
    concurrentTasksPerWorker: 1,
  });
  // piscina emits 'error' for a worker failure that no task is waiting on; unhandled, it would take
  // the process down. The task-bound failures reach run() below.
  piscina.on('error', () => {});

  interface Waiting {
    task: ProcessTask;
    client: ClientWait | undefined;
    enqueuedAt: number;
    resolve: (r: ProcessResult | Refusal) => void;
    timer: NodeJS.Timeout | undefined;
    onAbort: (() => void) | undefined;
  }

  /** Tasks holding a worker. */
  let running = 0;
  /** Tasks waiting for a worker, oldest first (a Set: a task whose client leaves is removed in O(1)). */
  const queue = new Set<Waiting>();
  /** Recent time a task holds a worker (moving average, ms); 0 until a task has run. */
  let serviceMs = 0;
  let closing: Promise<void> | undefined;
  const settled = new Set<Promise<unknown>>();

  metrics.poolStats = () => ({ queued: queue.size, utilization: piscina.utilization });

  function count(task: ProcessTask, outcome: string): void {
    metrics.poolTasks.inc({ signal: task.signal, outcome });
  }

  function drop(task: ProcessTask, reason: DropReason, stage: 'arrival' | 'queue', refusal: Refusal): Refusal {
    metrics.poolDropped.inc({ signal: task.signal, reason, stage });
    count(task, refusal.code);
    return refusal;
  }

  /** Why the client no longer waits, or undefined while it does. */
  function gone(client: ClientWait | undefined, now: number): 'client_gone' | 'deadline' | undefined {
    if (client === undefined) return undefined;
    // A gRPC deadline also ends the call (grpc-js answers DEADLINE_EXCEEDED and the call is cancelled):
    // counted as the deadline it is.
    if (client.deadlineAt !== undefined && now >= client.deadlineAt) return 'deadline';
    if (client.signal?.aborted) return 'client_gone';
    return undefined;
  }

  function goneRefusal(reason: 'client_gone' | 'deadline'): Refusal {
    return reason === 'deadline' ? retryable('DEADLINE_EXCEEDED', DEFAULT_RETRY_AFTER_MS) : retryable('CLIENT_GONE', DEFAULT_RETRY_AFTER_MS);
  }

  function queueWaitRefusal(expectedMs: number, what: string): Refusal {
    return retryable('OVERLOADED', Math.max(DEFAULT_RETRY_AFTER_MS, Math.ceil(expectedMs)), `the worker pool is saturated: ${what}`);
  }

  function send(task: ProcessTask, body: Uint8Array<ArrayBuffer>, signal: AbortSignal, policy?: CompiledPolicy): Promise<WorkerResult> {
    const message: ProcessTask = { signal: task.signal, encoding: task.encoding, body, tenant: task.tenant };
    if (task.tenantAttribute !== undefined) message.tenantAttribute = task.tenantAttribute;
    const version = task.policyVersion ?? task.policy?.version;
    if (version !== undefined) message.policyVersion = version;
    if (policy) message.policy = policy;
    if (task.splitTraces !== undefined) message.splitTraces = task.splitTraces;
    if (task.omitTraceSummaries) message.omitTraceSummaries = true;
    return piscina.run(message, { transferList: [body.buffer], signal }) as Promise<WorkerResult>;
  }

  function countPolicy(task: ProcessTask, result: ProcessOk): void {
    const tenant = tenantLabel(task.tenant);
    for (const [category, n] of Object.entries(result.redactions ?? {})) {
      metrics.policyRedactions.inc({ signal: task.signal, tenant, category }, n);
    }
    for (const [reason, n] of Object.entries(result.dropped ?? {})) {
      metrics.policyDropped.inc({ signal: task.signal, tenant, reason }, n);
    }
  }

  async function runInWorker(task: ProcessTask): Promise<ProcessResult | Refusal> {
    // The limit counts the time in a worker only: the queue has its own (maxQueueWait). Aborting a
    // running task terminates its worker (piscina), so only this runaway bound does it; a task whose
    // client leaves while it runs finishes, and the gateway discards its output.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timeout')), config.taskTimeoutMs);
    const started = performance.now();
    // A task that carried a policy to its worker paid a one-off cost (the clone and compile, on a new
    // worker its start-up too): it says nothing about how long the next tasks will take.
    let warmUp = false;
    try {
      // The policy itself is cloned into a worker only when that worker asks for its version; the
      // worker hands the (transferred) body back with the question, so the resend costs no copy.
      let result = await send(task, transferableView(task.body), controller.signal);
      if (result.status === 'need-policy') {
        if (!task.policy || task.policy.version !== result.policyVersion) {
          count(task, 'INTERNAL');
          return rejected('INTERNAL', `no compiled policy ${result.policyVersion} to send to the worker`);
        }
        warmUp = true;
        result = await send(task, transferableView(result.body), controller.signal, task.policy);
        if (result.status === 'need-policy') {
          count(task, 'INTERNAL');
          return rejected('INTERNAL', 'the worker did not take the policy it asked for');
        }
      }
      count(task, result.status === 'ok' ? 'ok' : result.code);
      if (result.status === 'ok') {
        countPolicy(task, result);
        if (result.processSeconds !== undefined) timing[task.signal].processing.observe(result.processSeconds);
        if (result.policySeconds !== undefined) timing[task.signal].evaluation.observe(result.policySeconds);
      }
      return result;
    } catch (e) {
      const refusal = refusalFor(e, controller.signal.aborted, config.taskTimeoutMs);
      count(task, refusal.code);
      return refusal;
    } finally {
      clearTimeout(timer);
      if (!warmUp) {
        const ms = performance.now() - started;
        serviceMs = serviceMs === 0 ? ms : serviceMs + 0.2 * (ms - serviceMs);
      }
    }
  }

  function dispatch(task: ProcessTask, resolve: (r: ProcessResult | Refusal) => void): void {
    running++;
    // runInWorker never rejects. The worker is free again before the caller hears the result, so a
    // caller that submits its next task at once finds it free.
    void runInWorker(task).then((result) => {
      running--;
      pump();
      resolve(result);
    });
  }

  function leaveQueue(w: Waiting): void {
    queue.delete(w);
    if (w.timer) clearTimeout(w.timer);
    if (w.onAbort) w.client?.signal?.removeEventListener('abort', w.onAbort);
  }

  /** Hands queued tasks to free workers, oldest first, dropping those nobody waits for any more. */
  function pump(): void {
    while (running < workers && queue.size > 0) {
      const w = queue.values().next().value!;
      leaveQueue(w);
      const now = Date.now();
      const reason = gone(w.client, now);
      if (reason) {
        w.resolve(drop(w.task, reason, 'queue', goneRefusal(reason)));
      } else if (now - w.enqueuedAt > maxQueueWaitMs) {
        w.resolve(drop(w.task, 'queue_wait', 'queue', queueWaitRefusal(maxQueueWaitMs, `waited longer than ${maxQueueWaitMs} ms for a worker`)));
      } else {
        dispatch(w.task, w.resolve);
      }
    }
  }

  function enqueue(task: ProcessTask, client: ClientWait | undefined, now: number): Promise<ProcessResult | Refusal> {
    return new Promise((resolve) => {
      const w: Waiting = { task, client, enqueuedAt: now, resolve, timer: undefined, onAbort: undefined };
      queue.add(w);
      // Dropped where it waits, not when it reaches the head: the client's bytes are released and its
      // answer sent as soon as nobody waits for the work.
      const until = Math.min(now + maxQueueWaitMs, client?.deadlineAt ?? Infinity);
      if (Number.isFinite(until)) {
        w.timer = setTimeout(() => {
          leaveQueue(w);
          const reason = gone(w.client, Date.now()) ?? 'queue_wait';
          const refusal = reason === 'queue_wait' ? queueWaitRefusal(maxQueueWaitMs, `waited longer than ${maxQueueWaitMs} ms for a worker`) : goneRefusal(reason);
          resolve(drop(task, reason, 'queue', refusal));
        }, Math.max(0, until - now));
      }
      const signal = client?.signal;
      if (signal) {
        w.onAbort = () => {
          leaveQueue(w);
          const reason = gone(client, Date.now()) ?? 'client_gone';
          resolve(drop(task, reason, 'queue', goneRefusal(reason)));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
    });
  }

  /**
   * Why a task arriving now (its body still `aheadMs` away) would be refused for the load alone, if it
   * would: the queue full, or its expected wait for a worker over maxQueueWait or past its deadline.
   */
  function load(deadlineAt: number | undefined, now: number, aheadMs = 0, bodiesAhead = 0): { refusal: Refusal; reason?: 'queue_wait' | 'deadline' } | undefined {
    const idle = running < workers && queue.size === 0;
    if (idle && aheadMs === 0 && bodiesAhead === 0 && deadlineAt === undefined) return undefined;
    if (!idle && queue.size >= config.maxQueue) {
      return { refusal: retryable('OVERLOADED', DEFAULT_RETRY_AFTER_MS, `the worker pool queue is full (${config.maxQueue} waiting)`) };
    }
    // Expected wait: the tasks ahead (running, queued, and bodies being received that will be tasks
    // first) share the workers, each holding one for about serviceMs.
    const ahead = running + queue.size + bodiesAhead;
    const expectedMs = aheadMs + (Math.max(0, ahead + 1 - workers) / workers) * serviceMs;
    if (expectedMs > maxExpectedWaitMs) {
      return { reason: 'queue_wait', refusal: queueWaitRefusal(expectedMs, `expected wait ${Math.round(expectedMs)} ms exceeds ${maxExpectedWaitMs} ms`) };
    }
    if (deadlineAt !== undefined && now + expectedMs + serviceMs > deadlineAt) {
      return { reason: 'deadline', refusal: queueWaitRefusal(expectedMs, `expected wait ${Math.round(expectedMs)} ms leaves no time before the client's deadline`) };
    }
    return undefined;
  }

  function admit(task: ProcessTask, client: ClientWait | undefined): Promise<ProcessResult | Refusal> {
    const now = Date.now();
    const reason = gone(client, now);
    if (reason) return Promise.resolve(drop(task, reason, 'arrival', goneRefusal(reason)));
    if (running < workers && queue.size === 0) {
      return new Promise((resolve) => dispatch(task, resolve));
    }
    const busy = load(client?.deadlineAt, now);
    if (busy) {
      if (busy.reason === undefined) count(task, 'OVERLOADED');
      else drop(task, busy.reason, 'arrival', busy.refusal);
      return Promise.resolve(busy.refusal);
    }
    return enqueue(task, client, now);
  }

  return {
    run(task, client) {
      if (closing) {
        count(task, 'SHUTTING_DOWN');
        return Promise.resolve(retryable('SHUTTING_DOWN'));
      }
      const p = admit(task, client);
      settled.add(p);
      void p.finally(() => settled.delete(p));
      return p;
    },

    pressure(deadlineAt, aheadMs, bodiesAhead) {
      return closing ? undefined : load(deadlineAt, Date.now(), aheadMs, bodiesAhead)?.refusal;
    },

    close() {
      closing ??= (async () => {
        await Promise.allSettled([...settled]);
        await piscina.destroy();
      })();
      return closing;
    },

    stats() {
      return {
        workers: piscina.threads.length,
        inflight: running + queue.size,
        queued: queue.size,
        completed: piscina.completed,
        utilization: piscina.utilization,
      };
    },
  };
}

function refusalFor(e: unknown, timedOut: boolean, timeoutMs: number): Refusal {
  if (timedOut) return retryable('PROCESSING_TIMEOUT', DEFAULT_RETRY_AFTER_MS, `processing took longer than ${timeoutMs} ms`);
  const message = e instanceof Error ? e.message : String(e);
  if (message === 'Task queue is at limit') return retryable('OVERLOADED');
  // A worker that threw or died: the task fails, the pool replaces the worker and keeps serving.
  return rejected('INTERNAL', 'the worker processing the request failed');
}
