// Loads and compiles a policies directory in a fresh worker thread, so that a reload never blocks the
// event loop (issue 18, finding 4: 20,000 custom patterns took 5.2 s on the main thread). One worker
// per reload: reloads are rare, and a worker that ends frees everything the compilation allocated.
// The wait is bounded (`timeoutMs`) and so is the worker's heap: a worker that dies, runs out of memory
// or times out is a rejected reload, and the last good version stays active.
import { Worker } from 'node:worker_threads';
import type { PolicyCompile, LoadOptions } from './load.js';

export interface CompileInWorkerOptions {
  /** Give up (and terminate the worker) after this long; 60 s by default. */
  timeoutMs?: number;
  /** The worker's old-generation heap limit; 512 MiB by default. */
  maxHeapMb?: number;
}

export interface CompileJob {
  result: Promise<PolicyCompile>;
  /** Terminates the worker (shut-down); the result becomes a rejection. */
  cancel(): void;
}

export function compileInWorker(dir: string, profile: string, opts: LoadOptions, options: CompileInWorkerOptions = {}): CompileJob {
  const worker = new Worker(new URL('./compile-worker.js', import.meta.url), {
    workerData: { dir, profile, opts },
    resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb ?? 512 },
    stdout: false,
    stderr: false,
  });
  let cancel: () => void = () => {};
  const result = new Promise<PolicyCompile>((resolve) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      resolve({ ok: false, errors: [`${dir}: policy compilation ${why}; the last good version stays active`], rejected: [] });
      void worker.terminate();
    };
    const timer = setTimeout(() => fail(`took longer than ${options.timeoutMs ?? 60_000} ms`), options.timeoutMs ?? 60_000);
    timer.unref();
    cancel = () => fail('cancelled (shut-down)');
    worker.once('message', (r: PolicyCompile) => {
      clearTimeout(timer);
      resolve(r);
      void worker.terminate();
    });
    worker.once('error', (err) => fail(`failed in its worker: ${err.message}`));
    worker.once('exit', (code) => fail(`worker exited (code ${code}) without a result`));
  });
  return { result, cancel: () => cancel() };
}
