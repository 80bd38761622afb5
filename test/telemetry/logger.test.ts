import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger, flushLogger } from '../../src/telemetry/logger.js';
import type { Logger } from '../../src/telemetry/logger-types.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

t.test('JSON lines with the service field, level names and the level filter', async (t) => {
  const { stream, lines } = capture();
  const logger = createLogger('info', stream);
  const asInterface: Logger = logger; // satisfies the stages' minimal interface
  asInterface.debug({ n: 1 }, 'hidden');
  asInterface.info({ n: 2 }, 'shown');
  asInterface.error({ err: new Error('boom') }, 'failed');
  await flushLogger(logger);
  const out = lines();
  t.equal(out.length, 2, 'debug is below info');
  t.match(out[0], { level: 'info', service: 'stella-gateway', pid: process.pid, n: 2, msg: 'shown' });
  t.match(out[0]!.time, /^\d{4}-\d\d-\d\dT/, 'ISO timestamps');
  t.match(out[1], { level: 'error', msg: 'failed', err: { type: 'Error', message: 'boom' } });
});

t.test('silent writes nothing', async (t) => {
  const { stream, lines } = capture();
  const logger = createLogger('silent', stream);
  logger.error({}, 'nothing');
  await flushLogger(logger);
  t.same(lines(), []);
});
