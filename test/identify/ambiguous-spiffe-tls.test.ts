// Issue 18 finding 9: over real mTLS handshakes, a client certificate carrying two SPIFFE IDs (two
// tenants) is refused on both protocols with AMBIGUOUS_IDENTITY (401 / UNAUTHENTICATED), counted in
// receiver_refused_requests_total{reason="AMBIGUOUS_IDENTITY"}, and nothing reaches the backend; a
// one-ID certificate from the same CA keeps being served.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { issueLeaf, validityFor } from '../../src/cli/commands/certs-init.js';
import { decodeRpcStatus } from '../../src/rpc-status.js';
import { SIGNAL_WIRE } from '../../src/signals.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { httpsPost, loadCa, makePki, serverTls, type ClientIdentity } from '../helpers/tls.js';
import { anyString, bytes, kv, len, span } from '../helpers/wire-builder.js';

const body = Buffer.from(bytes(len(1, len(1, len(1, kv('service.name', anyString('svc')))), len(2, len(2, span({ traceId: '01'.repeat(16), spanId: '02'.repeat(8), name: 's' }))))));

t.test('two SPIFFE IDs: refused on HTTP and gRPC, counted; one ID: served', async (t) => {
  const pki = await makePki(['acme', 'globex']);
  const ca = await loadCa(pki);
  const two = await issueLeaf(ca, { commonName: 'both', usage: 'client', uris: ['spiffe://stella.local/tenant/acme', 'spiffe://stella.local/tenant/globex'], validity: validityFor(1) });
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.receivers.http.tls = serverTls(pki);
    c.receivers.grpc.tls = serverTls(pki);
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  const caPem = pki.read(pki.ca);
  const ambiguous: ClientIdentity = { ca: caPem, cert: Buffer.from(two.certPem), key: Buffer.from(two.keyPem) };
  const acme: ClientIdentity = { ca: caPem, cert: pki.read(pki.clients.acme!.cert), key: pki.read(pki.clients.acme!.key) };

  const http = await httpsPost(gw.addresses.http!.port, '/v1/traces', body, 'application/x-protobuf', ambiguous);
  t.equal(http.status, 401);
  t.match(decodeRpcStatus(http.body), { code: grpc.status.UNAUTHENTICATED, message: /names 2 SPIFFE IDs .*an X\.509-SVID has exactly one/ });

  const client = new grpc.Client(`127.0.0.1:${gw.addresses.grpc!.port}`, grpc.credentials.createSsl(caPem, Buffer.from(two.keyPem), Buffer.from(two.certPem)), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
  t.teardown(() => client.close());
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    client.makeUnaryRequest(SIGNAL_WIRE.traces.grpcPath, (b: Buffer) => b, (b: Buffer) => b, body, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (e) => resolve(e));
  });
  t.equal(err?.code, grpc.status.UNAUTHENTICATED);
  t.match(err?.details, /names 2 SPIFFE IDs/);

  t.equal((await httpsPost(gw.addresses.http!.port, '/v1/traces', body, 'application/x-protobuf', acme)).status, 200, 'a one-ID certificate is served');
  const metrics = await (await fetch(`${baseUrl(gw, 'admin')}/metrics`)).text();
  const refusedLines = metrics.split('\n').filter((l) => l.startsWith('receiver_refused_requests_total{') && l.includes('reason="AMBIGUOUS_IDENTITY"'));
  t.equal(refusedLines.reduce((s, l) => s + Number(l.split(' ').pop()), 0), 2, 'both refusals counted');
  t.equal(sink.received('traces').length <= 1, true, 'only the one-ID request can reach the backend');
});
