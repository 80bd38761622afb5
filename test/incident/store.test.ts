// The incident store: scopes, TTL expiry on a manual clock, persistence across restarts (including an
// incident that expired while the gateway was down), the audit log, the gauge, and its limits.
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIncidentStore, type AuditRecord, type IncidentChange, type IncidentStoreConfig } from '../../src/incident/store.js';
import { FLEET } from '../../src/incident/types.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { manualClock as handClock, type ManualClock } from '../helpers/manual-clock.js';

const manualClock = (): ManualClock => handClock(Date.parse('2026-01-01T00:00:00Z'));

const MIN = 60_000;

function setup(dir = mkdtempSync(join(tmpdir(), 'stella-incidents-')), patch: Partial<IncidentStoreConfig> = {}, clock: ManualClock = manualClock()) {
  const metrics = createMetrics({ defaultMetrics: false });
  const config: IncidentStoreConfig = { dir, enabled: true, defaultTtlMs: 60 * MIN, maxTtlMs: 24 * 60 * MIN, maxIncidents: 10, ...patch };
  const store = createIncidentStore(config, { logger: silentLogger, metrics, clock });
  const events: IncidentChange[] = [];
  store.onChange((e) => events.push(e));
  store.start();
  return { dir, store, events, clock, metrics };
}

async function gauge(metrics: GatewayMetrics, tenant: string): Promise<number | undefined> {
  return (await metrics.incidentMode.get()).values.find((v) => v.labels.tenant === tenant)?.value;
}

function auditLines(file: string): AuditRecord[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
}

t.test('a tenant incident covers that tenant only; the fleet covers everyone', async (t) => {
  const { store, events, metrics, clock } = setup();
  t.notOk(store.isActive('acme'));
  t.same(store.list(), []);

  const on = store.on('acme', { reason: 'checkout errors', ttlMs: 30 * MIN, by: 'oncall' });
  t.ok(on.ok);
  if (!on.ok) return;
  t.same(on.incident, {
    scope: 'acme',
    reason: 'checkout errors',
    by: 'oncall',
    startedAt: new Date(clock.now()).toISOString(),
    expiresAt: new Date(clock.now() + 30 * MIN).toISOString(),
  });
  t.equal(on.updated, false);
  t.ok(store.isActive('acme'));
  t.notOk(store.isActive('globex'), 'another tenant is not in incident mode');
  t.equal(await gauge(metrics, 'acme'), 1);
  t.equal(await gauge(metrics, FLEET), 0);
  t.same(events.map((e) => [e.type, e.incident.scope]), [['start', 'acme']]);

  t.ok(store.on(FLEET, { reason: 'region outage', by: 'sre' }).ok);
  t.ok(store.isActive('globex'), 'the fleet covers every tenant');
  t.equal(await gauge(metrics, FLEET), 1);
  t.equal(store.get(FLEET)?.expiresAt, new Date(clock.now() + 60 * MIN).toISOString(), 'default TTL');
  t.same(store.list().map((i) => i.scope).sort(), [FLEET, 'acme']);

  const off = store.off(FLEET, 'sre', 'resolved');
  t.ok(off.ok);
  t.notOk(store.isActive('globex'));
  t.ok(store.isActive('acme'), 'the tenant incident stays');
  t.equal(await gauge(metrics, FLEET), 0);
  t.same(events.map((e) => [e.type, e.incident.scope]), [['start', 'acme'], ['start', FLEET], ['end', FLEET]]);

  const again = store.off(FLEET, 'sre');
  t.notOk(again.ok);
  if (!again.ok) t.equal(again.error.code, 'NOT_FOUND');
});

