// TLS and mTLS from both OTLP exporters to real TLS backends (a PKI from `certs init`'s generator):
// delivery over TLS and mTLS, and the three classic misconfigurations (wrong CA, expired server
// certificate, name mismatch) plus a refused client certificate, each failing with a clear logged
// message and a counted failure with its reason, the batch kept (not dropped) while it lasts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { issueLeaf } from '../../src/cli/commands/certs-init.js';
import { exporterDefaults, type ExporterConfig, type ExporterTlsConfig } from '../../src/config/types.js';
import { createExporter } from '../../src/export/exporter.js';
import type { Logger } from '../../src/telemetry/logger-types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { startOtlpSink, type OtlpSink } from '../helpers/otlp-sink.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { expiredValidity, loadCa, makePki, otherCa, replaceFile } from '../helpers/tls.js';
import { valueOf } from './metrics-util.js';
import { decodeTraces, traceRequest } from './otlp-build.js';

const pki = await makePki(['acme']);
const caIssuer = await loadCa(pki);
const serverTls = { cert: pki.read(pki.server), key: pki.read(pki.serverKey) };
const expired = await issueLeaf(caIssuer, { commonName: 'localhost', usage: 'server', dns: ['localhost'], ips: ['127.0.0.1'], validity: expiredValidity() });
const other = await otherCa();
const otherCaFile = join(pki.dir, 'other-ca.pem');
writeFileSync(otherCaFile, other.certPem);
const client = pki.clients.acme!;

const tlsSink = await startOtlpSink({ tls: serverTls });
const mtlsSink = await startOtlpSink({ tls: { ...serverTls, ca: pki.read(pki.ca), requireClientCert: true } });
const expiredSink = await startOtlpSink({ tls: { cert: Buffer.from(expired.certPem), key: Buffer.from(expired.keyPem) } });
t.teardown(async () => {
  await Promise.all([tlsSink.close(), mtlsSink.close(), expiredSink.close()]);
});

