// The gateway over TLS with real handshakes: mTLS on OTLP/HTTP and OTLP/gRPC (a client certificate from
// the CA is accepted and its data delivered; none, another CA's, an expired one, or TLS 1.1 are refused
// at the handshake), TLS on the admin listener, certificate rotation on disk (new connections see the
// new certificate, an open connection keeps working; a corrupt replacement is rejected, counted, and the
// old certificate keeps serving), and the official OTel SDK gRPC exporter configured the way
// `certs init` prints.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import * as https from 'node:https';
import { issueLeaf, validityFor } from '../../src/cli/commands/certs-init.js';
import type { RunningGateway } from '../../src/gateway.js';
import { flattenRequests } from '../helpers/flatten.js';
import { sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { startOtlpSink, type OtlpSink } from '../helpers/otlp-sink.js';
import {
  clientCert,
  eventually,
  expiredValidity,
  fingerprintOf,
  grpcTlsClient,
  handshake,
  httpsGet,
  httpsPost,
  loadCa,
  makePki,
  otherCa,
  replaceFile,
  serverTls,
  type ClientIdentity,
  type Pki,
} from '../helpers/tls.js';
import { span, tracesRequest } from '../helpers/wire-builder.js';

const PROTOBUF = 'application/x-protobuf';

function oneSpan(name: string): Buffer {
  return Buffer.from(tracesRequest(span({ traceId: '01'.repeat(16), spanId: '02'.repeat(8), name })));
}

function spanNames(sink: OtlpSink): string[] {
  return flattenRequests('traces', sink.received('traces').map((r) => r.body)).map((i) => (i.item as { name?: string }).name ?? '');
}

async function tlsGateway(t: Test, pki: Pki): Promise<{ gw: RunningGateway; sink: OtlpSink; http: number; grpc: number; admin: number }> {
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.receivers.http.tls = serverTls(pki);
    c.receivers.grpc.tls = serverTls(pki);
    c.admin.tls = serverTls(pki, { clientCaFile: undefined, requireClientCert: false });
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  return { gw, sink, http: gw.addresses.http!.port, grpc: gw.addresses.grpc!.port, admin: gw.addresses.admin.port };
}

function acme(pki: Pki): ClientIdentity {
  return { ca: pki.read(pki.ca), cert: pki.read(pki.clients.acme!.cert), key: pki.read(pki.clients.acme!.key) };
}

async function refusedRequests(gw: RunningGateway): Promise<number> {
  const m = await gw.metrics.receiverRequests.get();
  return m.values.reduce((n, v) => n + v.value, 0);
}

t.test('mTLS: a client certificate from the CA is accepted over HTTP and gRPC; others are refused at the handshake', async (t) => {
  const pki = await makePki();
  const { gw, sink, http, grpc: grpcPort } = await tlsGateway(t, pki);
  const id = acme(pki);

  const res = await httpsPost(http, '/v1/traces', oneSpan('over-https'), PROTOBUF, id);
  t.equal(res.status, 200, res.body.toString());
  t.equal(res.serverFingerprint, fingerprintOf(pki.read(pki.server)), 'served the configured certificate');

  const client = grpcTlsClient(grpcPort, id);
  t.teardown(() => client.close());
  t.equal(await client.export('traces', oneSpan('over-grpc')), null);
  await sink.waitFor(() => spanNames(sink).includes('over-https') && spanNames(sink).includes('over-grpc'));
  t.same(spanNames(sink).sort(), ['over-grpc', 'over-https']);
  const answered = await refusedRequests(gw);
  t.equal(answered, 2);

  const ca = await loadCa(pki);
  const foreignCa = await otherCa();
  const foreign = await clientCert(foreignCa, 'acme');
  const expired = await clientCert(ca, 'acme', expiredValidity());
  // At TLS 1.2 the verdict is part of the handshake. OpenSSL refuses a missing certificate with an
  // alert; node verifies a presented certificate itself and closes the socket before the handshake
  // completes (no alert). The control (the CA's certificate) differs from each case only in the cert.
  const closedEarly = /ECONNRESET .*before secure TLS connection was established/;
  const refusals: [string, ClientIdentity, RegExp][] = [
    ['no client certificate', { ca: id.ca }, /HANDSHAKE_FAILURE|handshake failure/i],
    ['a certificate from another CA', { ca: id.ca, cert: foreign.certPem, key: foreign.keyPem }, closedEarly],
    ['an expired certificate', { ca: id.ca, cert: expired.certPem, key: expired.keyPem }, closedEarly],
  ];
  t.match(await handshake(http, id, { maxVersion: 'TLSv1.2' }), /^ok TLSv1.2/, 'the control: the CA-issued certificate at TLS 1.2');
  t.match(await handshake(grpcPort, id, { maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'] }), /^ok TLSv1.2/, 'the control on the gRPC port');
  for (const [what, who, reason] of refusals) {
    t.match(await handshake(http, who, { maxVersion: 'TLSv1.2' }), reason, `handshake, ${what}: refused with the reason`);
    t.match(await handshake(grpcPort, who, { maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'] }), reason, `gRPC port handshake, ${what}`);
    const err = await httpsPost(http, '/v1/traces', oneSpan(`https ${what}`), PROTOBUF, who).then(
      (r) => new Error(`answered ${r.status}`),
      (e: Error) => e,
    );
    t.match(err.message, /alert|socket hang up|ECONNRESET/i, `HTTP at TLS 1.3, ${what}: refused (${err.message})`);
    const c = grpcTlsClient(grpcPort, who);
    const gerr = await c.export('traces', oneSpan(`grpc ${what}`));
    c.close();
    t.equal(gerr?.code, 14, `gRPC, ${what}: UNAVAILABLE (${gerr?.details})`);
  }
  t.equal(await refusedRequests(gw), answered, 'no refused client reached a handler');
  t.same(spanNames(sink).sort(), ['over-grpc', 'over-https'], 'nothing from refused clients');
});

t.test('protocol versions: TLS 1.1 is refused; minVersion TLSv1.3 refuses TLS 1.2', async (t) => {
  const pki = await makePki(['acme']);
  const { http } = await tlsGateway(t, pki);
  const id = acme(pki);
  const at = (port: number, version: tls.SecureVersion): Promise<string> =>
    handshake(port, id, {
      minVersion: version,
      maxVersion: version,
      // OpenSSL 3 disables TLS 1.0/1.1 on the client at the default security level; lower it so the
      // refusal comes from the server.
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
  t.equal(await at(http, 'TLSv1.2'), 'ok TLSv1.2', 'TLS 1.2 accepted (the control)');
  t.match(await at(http, 'TLSv1.1'), /^error .*(PROTOCOL_VERSION|protocol version)/i, 'TLS 1.1 refused by the server');

  const sink = await startOtlpSink();
  const strict = await startTestGateway([sinkExporter(sink)], (c) => {
    c.receivers.grpc.enabled = false;
    c.receivers.http.tls = serverTls(pki, { minVersion: 'TLSv1.3' });
  });
  t.teardown(async () => {
    await strict.stop(2000);
    await sink.close();
  });
  t.match(await at(strict.addresses.http!.port, 'TLSv1.2'), /^error .*(PROTOCOL_VERSION|protocol version)/i);
  t.equal(await at(strict.addresses.http!.port, 'TLSv1.3'), 'ok TLSv1.3');
});

t.test('the admin listener serves over TLS', async (t) => {
  const pki = await makePki(['acme']);
  const { admin } = await tlsGateway(t, pki);
  const res = await httpsGet(admin, '/readyz', { ca: pki.read(pki.ca) });
  t.equal(res.status, 200);
  t.same(JSON.parse(res.body), { status: 'ready' });
  const metrics = await httpsGet(admin, '/metrics', { ca: pki.read(pki.ca) });
  t.match(metrics.body, /tls_reload_failures_total\{listener="admin"\} 0/);
  // A plain-HTTP request to a TLS port gets no HTTP answer.
  const plain = await fetch(`http://127.0.0.1:${admin}/healthz`).then(
    (r) => `status ${r.status}`,
    (e: Error) => `error ${e.message}`,
  );
  t.notMatch(plain, /^status 200/);
});

t.test('rotation: new connections see the new certificate, open ones keep working; a corrupt file is rejected', async (t) => {
  const pki = await makePki(['acme']);
  const { gw, sink, http, grpc: grpcPort } = await tlsGateway(t, pki);
  const id = acme(pki);
  const oldFp = fingerprintOf(pki.read(pki.server));

  // Open connections before the rotation: an HTTPS keep-alive agent and a gRPC channel.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const before = await httpsPost(http, '/v1/traces', oneSpan('before'), PROTOBUF, id, { agent });
  t.equal(before.status, 200);
  t.equal(before.serverFingerprint, oldFp);
  const openGrpc = grpcTlsClient(grpcPort, id);
  t.teardown(() => openGrpc.close());
  t.equal(await openGrpc.export('traces', oneSpan('grpc-before')), null);
  t.same(openGrpc.serverFingerprints, [oldFp]);

  // Rotate: a new server key and certificate from the same CA, renamed over the old files.
  const ca = await loadCa(pki);
  const next = await issueLeaf(ca, { commonName: 'localhost', usage: 'server', dns: ['localhost'], ips: ['127.0.0.1'], validity: validityFor(1) });
  const newFp = fingerprintOf(next.certPem);
  t.not(newFp, oldFp);
  replaceFile(pki.serverKey, next.keyPem);
  replaceFile(pki.server, next.certPem);

  const seenHttp = await eventually(async () => {
    const r = await httpsPost(http, '/v1/traces', oneSpan('probe'), PROTOBUF, id);
    return r.serverFingerprint === newFp ? r : undefined;
  });
  t.equal(seenHttp.status, 200, 'HTTP: a new connection sees the new certificate and is served');
  const fresh = await eventually(async () => {
    const c = grpcTlsClient(grpcPort, id);
    const err = await c.export('traces', oneSpan('grpc-after'));
    c.close();
    return c.serverFingerprints.at(-1) === newFp && err === null ? c : undefined;
  });
  t.same(fresh.serverFingerprints.at(-1), newFp, 'gRPC: a new connection sees the new certificate and is served');

  const after = await httpsPost(http, '/v1/traces', oneSpan('after'), PROTOBUF, id, { agent });
  t.equal(after.status, 200, 'the open HTTPS connection keeps working');
  t.equal(after.socket, before.socket, 'on the same socket');
  t.equal(after.serverFingerprint, oldFp, 'with the certificate of its handshake');
  t.equal(await openGrpc.export('traces', oneSpan('grpc-open-after')), null, 'the open gRPC connection keeps working');
  t.same(openGrpc.serverFingerprints, [oldFp], 'without a new handshake');

  // A corrupt replacement: rejected, counted once per listener, the current certificate keeps serving.
  replaceFile(pki.server, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  await eventually(async () => {
    const m = await gw.metrics.tlsReloadFailures.get();
    const by = (l: string): number => m.values.find((v) => v.labels.listener === l)?.value ?? 0;
    return by('http') >= 1 && by('grpc') >= 1 && by('admin') >= 1 ? true : undefined;
  });
  await new Promise((r) => setTimeout(r, 500));
  const m = await gw.metrics.tlsReloadFailures.get();
  t.same(
    m.values.map((v) => [v.labels.listener, v.value]).sort(),
    [['admin', 1], ['grpc', 1], ['http', 1]],
    'one failure per listener for one bad version',
  );
  const stillHttp = await httpsPost(http, '/v1/traces', oneSpan('after-corrupt'), PROTOBUF, id);
  t.equal(stillHttp.status, 200);
  t.equal(stillHttp.serverFingerprint, newFp, 'HTTP keeps the last good certificate');
  const stillGrpc = grpcTlsClient(grpcPort, id);
  t.equal(await stillGrpc.export('traces', oneSpan('grpc-after-corrupt')), null);
  stillGrpc.close();
  t.same(stillGrpc.serverFingerprints, [newFp], 'gRPC keeps the last good certificate');

  await sink.waitFor(() => ['before', 'after', 'after-corrupt', 'grpc-before', 'grpc-open-after', 'grpc-after-corrupt'].every((n) => spanNames(sink).includes(n)));
  t.pass('every accepted span was delivered');
});

t.test('rotation of the client CA: clients of the new CA are accepted, those of the old one refused', async (t) => {
  const pki = await makePki(['acme']);
  const { http, grpc: grpcPort } = await tlsGateway(t, pki);
  const old = acme(pki);
  const nextCa = await otherCa();
  const next = await clientCert(nextCa, 'acme');
  const nextId: ClientIdentity = { ca: old.ca, cert: next.certPem, key: next.keyPem };
  const accepted = async (id: ClientIdentity): Promise<boolean> =>
    httpsPost(http, '/v1/traces', oneSpan('ca'), PROTOBUF, id).then(
      (r) => r.status === 200,
      () => false,
    );
  t.ok(await accepted(old));
  t.notOk(await accepted(nextId));
  replaceFile(pki.ca, nextCa.certPem);
  await eventually(async () => ((await accepted(nextId)) ? true : undefined));
  t.notOk(await accepted(old), 'HTTP: the old CA no longer vouches');
  const g = grpcTlsClient(grpcPort, nextId);
  t.equal(await g.export('traces', oneSpan('grpc-ca')), null, 'gRPC: the new CA is in use');
  g.close();
  const gOld = grpcTlsClient(grpcPort, old);
  t.equal((await gOld.export('traces', oneSpan('grpc-old-ca')))?.code, 14, 'gRPC: the old CA no longer vouches');
  gOld.close();
});

t.test('start-up fails fast on a file that is not what it should be, naming it', async (t) => {
  const pki = await makePki(['acme']);
  const sink = await startOtlpSink();
  t.teardown(() => sink.close());
  for (const listener of ['grpc', 'http', 'admin'] as const) {
    await t.rejects(
      startTestGateway([sinkExporter(sink)], (c) => {
        const bad = serverTls(pki, { certFile: pki.serverKey });
        if (listener === 'admin') c.admin.tls = bad;
        else c.receivers[listener].tls = bad;
      }),
      { message: `TLS for the ${listener} listener: ${pki.serverKey}: not a PEM certificate` },
      listener,
    );
  }
});

t.test('the OTel SDK gRPC exporter, configured with the env variables certs init prints, delivers over mTLS', async (t) => {
  const pki = await makePki(['acme']);
  const { sink, grpc: grpcPort } = await tlsGateway(t, pki);
  const env = {
    OTEL_EXPORTER_OTLP_CERTIFICATE: pki.ca,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: pki.clients.acme!.cert,
    OTEL_EXPORTER_OTLP_CLIENT_KEY: pki.clients.acme!.key,
  };
  // The exporter reads them when it first connects; this file runs in its own process.
  Object.assign(process.env, env);
  t.teardown(() => {
    for (const k of Object.keys(env)) delete process.env[k];
  });
  const exporter = new OTLPTraceExporter({ url: `https://localhost:${grpcPort}` });
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'sdk' }), spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
  provider.getTracer('t').startSpan('sdk-span').end();
  await provider.forceFlush();
  const spans = memory.getFinishedSpans();
  const result = await new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
  await exporter.shutdown();
  await provider.shutdown();
  t.equal(result.code, ExportResultCode.SUCCESS, String(result.error ?? ''));
  await sink.waitFor(() => spanNames(sink).includes('sdk-span'));
  t.pass('delivered');
});
