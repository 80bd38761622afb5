// The processing stage, pool side: a piscina worker pool running ./worker/worker.js. A request's bytes
// are transferred to a worker and the output transferred back (never copied across threads, except a
// view that shares its buffer with other data, which is copied once first). Pool-level refusals are
// Outcomes, not throws: a full queue is OVERLOADED, a slow task PROCESSING_TIMEOUT, a closed pool
// SHUTTING_DOWN (all retryable); a worker that crashes fails only its task (INTERNAL) and is replaced.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ProcessConfig } from '../config/types.js';
import { DEFAULT_RETRY_AFTER_MS, rejected, retryable, type Refusal } from '../errors.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { ProcessOk, ProcessResult, ProcessTask, WorkerResult } from './protocol.js';
import { transferableView } from './worker/transfer.js';

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
  run(task: ProcessTask): Promise<ProcessResult | Refusal>;
  /** Refuses new tasks (SHUTTING_DOWN), lets accepted ones finish, then stops the workers. */
  close(): Promise<void>;
  stats(): ProcessPoolStats;
}

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
  const workers = config.workers > 0 ? config.workers : Math.max(1, availableParallelism());
  const file = deps.workerFile ?? defaultWorkerFile;
  const piscina = new Piscina({
    filename: typeof file === 'string' ? file : fileURLToPath(file),
    minThreads: workers,
    maxThreads: workers,
    idleTimeout: KEEP_WORKERS_MS,
    // Our own count below is the bound (piscina does not count tasks that carry an AbortSignal against
    // maxQueue); piscina's is a backstop one task wider.
    maxQueue: config.maxQueue + 1,
    concurrentTasksPerWorker: 1,
  });
  // piscina emits 'error' for a worker failure that no task is waiting on; unhandled, it would take
  // the process down. The task-bound failures reach run() below.
  piscina.on('error', () => {});

  let inflight = 0;
  let closing: Promise<void> | undefined;
  const settled = new Set<Promise<unknown>>();

  metrics.poolStats = () => ({ queued: Math.max(0, inflight - workers), utilization: piscina.utilization });

  function count(task: ProcessTask, outcome: string): void {
    metrics.poolTasks.inc({ signal: task.signal, outcome });
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
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timeout')), config.taskTimeoutMs);
    try {
      // The policy itself is cloned into a worker only when that worker asks for its version; the
      // worker hands the (transferred) body back with the question, so the resend costs no copy.
      let result = await send(task, transferableView(task.body), controller.signal);
      if (result.status === 'need-policy') {
        if (!task.policy || task.policy.version !== result.policyVersion) {
          count(task, 'INTERNAL');
          return rejected('INTERNAL', `no compiled policy ${result.policyVersion} to send to the worker`);
        }
        result = await send(task, transferableView(result.body), controller.signal, task.policy);
        if (result.status === 'need-policy') {
          count(task, 'INTERNAL');
          return rejected('INTERNAL', 'the worker did not take the policy it asked for');
        }
      }
      count(task, result.status === 'ok' ? 'ok' : result.code);
      if (result.status === 'ok') countPolicy(task, result);
      return result;
    } catch (e) {
      const refusal = refusalFor(e, controller.signal.aborted, config.taskTimeoutMs);
      count(task, refusal.code);
      return refusal;
    } finally {
      clearTimeout(timer);
      inflight--;
    }
  }

  return {
    run(task) {
      if (closing) {
        count(task, 'SHUTTING_DOWN');
        return Promise.resolve(retryable('SHUTTING_DOWN'));
      }
      if (inflight >= workers + config.maxQueue) {
        count(task, 'OVERLOADED');
        return Promise.resolve(retryable('OVERLOADED', DEFAULT_RETRY_AFTER_MS, `the worker pool queue is full (${config.maxQueue} waiting)`));
      }
      inflight++;
      const p = runInWorker(task);
      settled.add(p);
      void p.finally(() => settled.delete(p));
      return p;
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
        inflight,
        queued: Math.max(0, inflight - workers),
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