/** A logger that records lines and lets a test wait for one. */
function waitingLogger() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const waiters: Array<() => void> = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
      for (const w of waiters.splice(0)) w();
    };
  const logger: Logger = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
  const waitFor = (pred: (l: (typeof lines)[number]) => boolean, timeoutMs = 10_000): Promise<(typeof lines)[number]> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms: ${JSON.stringify(lines)}`)), timeoutMs);
      const check = (): void => {
        const found = lines.find(pred);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else waiters.push(check);
      };
      check();
    });
  return { lines, logger, waitFor };
}

function exporterConfig(kind: 'otlp-grpc' | 'otlp-http', sink: OtlpSink, tls: Partial<ExporterTlsConfig>): ExporterConfig {
  return {
    name: `${kind}-tls`,
    kind,
    endpoint: kind === 'otlp-grpc' ? sink.grpcAddress : sink.httpUrl,
    ...exporterDefaults(kind),
    timeoutMs: 5000,
    batch: { maxBytes: 64 * 1024, maxItems: 100, flushIntervalMs: 5, passThroughBytes: 1 << 30 },
    retry: { initialBackoffMs: 50, maxBackoffMs: 200, maxElapsedMs: 60_000 },
    tls: { minVersion: 'TLSv1.2', insecureSkipVerify: false, ...tls },
  };
}

const item = (name: string) => ({ signal: 'traces' as const, tenant: 'acme', body: traceRequest([{ service: 'svc', names: [name] }]), items: 1 });

for (const kind of ['otlp-grpc', 'otlp-http'] as const) {
  t.test(`${kind}: delivers over TLS with caFile`, async (t) => {
    tlsSink.reset();
    const metrics = createMetrics({ defaultMetrics: false });
    const exp = createExporter(exporterConfig(kind, tlsSink, { caFile: pki.ca }), { metrics, logger: waitingLogger().logger });
    await exp.start();
    exp.offer(item('over-tls'));
    await tlsSink.waitFor((r) => r.length === 1, 10_000);
    t.same(decodeTraces(tlsSink.received()[0]!.body).flatMap((x) => x.names), ['over-tls']);
    await exp.shutdown(2000);
    t.equal(await valueOf(metrics.exporterSentItems), 1);
  });

  t.test(`${kind}: delivers over mTLS with a client certificate; without one the backend refuses (counted, kept)`, async (t) => {
    mtlsSink.reset();
    const metrics = createMetrics({ defaultMetrics: false });
    const exp = createExporter(exporterConfig(kind, mtlsSink, { caFile: pki.ca, certFile: client.cert, keyFile: client.key }), { metrics, logger: waitingLogger().logger });
    await exp.start();
    exp.offer(item('over-mtls'));
    await mtlsSink.waitFor((r) => r.length === 1, 10_000);
    await exp.shutdown(2000);
    t.equal(await valueOf(metrics.exporterSentItems), 1, 'delivered with the client certificate');

    const m2 = createMetrics({ defaultMetrics: false });
    const log = waitingLogger();
    const bare = createExporter(exporterConfig(kind, mtlsSink, { caFile: pki.ca }), { metrics: m2, logger: log.logger });
    await bare.start();
    bare.offer(item('no-client-cert'));
    const warn = await log.waitFor((l) => l.level === 'warn' && /export failing/.test(l.msg));
    t.ok(typeof warn.obj.reason === 'string' && /^(tls_handshake|network|grpc_unavailable)$/.test(warn.obj.reason as string), `refused: ${String(warn.obj.reason)} (${String(warn.obj.detail)})`);
    t.ok((await valueOf(m2.exportFailures)) >= 1, 'counted');
    t.equal(bare.health!().state, 'down');
    t.equal(await valueOf(m2.exporterDroppedItems), 0, 'kept while it lasts');
    t.equal(mtlsSink.received().length, 1, 'nothing more arrived');
    await bare.shutdown(0);
  });

  const failures: Array<[string, Partial<ExporterTlsConfig>, () => OtlpSink, string, RegExp]> = [
    ['a wrong CA', { caFile: otherCaFile }, () => tlsSink, 'tls_untrusted', /not signed by a trusted CA/],
    ['the system CAs only (a private CA)', {}, () => tlsSink, 'tls_untrusted', /not signed by a trusted CA/],
    ['an expired server certificate', { caFile: pki.ca }, () => expiredSink, 'tls_expired', /has expired/],
    ['a name mismatch', { caFile: pki.ca, serverName: 'tempo.example.com' }, () => tlsSink, 'tls_name_mismatch', /does not match its name/],
  ];
  for (const [what, tls, sinkOf, reason, message] of failures) {
    t.test(`${kind}: ${what} fails with ${reason}, logged and counted, nothing dropped`, async (t) => {
      const sink = sinkOf();
      sink.reset();
      const metrics = createMetrics({ defaultMetrics: false });
      const log = waitingLogger();
      const exp = createExporter(exporterConfig(kind, sink, tls), { metrics, logger: log.logger });
      await exp.start();
      exp.offer(item('refused'));
      const warn = await log.waitFor((l) => l.level === 'warn' && /export failing/.test(l.msg));
      t.equal(warn.obj.reason, reason);
      t.match(String(warn.obj.detail), message);
      t.ok((await valueOf(metrics.exportFailures, { reason })) >= 1, `collector_export_failures_total{reason="${reason}"}`);
      t.match(exp.health!(), { state: 'down', lastError: { reason }, queueItems: 1 });
      t.equal(await valueOf(metrics.exporterDroppedItems), 0, 'kept, retrying');
      t.equal(sink.received().length, 0, 'nothing delivered');
      await exp.shutdown(0);
    });
  }
}

t.test('otlp-grpc: a rotated client certificate is picked up for new connections', async (t) => {
  // Start with a client certificate from another CA (refused), then rotate in the right one.
  const dir = pki.dir;
  const certFile = join(dir, 'rotating-client.pem');
  const keyFile = join(dir, 'rotating-client-key.pem');
  const wrong = await issueLeaf(other, { commonName: 'acme', usage: 'client', validity: { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) } });
  writeFileSync(certFile, wrong.certPem);
  writeFileSync(keyFile, wrong.keyPem);
  mtlsSink.reset();
  const metrics = createMetrics({ defaultMetrics: false });
  const log = waitingLogger();
  const exp = createExporter(exporterConfig('otlp-grpc', mtlsSink, { caFile: pki.ca, certFile, keyFile }), { metrics, logger: log.logger });
  await exp.start();
  exp.offer(item('after-rotation'));
  await log.waitFor((l) => l.level === 'warn' && /export failing/.test(l.msg));
  t.equal(mtlsSink.received().length, 0);
  // Key first, then certificate, as a certificate manager might; the reloader waits for a matching pair.
  replaceFile(keyFile, pki.read(client.key));
  replaceFile(certFile, pki.read(client.cert));
  await log.waitFor((l) => l.level === 'info' && /TLS files reloaded/.test(l.msg));
  await mtlsSink.waitFor((r) => r.length === 1, 15_000);
  t.same(decodeTraces(mtlsSink.received()[0]!.body).flatMap((x) => x.names), ['after-rotation']);
  await exp.shutdown(2000);
  t.equal(await valueOf(metrics.exporterDroppedItems), 0);
});

t.test('insecureSkipVerify: delivers to an untrusted backend, with a warning at start-up', async (t) => {
  tlsSink.reset();
  const metrics = createMetrics({ defaultMetrics: false });
  const log = waitingLogger();
  const exp = createExporter(exporterConfig('otlp-http', tlsSink, { insecureSkipVerify: true }), { metrics, logger: log.logger });
  t.ok(log.lines.some((l) => l.level === 'warn' && /verification is OFF/.test(l.msg)), 'warned when the exporter was built');
  await exp.start();
  exp.offer(item('insecure'));
  await tlsSink.waitFor((r) => r.length === 1, 10_000);
  await exp.shutdown(2000);
});

t.test('a gateway exports over mTLS: what a client sends reaches the mTLS backend', async (t) => {
  for (const kind of ['otlp-grpc', 'otlp-http'] as const) {
    mtlsSink.reset();
    const gw = await startTestGateway([
      sinkExporter(mtlsSink, kind, { tls: { caFile: pki.ca, certFile: client.cert, keyFile: client.key, minVersion: 'TLSv1.3', insecureSkipVerify: false } }),
    ]);
    const span = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: `via-${kind}`, startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }] };
    const res = await fetch(`${baseUrl(gw, 'http')}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(span) });
    t.equal(res.status, 200);
    await mtlsSink.waitFor((r) => r.length === 1, 15_000);
    t.same(decodeTraces(mtlsSink.received()[0]!.body).flatMap((x) => x.names), [`via-${kind}`], `${kind}: delivered over mTLS (TLS 1.3)`);
    await gw.stop(2000);
  }
});
