// Per-exporter headers from the environment reach the backend on every export, and the secret never
// shows in the gateway's log (even when the backend echoes it in an error), in /admin/v1/status, or
// in `stella telemetry config validate` output. A real config file, the real loader, a real gateway
// with its real (pino) logger, and the real CLI.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { sha256Hex } from '../../src/admin/auth.js';
import type { GatewayStatus } from '../../src/admin/status-route.js';
import { loadConfig } from '../../src/config/load.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { runCli } from '../cli/commands/incident-run.js';
import { baseUrl } from '../helpers/gateway.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';

const SECRET = `tok-${Math.random().toString(36).slice(2)}-e2e`;
const dir = mkdtempSync(join(tmpdir(), 'stella-secrets-'));

t.test('an Authorization header from ${env:…}: delivered, and masked everywhere people look', async (t) => {
  const sink = await startOtlpSink();
  t.teardown(() => sink.close());
  const file = join(dir, 'stella.yaml');
  writeFileSync(
    file,
    `dataDir: ${join(dir, 'data')}
receivers:
  grpc: { endpoint: "127.0.0.1:0" }
  http: { endpoint: "127.0.0.1:0" }
admin: { endpoint: "127.0.0.1:0" }
process: { workers: 1 }
log: { level: debug }
exporters:
  - name: tempo
    endpoint: ${sink.httpUrl}
    headers:
      Authorization: "Bearer \${env:STELLA_E2E_TOKEN}"
    batch: { flushInterval: 10ms }
    retry: { initialBackoff: 20ms, maxBackoff: 100ms }
`,
  );
  process.env.STELLA_E2E_TOKEN = SECRET;
  t.teardown(() => delete process.env.STELLA_E2E_TOKEN);
  const loaded = loadConfig({ file, flags: {} });
  t.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.errors));
  if (!loaded.ok) return;
  const config = loaded.config;
  config.incidents.adminTokens = [{ name: 'viewer', sha256: sha256Hex('view'), role: 'viewer', tenants: '*' }];

  // The gateway's real logger, writing into memory; a waiter per line.
  const logged: string[] = [];
  const waiters: Array<() => void> = [];
  const logger = createLogger('debug', {
    write(line: string) {
      logged.push(line);
      for (const w of waiters.splice(0)) w();
    },
  });
  const logLine = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line ${re} in:\n${logged.join('')}`)), 15_000);
      const check = (): void => {
        const l = logged.find((x) => re.test(x));
        if (l) {
          clearTimeout(timer);
          resolve(l);
        } else waiters.push(check);
      };
      check();
    });

  const gw = await startGateway(config, { logger });
  t.teardown(() => gw.stop(2000));
  // The backend refuses, quoting the credential it got (as some do), until the test lets it through.
  sink.failNext(1_000_000, { httpStatus: 503, echoHeader: 'authorization' });
  const span = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 's', startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }] };
  const res = await fetch(`${baseUrl(gw, 'http')}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(span) });
  t.equal(res.status, 200);

  const warn = await logLine(/export failing/);
  t.match(warn, /\[redacted\]/, 'the echoed credential is in the warning, masked');
  t.notMatch(warn, new RegExp(SECRET), 'not in clear');
  t.ok(sink.requests[0]!.headers.authorization === `Bearer ${SECRET}`, 'the backend got the real header');

  const statusRes = await fetch(`${baseUrl(gw, 'admin')}/admin/v1/status`, { headers: { authorization: 'Bearer view' } });
  const statusText = await statusRes.text();
  t.equal(statusRes.status, 200);
  const status = JSON.parse(statusText) as GatewayStatus;
  t.match(status.exporters[0], { name: 'tempo', health: 'down', lastError: { reason: 'http_503', message: /\[redacted\]/ }, queueItems: 1 });
  t.notMatch(statusText, new RegExp(SECRET), 'not in /admin/v1/status');

  // Let it through: delivered with the header, one recovery line.
  sink.reset();
  await sink.waitFor((r) => r.length === 1, 15_000);
  t.equal(sink.received()[0]!.headers.authorization, `Bearer ${SECRET}`, 'the header arrives on the export request');
  await logLine(/export recovered/);
  await gw.stop(2000);
  const all = logged.join('');
  t.ok(all.length > 0);
  t.notMatch(all, new RegExp(SECRET), 'the secret is in no log line');

  // config validate: a summary with header names only; and an error quoting a substituted value.
  const out = await runCli(['config', 'validate', file], { STELLA_E2E_TOKEN: SECRET });
  t.equal(out.code, 0, out.err);
  t.match(out.out, /headers: Authorization \(values not shown\)/);
  t.notMatch(out.out + out.err, new RegExp(SECRET));
  const badFile = join(dir, 'bad.yaml');
  writeFileSync(badFile, 'exporters:\n  - endpoint: otlp-grpc://tempo:4317\n    compression: ${env:STELLA_E2E_TOKEN}\n');
  const bad = await runCli(['config', 'validate', badFile], { STELLA_E2E_TOKEN: SECRET });
  t.equal(bad.code, 1);
  t.match(bad.err, /compression: expected one of none, gzip \(got "\[redacted\]"\)/);
  t.notMatch(bad.out + bad.err, new RegExp(SECRET), 'not in an error message');
  const missing = await runCli(['config', 'validate', file], { STELLA_E2E_TOKEN: undefined });
  t.equal(missing.code, 1);
  t.match(missing.err, /exporters\[0\]\.headers\.Authorization: environment variable STELLA_E2E_TOKEN is not set/);
});