t.test('TTL: the incident reverts on time (manual clock)', async (t) => {
  const { store, events, metrics, clock } = setup();
  store.on('acme', { reason: 'latency', ttlMs: 30 * MIN, by: 'oncall' });
  clock.advance(30 * MIN - 1);
  t.ok(store.isActive('acme'), 'still on 1 ms before the TTL');
  t.equal(clock.pending(), 1, 'one expiry timer');
  clock.advance(1);
  t.notOk(store.isActive('acme'), 'off at the TTL, by the timer (no read of list() needed)');
  t.same(events.map((e) => e.type), ['start', 'expire']);
  t.equal(await gauge(metrics, 'acme'), 0);
  t.equal(clock.pending(), 0, 'no timer left');
  const audit = auditLines(store.auditFile);
  t.same(audit.map((a) => [a.action, a.by, a.reason]), [['start', 'oncall', 'latency'], ['expire', 'ttl', 'ttl expired']]);
  t.equal(audit[1]!.time, new Date(clock.now()).toISOString(), 'when');
  t.same(JSON.parse(readFileSync(store.stateFile, 'utf8')).incidents, [], 'state on disk follows');
});

t.test('on() for an active scope replaces reason and TTL, keeps startedAt, emits nothing', async (t) => {
  const { store, events, clock } = setup();
  const first = store.on('acme', { reason: 'a', ttlMs: 10 * MIN, by: 'x' });
  clock.advance(5 * MIN);
  const second = store.on('acme', { reason: 'b', ttlMs: 20 * MIN, by: 'y' });
  t.ok(first.ok && second.ok);
  if (!first.ok || !second.ok) return;
  t.equal(second.updated, true);
  t.equal(second.incident.startedAt, first.incident.startedAt);
  t.equal(second.incident.expiresAt, new Date(clock.now() + 20 * MIN).toISOString());
  t.equal(events.length, 1, 'only the first start');
  clock.advance(10 * MIN);
  t.ok(store.isActive('acme'), 'the old expiry no longer applies');
  clock.advance(10 * MIN);
  t.notOk(store.isActive('acme'));
  t.same(auditLines(store.auditFile).map((a) => a.action), ['start', 'update', 'expire']);
});

t.test('a restart keeps an active incident and its expiry', async (t) => {
  const clock = manualClock();
  const a = setup(undefined, {}, clock);
  a.store.on('acme', { reason: 'restart me', ttlMs: 30 * MIN, by: 'oncall' });
  a.store.on('globex', { reason: 'short', ttlMs: 5 * MIN, by: 'oncall' });
  const expiresAt = a.store.get('acme')!.expiresAt;
  a.store.stop();
  t.equal(clock.pending(), 0, 'stop() cancels the timer');
  t.same(readdirSync(a.dir).sort(), ['audit.log', 'state.json'], 'no temp file left behind');

  clock.advance(10 * MIN); // the gateway was down for 10 minutes: globex ran out meanwhile
  const b = setup(a.dir, {}, clock);
  t.ok(b.store.isActive('acme'), 'restored');
  t.equal(b.store.get('acme')?.expiresAt, expiresAt, 'with its expiry');
  t.equal(b.store.get('acme')?.reason, 'restart me');
  t.equal(await gauge(b.metrics, 'acme'), 1, 'gauge restored');
  t.notOk(b.store.isActive('globex'), 'expired while down');
  t.same(b.events.map((e) => [e.type, e.incident.scope]), [['expire', 'globex']], 'reported as an expiry at start');
  t.equal(await gauge(b.metrics, 'globex'), 0);
  const last = auditLines(b.store.auditFile).at(-1)!;
  t.same([last.action, last.scope, last.reason], ['expire', 'globex', 'ttl expired while the gateway was down']);
  t.same(JSON.parse(readFileSync(b.store.stateFile, 'utf8')).incidents.map((i: { scope: string }) => i.scope), ['acme']);

  clock.advance(20 * MIN);
  t.notOk(b.store.isActive('acme'), 'and it still expires on time after the restart');
  t.same(b.events.map((e) => e.type), ['expire', 'expire']);
});

