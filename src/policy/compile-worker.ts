// Runs in a worker thread (compile-in-worker.ts): reads, validates and compiles a policies directory and
// posts the result (plain data) back. Validating thousands of custom patterns (safe-regex.ts) and
// parsing a large file take seconds; here they do not stall the gateway's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { loadPolicy, type LoadOptions } from './load.js';

const { dir, profile, opts } = workerData as { dir: string; profile: string; opts: LoadOptions };
parentPort!.postMessage(loadPolicy(dir, profile, opts));
