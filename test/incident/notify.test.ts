// Notify against a real local HTTP server: signed events, retries with backoff when the webhook fails,
// permanent refusals, a full queue, shutdown, and the failure metrics.
import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookConfig } from '../../src/config/sections/incidents.js';
import { ConfigError } from '../../src/errors.js';
import { createNotifier, SIGNATURE_HEADER, signBody, verifySignature, type NotifyEvent } from '../../src/incident/notify.js';
import type { IncidentChange } from '../../src/incident/store.js';
import { FLEET } from '../../src/incident/types.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A webhook that answers each request with the next status of `script` (then 200), recording everything. */
async function webhook(t: Test, script: number[] = []): Promise<{ url: string; received: Received[]; next: () => Promise<Received> }> {
  const received: Received[] = [];
  let waiters: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = script.shift() ?? 200;
      res.end('{}');
      const w = waiters;
      waiters = [];
      for (const fn of w) fn();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  let seen = 0;
  const next = async (): Promise<Received> => {
    while (received.length <= seen) await new Promise<void>((resolve) => waiters.push(resolve));
    return received[seen++]!;
  };
  return { url: `http://127.0.0.1:${port}/hook?token=secret-query`, received, next };
}

const hook = (url: string, patch: Partial<WebhookConfig> = {}): WebhookConfig => ({
  url,
  secret: 's3cret',
  timeoutMs: 2000,
  retries: 3,
  initialBackoffMs: 20,
  maxBackoffMs: 100,
  ...patch,
});

const change = (type: IncidentChange['type'], scope = 'acme'): IncidentChange => ({
  type,
  incident: { scope, reason: 'checkout errors', by: 'oncall', startedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-01T00:30:00.000Z' },
});

async function counter(metrics: GatewayMetrics, name: 'incidentNotifyFailures' | 'incidentNotifyDropped' | 'incidentNotifyDelivered', labels: Record<string, string>): Promise<number> {
  const values = (await metrics[name].get()).values.filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x));
  return values.reduce((n, v) => n + v.value, 0);
}