t.test('every change is an audit line: who, when, what, why', async (t) => {
  const { store, clock } = setup();
  store.on('acme', { reason: 'errors up', ttlMs: 10 * MIN, by: 'alice' });
  clock.advance(MIN);
  store.off('acme', 'bob', 'fixed');
  store.on(FLEET, { reason: 'dr drill', by: 'carol' });
  store.off(FLEET, 'carol');
  const lines = auditLines(store.auditFile);
  t.same(
    lines.map((l) => [l.action, l.scope, l.by, l.reason]),
    [
      ['start', 'acme', 'alice', 'errors up'],
      ['end', 'acme', 'bob', 'fixed'],
      ['start', FLEET, 'carol', 'dr drill'],
      ['end', FLEET, 'carol', null],
    ],
  );
  t.equal(lines[1]!.time, new Date(clock.now()).toISOString());
  t.equal(lines[1]!.incident.reason, 'errors up', 'the incident that ended is recorded');
  // Append-only: a new store over the same dir adds lines, it never rewrites the log.
  const before = readFileSync(store.auditFile, 'utf8');
  const again = setup(join(store.auditFile, '..'));
  again.store.on('acme', { reason: 'x', by: 'dave' });
  t.ok(readFileSync(store.auditFile, 'utf8').startsWith(before));
  t.equal(auditLines(store.auditFile).length, 5);
});

t.test('bad requests are refused with a reason, and the limits hold', async (t) => {
  const { store } = setup(undefined, { maxIncidents: 2, maxTtlMs: 60 * MIN });
  const code = (r: ReturnType<typeof store.on>) => (r.ok ? 'ok' : r.error.code);
  t.equal(code(store.on('bad tenant', { reason: 'r', by: 'x' })), 'INVALID_SCOPE');
  t.equal(code(store.on('_other', { reason: 'r', by: 'x' })), 'INVALID_SCOPE');
  t.equal(code(store.on('acme', { reason: '  ', by: 'x' })), 'INVALID_REASON');
  t.equal(code(store.on('acme', { reason: 'r'.repeat(1001), by: 'x' })), 'INVALID_REASON');
  t.equal(code(store.on('acme', { reason: 'r', ttlMs: 61 * MIN, by: 'x' })), 'INVALID_TTL');
  t.equal(code(store.on('acme', { reason: 'r', ttlMs: 10, by: 'x' })), 'INVALID_TTL');
  t.equal(code(store.on('a', { reason: 'r', by: 'x' })), 'ok');
  t.equal(code(store.on('b', { reason: 'r', by: 'x' })), 'ok');
  t.equal(code(store.on('c', { reason: 'r', by: 'x' })), 'TOO_MANY');
  t.equal(code(store.on('a', { reason: 'r2', by: 'x' })), 'ok', 'updating an active one is not a new incident');
  t.same(store.list().map((i) => i.scope).sort(), ['a', 'b']);
});

t.test('a state file that cannot be written leaves incident mode unchanged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-incidents-'));
  const { store, events, metrics } = setup(dir);
  // The directory turns into a file after start-up: every write fails.
  rmdirSync(dir);
  writeFileSync(dir, 'x');
  const r = store.on('acme', { reason: 'r', by: 'x' });
  t.notOk(r.ok);
  if (!r.ok) t.equal(r.error.code, 'PERSIST_FAILED');
  t.notOk(store.isActive('acme'));
  t.same(events, []);
  t.equal((await metrics.incidentPersistFailures.get()).values.find((v) => v.labels.file === 'state')?.value, 1);
});

t.test('a corrupt state file fails start-up, naming the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-incidents-'));
  writeFileSync(join(dir, 'state.json'), '{"version":1,"incidents":[{"scope":"acme"}]}');
  t.throws(() => setup(dir), { message: new RegExp(`${join(dir, 'state.json')}: not a valid incident state file \\(incidents\\[0\\] is not an incident\\)`) });
  writeFileSync(join(dir, 'state.json'), 'not json');
  t.throws(() => setup(dir), { message: /state\.json: not a valid incident state file/ });
});

t.test('disabled: nothing is ever active, the state file is not read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-incidents-'));
  writeFileSync(join(dir, 'state.json'), 'not json');
  const { store } = setup(dir, { enabled: false });
  const r = store.on('acme', { reason: 'r', by: 'x' });
  t.notOk(r.ok);
  if (!r.ok) t.equal(r.error.code, 'DISABLED');
  t.notOk(store.isActive('acme'));
  t.notOk(existsSync(join(dir, 'audit.log')));
});
