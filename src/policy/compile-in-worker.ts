// Loads and compiles a policies directory in a worker thread, so that a reload never blocks the event
// loop (issue 18, finding 4: 20,000 custom patterns took 5.2 s on the main thread). One worker per
// gateway, started at the first reload and kept (unref'd: it never holds the process open), so a
// reload does not pay for a thread and its module graph each time. The wait is bounded (`timeoutMs`)
// and so is the worker's heap: a worker that dies, runs out of memory or times out is terminated (the
// next reload starts a fresh one) and the reload is rejected; the last good version stays active.
import { Worker } from 'node:worker_threads';
import type { CompiledPolicy } from './compile.js';
import type { PolicyCompile, LoadOptions } from './load.js';

/** A compile's result as the worker sends it: the compiled policy, without the parsed files. */
export type WorkerCompile = Extract<PolicyCompile, { ok: false }> | { ok: true; policy: CompiledPolicy; present: string[]; defaulted: string[] };

export interface CompileInWorkerOptions {
  /** Give up (and terminate the worker) after this long; 60 s by default. */
  timeoutMs?: number;
  /** The worker's old-generation heap limit; 512 MiB by default. */
  maxHeapMb?: number;
}

export interface PolicyCompiler {
  /** Never rejects: a failed worker is a `{ ok: false }` result with no file to blame. */
  compile(dir: string, profile: string, opts: LoadOptions): Promise<WorkerCompile>;
  /** Terminates the worker; a compilation in progress becomes a rejection. */
  close(): void;
}

export function createPolicyCompiler(options: CompileInWorkerOptions = {}): PolicyCompiler {
  const timeoutMs = options.timeoutMs ?? 60_000;
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: WorkerCompile) => void; timer: NodeJS.Timeout; dir: string }>();

  const failAll = (why: string): void => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(id);
      p.resolve({ ok: false, errors: [`${p.dir}: policy compilation ${why}; the last good version stays active`], rejected: [] });
    }
  };
  const dispose = (why: string): void => {
    const w = worker;
    worker = undefined;
    failAll(why);
    void w?.terminate();
  };
  const start = (): Worker => {
    const w = new Worker(new URL('./compile-worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb ?? 512 } });
    w.unref();
    w.on('message', ({ id, result }: { id: number; result: WorkerCompile }) => {
      const p = pending.get(id);
      if (!p) return;
      clearTimeout(p.timer);
      pending.delete(id);
      p.resolve(result);
    });
    w.on('error', (err) => {
      if (worker === w) dispose(`failed in its worker: ${err.message}`);
    });
    w.on('exit', (code) => {
      if (worker === w) dispose(`worker exited (code ${code}) without a result`);
    });
    return w;
  };

  return {
    compile(dir, profile, opts) {
      worker ??= start();
      const id = nextId++;
      const w = worker;
      return new Promise<WorkerCompile>((resolve) => {
        const timer = setTimeout(() => {
          if (worker === w) dispose(`took longer than ${timeoutMs} ms`);
        }, timeoutMs);
        timer.unref();
        pending.set(id, { resolve, timer, dir });
        w.postMessage({ id, dir, profile, opts });
      });
    },
    close() {
      dispose('cancelled (shut-down)');
    },
  };
}
