// Issue 18, finding 1: redaction must fail closed while redaction.yaml is being rewritten. A real gateway
// under a steady load of the PII corpus (../shared/fixtures/pii) while its redaction.yaml is rewritten
// in place byte by byte (a reload forced at many prefixes, line ends included: the prefixes that
// parse), truncated, emptied, replaced by an empty file, deleted, and its policies directory renamed
// away. Every broken state is refused (counted by reason) and not one secret reaches the backend.
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultPoliciesDir } from '../../src/paths.js';
import { countItems, decodeForComparison } from '../../src/process/reference/reference.js';
import { otlpJsonToProtobuf } from '../../src/process/wire/otlp-json.js';
import { piiFixtures } from '../helpers/fixtures.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';

const CLIENTS = 2;
/** Pause between a client's requests: a steady load, not a saturating one (that is bench/'s job). */
const PACE_MS = 40;

/** The sum of a metric's samples (all label sets) on a /metrics page. */
function total(page: string, name: string): number {
  return page
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

t.test('redaction.yaml rewritten byte by byte, truncated, emptied, deleted, its directory moved away: zero leaks', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'stella-failclosed-'));
  const dir = join(parent, 'policies');
  cpSync(defaultPoliciesDir, dir, { recursive: true });
  const file = join(dir, 'redaction.yaml');
  const good = readFileSync(file);
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink, 'otlp-grpc')], (c) => {
    c.policiesDir = dir;
    c.process.workers = 2;
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
    rmSync(parent, { recursive: true, force: true });
  });
  const metricsUrl = `${baseUrl(gw, 'admin')}/metrics`;
  const page = async (): Promise<string> => (await fetch(metricsUrl)).text();
  const version0 = (await page()).split('\n').find((l) => l.startsWith('policy_version_info{'));

  // Steady load: the corpus's traces (120 spans, secrets in every string-bearing place).
  const converted = otlpJsonToProtobuf('traces', readFileSync(join(piiFixtures, 'traces.json')));
  if (!converted.ok) throw new Error(converted.message);
  const body = converted.bytes;
  const url = `${baseUrl(gw, 'http')}/v1/traces`;
  let acked = 0;
  const refused: string[] = [];
  let running = true;
  const client = async (): Promise<void> => {
    while (running) {
      const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
      await res.arrayBuffer();
      if (res.status === 200) acked++;
      else refused.push(`HTTP ${res.status}`);
      await new Promise((r) => setTimeout(r, PACE_MS));
    }
  };
  const clients = Array.from({ length: CLIENTS }, client);

  // A reload forced now (SIGHUP, as an operator would), awaited by its outcome: the compile counter
  // (every reload compiles in a worker thread) moves past its value before the signal.
  const reloadNow = async (): Promise<void> => {
    const before = total(await page(), 'policy_compile_seconds_count');
    process.kill(process.pid, 'SIGHUP');
    const deadline = Date.now() + 60_000;
    while (total(await page(), 'policy_compile_seconds_count') <= before) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the forced reload');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const restore = (): void => {
    writeFileSync(`${file}.tmp`, good);
    renameSync(`${file}.tmp`, file);
  };
  const untilAcked = async (n: number): Promise<void> => {
    const target = acked + n;
    const deadline = Date.now() + 60_000;
    while (acked < target) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} more acknowledged requests`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await untilAcked(3);
  const started = Date.now();

  // 1. Rewritten in place, byte by byte (open with truncation, then one write per byte). Reloads are
  //    forced at the empty file, at prefixes that end a line (those parse as YAML) and mid-line.
  const lineEnds = [...good.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1);
  const cuts = new Set([0, ...[0.3, 0.7].map((f) => lineEnds[Math.floor(lineEnds.length * f)]!), Math.floor(good.length / 3), good.length - 3]);
  const fd = openSync(file, 'w');
  try {
    for (let i = 0; i <= good.length; i++) {
      if (cuts.has(i)) {
        await reloadNow();
        await untilAcked(1);
      }
      if (i < good.length) writeSync(fd, good, i, 1);
    }
  } finally {
    closeSync(fd);
  }
  // 2. Truncated at a line end (the rules below it gone, the rest valid YAML).
  truncateSync(file, lineEnds[Math.floor(lineEnds.length / 2)]!);
  await reloadNow();
  await untilAcked(1);
  restore();
  // 3. Emptied in place; 4. an empty file moved into place; 5. deleted.
  writeFileSync(file, '');
  await reloadNow();
  await untilAcked(1);
  writeFileSync(join(dir, 'empty.tmp'), '');
  renameSync(join(dir, 'empty.tmp'), file);
  await reloadNow();
  await untilAcked(1);
  rmSync(file);
  await reloadNow();
  await untilAcked(1);
  restore();
  // 6. The whole directory renamed away.
  renameSync(dir, join(parent, 'away'));
  await reloadNow();
  await untilAcked(1);
  renameSync(join(parent, 'away'), dir);
  await reloadNow();
  await untilAcked(3);
  running = false;
  await Promise.all(clients);

  t.comment(`${Date.now() - started} ms of edits, ${acked} requests acknowledged`);
  const after = await page();
  t.same(refused, [], 'every request acknowledged while the file was broken');
  t.equal(after.split('\n').find((l) => l.startsWith('policy_version_info{')), version0, 'the good version was active throughout (and is again now)');
  const rejected = (reason: string) => total(after.split('\n').filter((l) => l.includes(`reason="${reason}"`) && l.includes('file="redaction.yaml"')).join('\n'), 'policy_file_rejections_total');
  for (const reason of ['empty', 'incomplete', 'missing']) t.ok(rejected(reason) >= 1, `refusals counted with reason ${reason} (${rejected(reason)})`);
  t.ok(total(after, 'policy_file_rejections_total') >= cuts.size + 4, 'every broken state was refused');

  const expected = acked * 120;
  // Counted once per received request (the predicate runs on every poll).
  const counted = new WeakMap<object, number>();
  const itemsOf = (r: { body: Uint8Array }): number => {
    let n = counted.get(r);
    if (n === undefined) counted.set(r, (n = countItems('traces', decodeForComparison('traces', r.body) as Record<string, unknown>)));
    return n;
  };
  const spans = () => sink.received('traces').reduce((n, r) => n + itemsOf(r), 0);
  await sink.waitFor(() => spans() >= expected, 60_000);
  const parts: Buffer[] = [];
  for (const r of sink.received()) parts.push(r.body, Buffer.from(JSON.stringify(decodeForComparison(r.signal, r.body))));
  const emitted = Buffer.concat(parts);
  const secrets = readFileSync(join(piiFixtures, 'secrets.txt'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(l.indexOf('\t') + 1));
  t.ok(acked >= cuts.size + 10, `requests under load throughout (${acked} acknowledged, ${expected} spans)`);
  t.same(secrets.filter((s) => emitted.includes(s)), [], 'no secret reached the backend');
});
