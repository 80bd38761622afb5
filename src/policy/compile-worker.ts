// Runs in a worker thread (compile-in-worker.ts): reads, validates and compiles a policies directory per
// message and posts the result (plain data) back. Validating thousands of custom patterns
// (safe-regex.ts) and parsing a large file take seconds; here they do not stall the gateway's event loop.
import { parentPort } from 'node:worker_threads';
import { loadPolicy, type LoadOptions } from './load.js';

parentPort!.on('message', ({ id, dir, profile, opts }: { id: number; dir: string; profile: string; opts: LoadOptions }) => {
  const r = loadPolicy(dir, profile, opts);
  // Only what the store uses: the parsed files would double what the main thread deserialises.
  parentPort!.postMessage({ id, result: r.ok ? { ok: true, policy: r.policy, present: r.present, defaulted: r.defaulted } : r });
});
