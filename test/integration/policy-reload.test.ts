// Policy hot reload under continuous load, through a running gateway: a good edit of redaction.yaml
// takes effect (compiled in a worker thread) without a restart and without losing a request; every request is
// processed under exactly one version (both its spans redacted alike); a bad edit and a pattern with
// catastrophic backtracking are rejected (policy_reload_failures_total) while the last good version
// keeps serving.
import { copyFileSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultPoliciesDir } from '../../src/paths.js';
import { decodeForComparison } from '../../src/process/reference/reference.js';
import { requestType } from '../../src/process/wire/otlp-schema.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';

const ORDER = 'ORD-12345678';
const CLIENTS = 4;

function request(seq: number): Uint8Array {
  const type = requestType('traces');
  const span = (i: number) => ({
    traceId: Buffer.alloc(16, 1 + (seq % 200)),
    spanId: Buffer.alloc(8, 1 + i),
    name: `op ${i}`,
    attributes: [
      { key: 'seq', value: { intValue: seq } },
      { key: 'note', value: { stringValue: `order ${ORDER} for jane@example.com` } },
    ],
  });
  const msg = type.fromObject({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [span(0), span(1)] }] }] });
  return type.encode(msg).finish();
}

function move(dir: string, name: string, content: string): void {
  // Operators are told to move files into place: a rename is atomic, a rewrite in place is not.
  const tmp = join(dir, `.${name}.tmp`);
  writeFileSync(tmp, content);
  renameSync(tmp, join(dir, name));
}

const metric = (page: string, name: string): string[] => page.split('\n').filter((l) => l.startsWith(name));

t.test('hot reload under load: good edit applied, bad and catastrophic edits rejected, nothing lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-policies-'));
  copyFileSync(join(defaultPoliciesDir, 'redaction.yaml'), join(dir, 'redaction.yaml'));
  copyFileSync(join(defaultPoliciesDir, 'allowlists.yaml'), join(dir, 'allowlists.yaml'));
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink, 'otlp-grpc')], (c) => {
    c.policiesDir = dir;
    c.process.workers = 2;
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  const url = `${baseUrl(gw, 'http')}/v1/traces`;
  const admin = `${baseUrl(gw, 'admin')}/metrics`;
  const page = async (): Promise<string> => (await fetch(admin)).text();
  const version0 = metric(await page(), 'policy_version_info{');
  t.equal(version0.length, 1, 'one active version');

  const sentAt = new Map<number, number>();
  const ackedAt = new Map<number, number>();
  const failures: string[] = [];
  let seq = 0;
  let running = true;
  const client = async (): Promise<void> => {
    while (running) {
      const n = seq++;
      sentAt.set(n, Date.now());
      const res = await fetch(url, { method: 'POST', body: request(n), headers: { 'content-type': 'application/x-protobuf' } });
      await res.arrayBuffer();
      if (res.status !== 200) failures.push(`#${n}: HTTP ${res.status}`);
      ackedAt.set(n, Date.now());
    }
  };
  const clients = Array.from({ length: CLIENTS }, client);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Phases wait for counts, not for fixed times: on a busy shared machine a fixed window may see only a
  // handful of requests, and "under load" must mean requests in flight through every edit.
  const until = async (what: string, condition: () => boolean | Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };
  const ackedSentAfter = (from: number) => [...ackedAt.keys()].filter((n) => sentAt.get(n)! > from).length;
  const reloadFailures = async () => Number(metric(await page(), 'policy_reload_failures_total')[0]?.split(' ')[1]);

  await until('10 requests acknowledged before the edit', () => ackedAt.size >= 10);
  const editAt = Date.now();
  const withOrders = (await import('node:fs')).readFileSync(join(dir, 'redaction.yaml'), 'utf8').replace('custom: {}', `custom:\n  order-ref: { regex: "ORD-[0-9]{8}", action: hash }`);
  move(dir, 'redaction.yaml', withOrders);
  // The reload compiles in a worker thread while requests keep flowing; wait for the swap (an event),
  // then for requests sent after it.
  await until('the good edit to become active', async () => metric(await page(), 'policy_version_info{')[0] !== version0[0]);
  const activeAt = Date.now();
  await until('10 requests sent after the swap and acknowledged', () => ackedSentAfter(activeAt) >= 10);

  // A bad edit: rejected, the good version keeps serving.
  const failuresBefore = await reloadFailures();
  const version1 = metric(await page(), 'policy_version_info{');
  move(dir, 'redaction.yaml', withOrders.replace('email: mask', 'email: erase'));
  await until('the bad edit to be rejected', async () => (await reloadFailures()) >= failuresBefore + 1);
  // A catastrophic pattern: rejected at load (it could hang a worker on "aaaa…!").
  move(dir, 'redaction.yaml', withOrders.replace('custom:\n', 'custom:\n  evil: { regex: "(a+)+$", action: mask }\n'));
  await until('the catastrophic pattern to be rejected', async () => (await reloadFailures()) >= failuresBefore + 2);
  const badEditsAt = Date.now();
  await until('5 more requests after the bad edits', () => ackedSentAfter(badEditsAt) >= 5);
  running = false;
  await Promise.all(clients);

  const after = await page();
  t.equal(Number(metric(after, 'policy_reload_failures_total')[0]?.split(' ')[1]), failuresBefore + 2, 'both bad edits counted as reload failures');
  t.same(metric(after, 'policy_version_info{'), version1, 'the good version stays active');
  t.not(version1[0], version0[0], 'the good edit changed the version');
  t.same(failures, [], 'every request acknowledged');

  const total = seq;
  await sink.waitFor((rs) => rs.reduce((n, r) => n + (decodeForComparison('traces', r.body) as { resourceSpans?: unknown[] }).resourceSpans!.length, 0) >= total, 30_000);
  // seq → how many of its spans still carry the order number, per exported copy.
  const seen = new Map<number, number[]>();
  let emails = 0;
  for (const r of sink.received('traces')) {
    const req = decodeForComparison('traces', r.body) as { resourceSpans: { scopeSpans: { spans: { attributes: { key: string; value: { intValue?: string; stringValue?: string } }[] }[] }[] }[] };
    for (const rs of req.resourceSpans) {
      const spans = rs.scopeSpans.flatMap((s) => s.spans);
      const n = Number(spans[0]!.attributes.find((a) => a.key === 'seq')!.value.intValue);
      const clear = spans.filter((s) => s.attributes.some((a) => a.value.stringValue?.includes(ORDER))).length;
      seen.set(n, [...(seen.get(n) ?? []), clear]);
      if (JSON.stringify(spans).includes('jane@example.com')) emails++;
    }
  }
  t.equal(emails, 0, 'the email is masked under every version');
  t.equal(seen.size, total, 'every acknowledged request exported');
  t.ok([...seen.values()].every((v) => v.length === 1), 'none exported twice');
  t.ok([...seen.values()].every(([c]) => c === 0 || c === 2), 'each request under exactly one version (both spans alike)');
  const late = [...sentAt].filter(([, at]) => at > activeAt);
  t.same(late.filter(([n]) => seen.get(n)?.[0] !== 0).map(([n]) => n), [], 'the edit is in effect for everything sent after the swap');
  t.ok([...sentAt].some(([n, at]) => at < editAt && seen.get(n)?.[0] === 2), 'the old version served before the edit');
  t.same([...sentAt].filter(([n, at]) => at > activeAt && at < badEditsAt && seen.get(n)?.[0] !== 0).map(([n]) => n), [], 'the good version kept serving through the bad edits');
});
