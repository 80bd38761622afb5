// Issue 18, finding 4: a policy reload compiles off the event loop. A real gateway gets a redaction.yaml
// with thousands of custom patterns (within the limits) and a reload; between the reload's start and the
// swap to the new version, /healthz answers and export requests are acknowledged. With a compile on the
// main thread nothing could be answered in between: the reload ran from start to swap in one go.
// (The stall itself is measured by bench/policy-reload-stall.ts, not asserted here.)
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import t from 'tap';
import { defaultPoliciesDir } from '../../src/paths.js';
import { createPolicyCompiler } from '../../src/policy/compile-in-worker.js';
import { requestType } from '../../src/process/wire/otlp-schema.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';

const PATTERNS = 3000;

/** The shipped redaction.yaml with `n` custom patterns (each passes the safe-regex checks). */
export function withPatterns(n: number): string {
  const custom = Array.from({ length: n }, (_, i) => `  p${i}: { regex: "ORD${i}-[0-9]{8}", action: mask }\n`).join('');
  return readFileSync(join(defaultPoliciesDir, 'redaction.yaml'), 'utf8').replace('custom: {}\n', `custom:\n${custom}`);
}

function request(): Uint8Array {
  const type = requestType('traces');
  const span = { traceId: Buffer.alloc(16, 7), spanId: Buffer.alloc(8, 1), name: 'op', attributes: [{ key: 'note', value: { stringValue: 'order ORD1-12345678' } }] };
  return type.encode(type.fromObject({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [span] }] }] })).finish();
}

t.test('the gateway answers /healthz and acknowledges requests while a large policy compiles', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-bigpolicy-'));
  const policies = join(dir, 'policies');
  cpSync(defaultPoliciesDir, policies, { recursive: true });
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink, 'otlp-grpc')], (c) => {
    c.policiesDir = policies;
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const admin = baseUrl(gw, 'admin');
  const url = `${baseUrl(gw, 'http')}/v1/traces`;
  const activeVersion = async (): Promise<string | undefined> =>
    (await (await fetch(`${admin}/metrics`)).text()).split('\n').find((l) => l.startsWith('policy_version_info{'));
  const version0 = await activeVersion();
  t.ok(version0, 'a version is active');

  writeFileSync(join(policies, '.redaction.tmp'), withPatterns(PATTERNS));
  renameSync(join(policies, '.redaction.tmp'), join(policies, 'redaction.yaml'));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // The SIGHUP handler runs synchronously inside emit: when it returns, the reload has started (in a
  // worker thread now; before, it had already compiled and swapped on this thread).
  process.emit('SIGHUP', 'SIGHUP');
  let healthz = 0;
  let acked = 0;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const [h, r] = await Promise.all([fetch(`${admin}/healthz`), fetch(url, { method: 'POST', body: request(), headers: { 'content-type': 'application/x-protobuf' } })]);
    await Promise.all([h.arrayBuffer(), r.arrayBuffer()]);
    // Counted only if the old version is still active after both answered.
    if ((await activeVersion()) !== version0) break;
    if (h.status === 200) healthz++;
    if (r.status === 200) acked++;
    if (Date.now() > deadline) throw new Error('the large policy never became active');
  }
  delay.disable();
  t.ok(healthz >= 1, `/healthz answered ${healthz} times while the policy compiled`);
  t.ok(acked >= 1, `${acked} export requests acknowledged while the policy compiled`);
  t.comment(`event-loop delay during the reload: max ${(delay.max / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`);
  const page = await (await fetch(`${admin}/metrics`)).text();
  t.match(page, /policy_compile_seconds_count\{outcome="ok"\} 1\n/, 'compiled once, in the worker');
});

t.test('a worker that takes too long is terminated and the reload rejected; the next one gets a fresh worker', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-bigpolicy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'redaction.yaml'), withPatterns(PATTERNS));
  const slow = createPolicyCompiler({ timeoutMs: 1 });
  const r = await slow.compile(dir, 'default', {});
  t.equal(r.ok, false);
  t.match(!r.ok && r.errors[0], /policy compilation took longer than 1 ms; the last good version stays active/);
  slow.close();
  const compiler = createPolicyCompiler();
  t.teardown(() => compiler.close());
  const ok = await compiler.compile(dir, 'default', {});
  t.equal(ok.ok && ok.policy.defaults.redaction.custom.length, PATTERNS, 'a fresh worker compiles it');
});
