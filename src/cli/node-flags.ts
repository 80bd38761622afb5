// V8 flags the gateway process runs with. They can only be given on node's command line (not in
// NODE_OPTIONS, and v8.setFlagsFromString is too late for heap sizing), so every documented way of
// starting the gateway passes them: the `stella` bin's shebang, `npm start`, docker/Dockerfile and the
// bench harness. test/cli/node-flags.test.ts checks that they agree.
//
// --initial-old-space-size: each request's bytes are large ArrayBuffers whose churn makes V8 run a full
// mark-compact every ~100 ms with the default (tiny) initial old generation; a 128 MiB start cuts those
// GCs about fourfold under load (measured with --trace-gc in the bench), for some resident memory.
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];
