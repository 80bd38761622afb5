// V8 flags and environment the gateway process runs with. The flags can only be given on node's command
// line (not in NODE_OPTIONS, and v8.setFlagsFromString is too late for heap sizing), and the
// environment must be set before the process starts (glibc reads it when malloc first runs, before
// any JavaScript; mallopt is not reachable from JS), so every documented way of starting the gateway
// passes both: the `stella` bin's shebang (`#!/usr/bin/env -S NAME=VALUE node FLAGS`), `npm start`
// (`NAME=VALUE node FLAGS …`), docker/Dockerfile (ENV and the entrypoint) and the bench harness.
// test/cli/node-flags.test.ts checks that they agree. One flag is set at run time instead (below).
import v8 from 'node:v8';

// --initial-old-space-size: each request's bytes are large ArrayBuffers whose churn makes V8 run a full
// mark-compact every ~100 ms with the default (tiny) initial old generation; a 128 MiB start cuts those
// GCs about fourfold under load (measured with --trace-gc in the bench), for some resident memory.
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

// MALLOC_ARENA_MAX=1: request bodies are large malloc'd buffers allocated by one thread (the main
// thread's receivers, a worker's output) and freed by another, a second or more later when the tail
// sampler lets go of them. glibc gives each thread its own arena (up to 8 per core) and keeps freed
// pages resident in the arena that owns them, so with the worker threads every arena holds its own
// share of free holes. Measured with the sampling memory bench (`node dist/bench/sampling.js memory`,
// 15 s of churn at 0.7–1.1 M early decisions; /proc/<pid>/smaps): the malloc'd memory fell from
// ~250–260 MiB with the default arenas (or MALLOC_ARENA_MAX=2) to ~240–250 MiB with one arena, and the
// churn peak by 10–15 MiB against 2 arenas, with no difference in CPU per span (the worker pool in
// process, alternating: 3.4–3.8 µs/span either way). Few threads allocate (one body per request per
// worker), so one arena's lock is not contended at this scale; on a machine with many workers an
// operator may raise it (the Dockerfile's ENV can be overridden with `docker run -e`).
// The fixed MALLOC_MMAP_THRESHOLD_=131072 (bodies mmapped, freed straight to the kernel) cut the peak
// further but costs ~150 more page faults per 1,000 spans in every mode (bench `cpu`), so it is not set.
export const GATEWAY_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

/** GATEWAY_ENV as `NAME=VALUE` words, in a stable order (for the shebang and `npm start`). */
export function gatewayEnvWords(): string[] {
  return Object.entries(GATEWAY_ENV).map(([k, v]) => `${k}=${v}`);
}

// --scavenger-max-new-space-capacity-mb=8, set at run time on V8 >= 12 (Node >= 22). V8 13 (Node 24)
// raised its default from 8 to 32 (doubled without pointer compression, as in Node), and V8 forces a
// young-generation GC for ArrayBuffer allocation only once twice that capacity, 128 MiB, of young
// ArrayBuffers exists. The gateway's request bodies and worker outputs are ~290 KB ArrayBuffers that
// die young, so on Node 24 each isolate (main thread and every worker) held up to that much dead: the
// bench's pass-through peaked at 355–365 MiB against 258–284 on Node 20 and 22 (a bare churn of 292 KB
// buffers: 167–208 MiB against 81–97, and 94–102 with this flag). Node 22's value restores their
// behaviour. It cannot go on node's command line, whose Node 20 would refuse to start ("bad option");
// V8 reads it whenever it sizes a new isolate's young generation and each time it decides whether
// ArrayBuffer allocation forces a young GC, so setting it before the workers start is enough.
const RUNTIME_V8_FLAGS: readonly string[] = ['--scavenger-max-new-space-capacity-mb=8'];

/**
 * Sets RUNTIME_V8_FLAGS where this V8 knows them (before the worker pool starts): V8 12 and 13 (Node 22
 * and 24). V8 14 (Node 26) no longer has the flag (v8.setFlagsFromString would print "unrecognized
 * flag"); its young generation was not measured for this yet.
 */
export function applyRuntimeV8Flags(): void {
  const major = Number(process.versions.v8.split('.')[0]);
  if (major < 12 || major > 13) return;
  for (const flag of RUNTIME_V8_FLAGS) v8.setFlagsFromString(flag);
}
