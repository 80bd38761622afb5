// The start/stop graph on its own: the order of stops, the time each is given, groups that stop side by
// side, and that a failing stop neither hides the others nor runs twice.
import t from 'tap';
import { createStartStopGraph } from '../src/lifecycle.js';
import { silentLogger } from './helpers/gateway.js';

/** A stop that records its call and resolves when the test says so. */
function gated(log: string[], name: string) {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  return { stop: async (left: number) => { log.push(`${name} ${left > 0 ? 'with time' : 'no time'}`); await gate; log.push(`${name} done`); }, open };
}

t.test('shut-down: pipeline newest first, groups side by side, then the services newest first', async (t) => {
  const log: string[] = [];
  const g = createStartStopGraph({ logger: silentLogger });
  const rec = (name: string) => () => void log.push(name);
  g.push('policies', rec('policies'), { service: true });
  const exporters = gated(log, 'exporters');
  g.push('exporters', exporters.stop);
  g.push('tenants', rec('tenants'), { service: true, with: 'policies' });
  g.push('incidents', rec('incidents'));
  const tee = gated(log, 'tee');
  g.push('tee', tee.stop, { with: 'exporters' });
  g.push('pool', rec('pool'));
  g.push('admin', rec('admin'), { service: true });
  g.push('grpc', rec('grpc'));
  g.push('http', rec('http'), { with: 'grpc' });
  g.push('lonely', rec('lonely'), { with: 'not pushed' });
  t.same(g.names(), ['policies', 'exporters', 'tenants', 'incidents', 'tee', 'pool', 'admin', 'grpc', 'http', 'lonely']);
  const stopped = g.stop(60_000);
  // Both members of the exporters' group are running before either finishes.
  while (!log.includes('tee with time')) await new Promise((r) => setImmediate(r));
  t.same(log, ['lonely', 'grpc', 'http', 'pool', 'incidents', 'exporters with time', 'tee with time'], 'receivers first, then each stage; exporters and tee side by side');
  tee.open();
  exporters.open();
  await stopped;
  t.same(log.slice(7).sort(), ['admin', 'exporters done', 'policies', 'tee done', 'tenants'].sort());
  t.same(log.slice(9), ['admin', 'policies', 'tenants'], 'the services only once the pipeline drained, newest first; a group in push order');
  await g.stop(60_000);
  t.equal(log.length, 12, 'a second stop stops nothing twice');
});

t.test('each stop gets the time left to one deadline', async (t) => {
  const g = createStartStopGraph({ logger: silentLogger });
  const given: number[] = [];
  let release!: () => void;
  g.push('a', (left) => void given.push(left));
  g.push('b', (left) => { given.push(left); return new Promise<void>((r) => (release = r)); });
  const stopped = g.stop(5000);
  while (!release) await new Promise((r) => setImmediate(r));
  const t0 = Date.now();
  // b holds the shut-down for a measurable while; a then gets less than the whole deadline.
  await new Promise<void>((r) => { const check = () => (Date.now() - t0 >= 30 ? r() : setImmediate(check)); check(); });
  release();
  await stopped;
  t.ok(given[0]! <= 5000 && given[0]! > 0, `b had the deadline (${given[0]} ms)`);
  t.ok(given[1]! <= given[0]! - 30, `a had what b left (${given[1]} ms)`);
});

t.test('a stop that fails is rethrown after every other stop ran', async (t) => {
  const g = createStartStopGraph({ logger: silentLogger });
  const log: string[] = [];
  g.push('first', () => void log.push('first'), { service: true });
  g.push('second', () => void log.push('second'));
  g.push('broken', () => { throw new Error('cannot close'); });
  g.push('third', async () => void log.push('third'));
  await t.rejects(g.stop(1000), /cannot close/);
  t.same(log, ['third', 'second', 'first']);
});

t.test('unwind after a failed start: newest first, no time to drain, never rejects', async (t) => {
  const g = createStartStopGraph({ logger: silentLogger });
  const log: string[] = [];
  g.push('policies', (left) => void log.push(`policies ${left}`), { service: true });
  g.push('exporters', async (left) => void log.push(`exporters ${left}`));
  g.push('tee', () => Promise.reject(new Error('half started')), { with: 'exporters' });
  g.push('admin', (left) => void log.push(`admin ${left}`), { service: true });
  await g.unwind();
  t.same(log, ['admin 0', 'exporters 0', 'policies 0'], 'in reverse order of start, services included');
  await g.stop(1000);
  t.equal(log.length, 3, 'nothing is stopped twice');
});

t.test('a name is recorded once; a group does not span the pipeline and the services', async (t) => {
  const g = createStartStopGraph({ logger: silentLogger });
  g.push('a', () => {});
  t.throws(() => g.push('a', () => {}), /a is already recorded/);
  t.throws(() => g.push('b', () => {}, { service: true, with: 'a' }), /different phases/);
});