t.test('start, end and expire are POSTed as signed JSON, in order', async (t) => {
  const wh = await webhook(t);
  const metrics = createMetrics({ defaultMetrics: false });
  const notifier = createNotifier({ maxQueue: 10, webhooks: [hook(wh.url)] }, { logger: silentLogger, metrics });
  t.teardown(() => notifier.stop(0));
  notifier.notify(change('start'));
  notifier.notify(change('end'));
  notifier.notify(change('expire', FLEET));
  const got = [await wh.next(), await wh.next(), await wh.next()];
  const events = got.map((r) => JSON.parse(r.body) as NotifyEvent);
  t.same(events.map((e) => e.type), ['incident.start', 'incident.end', 'incident.expire']);
  t.same(events[0]!.incident, change('start').incident);
  t.equal(events[0]!.fleet, false);
  t.equal(events[2]!.fleet, true);
  t.match(events[0]!.id, /^[0-9a-f-]{36}$/);
  t.not(events[0]!.id, events[1]!.id);
  for (const r of got) {
    t.equal(r.headers['content-type'], 'application/json');
    const sig = r.headers[SIGNATURE_HEADER.toLowerCase()] as string;
    t.match(sig, /^sha256=[0-9a-f]{64}$/);
    t.ok(verifySignature('s3cret', r.body, sig), 'valid signature over the raw body');
    t.notOk(verifySignature('other', r.body, sig), 'not valid with another secret');
    t.notOk(verifySignature('s3cret', r.body + ' ', sig), 'not valid for another body');
    t.equal(r.headers['x-stella-event'], JSON.parse(r.body).type);
    t.equal(r.headers['x-stella-delivery'], JSON.parse(r.body).id);
  }
  // The signature is plain HMAC-SHA256 hex, as a receiver recomputes it with any HMAC library.
  // RFC 4231 test case 2.
  t.equal(signBody('Jefe', 'what do ya want for nothing?'), 'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  await t.resolveMatch(counter(metrics, 'incidentNotifyDelivered', { event: 'incident.start' }), 1);
  const label = (await metrics.incidentNotifyDelivered.get()).values[0]!.labels.webhook;
  t.equal(label, `127.0.0.1:${new URL(wh.url).port}/hook`, 'the metric label has no query string');
});

t.test('a failing webhook is retried with backoff until it answers 2xx', async (t) => {
  const wh = await webhook(t, [503, 500]);
  const metrics = createMetrics({ defaultMetrics: false });
  const notifier = createNotifier({ maxQueue: 10, webhooks: [hook(wh.url)] }, { logger: silentLogger, metrics, random: () => 0 });
  t.teardown(() => notifier.stop(0));
  const started = Date.now();
  notifier.notify(change('start'));
  const a = await wh.next();
  const b = await wh.next();
  const c = await wh.next();
  const elapsed = Date.now() - started;
  t.equal(a.body, b.body, 'the same event is retried');
  t.equal(b.body, c.body);
  t.equal(a.headers['x-stella-delivery'], c.headers['x-stella-delivery']);
  // Backoff with random() = 0: 10 ms after the first failure, 20 ms after the second.
  t.ok(elapsed >= 30, `waited between attempts (${elapsed} ms)`);
  while ((await counter(metrics, 'incidentNotifyDelivered', {})) === 0) await new Promise((r) => setTimeout(r, 10)); // the third answer handled
  t.equal(await counter(metrics, 'incidentNotifyFailures', { reason: 'http_503' }), 1);
  t.equal(await counter(metrics, 'incidentNotifyFailures', { reason: 'http_500' }), 1);
  t.equal(await counter(metrics, 'incidentNotifyDelivered', {}), 1);
  t.equal(await counter(metrics, 'incidentNotifyDropped', {}), 0);
  t.equal(notifier.pending(), 0);
});

t.test('retries are bounded; 4xx is permanent; an unreachable webhook counts network failures', async (t) => {
  const exhausted = await webhook(t, [503, 503, 503]);
  const refusing = await webhook(t, [400]);
  const metrics = createMetrics({ defaultMetrics: false });
  const notifier = createNotifier(
    {
      maxQueue: 10,
      webhooks: [hook(exhausted.url, { retries: 2 }), hook(refusing.url), hook('http://127.0.0.1:9/unreachable', { retries: 1 })],
    },
    { logger: silentLogger, metrics, random: () => 0 },
  );
  t.teardown(() => notifier.stop(0));
  notifier.notify(change('start'));
  await exhausted.next();
  await exhausted.next();
  await exhausted.next();
  await refusing.next();
  for (let i = 0; i < 100 && (await counter(metrics, 'incidentNotifyDropped', {})) < 3; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(exhausted.received.length, 3, 'first attempt + 2 retries');
  t.equal(refusing.received.length, 1, '400 is not retried');
  t.equal(await counter(metrics, 'incidentNotifyDropped', { reason: 'retries_exhausted' }), 2, 'the 503 webhook and the unreachable one');
  t.equal(await counter(metrics, 'incidentNotifyDropped', { reason: 'rejected' }), 1);
  t.equal(await counter(metrics, 'incidentNotifyFailures', { reason: 'http_400' }), 1);
  t.equal(await counter(metrics, 'incidentNotifyFailures', { reason: 'network' }), 2);
});

t.test('bounded queue; stop() gives up on what is left; notify() never blocks', async (t) => {
  const wh = await webhook(t, [503, 503, 503, 503, 503]);
  const metrics = createMetrics({ defaultMetrics: false });
  const notifier = createNotifier({ maxQueue: 2, webhooks: [hook(wh.url, { initialBackoffMs: 60_000, maxBackoffMs: 60_000 })] }, { logger: silentLogger, metrics });
  const before = Date.now();
  notifier.notify(change('start'));
  notifier.notify(change('end'));
  notifier.notify(change('start', 'globex'));
  t.ok(Date.now() - before < 50, 'notify() returns at once');
  t.equal(notifier.pending(), 2);
  t.equal(await counter(metrics, 'incidentNotifyDropped', { reason: 'queue_full' }), 1);
  await wh.next(); // first attempt fails; the next one is a minute away
  const stopping = Date.now();
  await notifier.stop(50);
  t.ok(Date.now() - stopping < 2000, 'stop() keeps its deadline instead of waiting out the backoff');
  t.equal(await counter(metrics, 'incidentNotifyDropped', { reason: 'shutdown' }), 2);
  t.equal(notifier.pending(), 0);
  t.equal((await metrics.incidentNotifyQueueSize.get()).values[0]?.value, 0);
  notifier.notify(change('expire'));
  t.equal(await counter(metrics, 'incidentNotifyDropped', { reason: 'shutdown' }), 3, 'after stop: dropped and counted');
});

t.test('secretEnv is read at start; a missing variable fails fast', async (t) => {
  const wh = await webhook(t);
  t.throws(() => createNotifier({ maxQueue: 1, webhooks: [hook(wh.url, { secret: undefined, secretEnv: 'NOPE_SECRET' })] }, { logger: silentLogger, env: {} }), ConfigError);
  const notifier = createNotifier({ maxQueue: 1, webhooks: [hook(wh.url, { secret: undefined, secretEnv: 'HOOK_SECRET' })] }, { logger: silentLogger, env: { HOOK_SECRET: 'from-env' } });
  t.teardown(() => notifier.stop(0));
  notifier.notify(change('start'));
  const r = await wh.next();
  t.ok(verifySignature('from-env', r.body, r.headers['x-stella-signature'] as string));
});
