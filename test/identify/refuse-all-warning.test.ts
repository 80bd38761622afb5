// A listener where no request can be identified (no anonymous access, no client certificate, no token)
// refuses everything: the gateway says so at start, naming the listener, instead of only answering 401s.
import t from 'tap';
import { startGateway } from '../../src/gateway.js';
import type { Logger } from '../../src/telemetry/logger-types.js';
import { testConfig } from '../helpers/gateway.js';

function recording(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger = { info() {}, debug() {}, error() {}, warn: (_fields: object, msg?: string) => void warnings.push(msg ?? '') };
  return { logger, warnings };
}

t.test('anonymous access off and no identities: one warning per listener', async (t) => {
  const { logger, warnings } = recording();
  const gw = await startGateway(
    testConfig([], (c) => {
      c.tenancy.anonymous = 'never';
    }),
    { logger },
  );
  t.teardown(() => gw.stop(2000));
  const refusing = warnings.filter((w) => w.includes('will be refused'));
  t.equal(refusing.length, 2, refusing.join('\n'));
  t.match(refusing.join('\n'), /OTLP\/gRPC listener 127\.0\.0\.1:\d+ will be refused/);
  t.match(refusing.join('\n'), /OTLP\/HTTP listener 127\.0\.0\.1:\d+ will be refused/);
  t.match(refusing[0]!, /tenants\.yaml has no token/);
});

t.test('the defaults on loopback (anonymous allowed there): no warning', async (t) => {
  const { logger, warnings } = recording();
  const gw = await startGateway(testConfig([]), { logger });
  t.teardown(() => gw.stop(2000));
  t.same(warnings.filter((w) => w.includes('will be refused')), []);
});
