// What the receivers hand the tenancy stage over TLS: RequestContext.peerCertificate carries the client
// certificate only when the handshake verified it against the client CA. With a client CA but
// requireClientCert false, a client without a certificate, or with one from another CA, still gets
// through the handshake, and must arrive with no certificate (it proves nothing).
import t from 'tap';
import { createGrpcReceiver } from '../../src/receive/grpc-receiver.js';
import { createHttpReceiver } from '../../src/receive/http-receiver.js';
import type { Receiver } from '../../src/receive/types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../helpers/gateway.js';
import { clientCert, grpcTlsClient, httpsPost, makePki, otherCa, serverTls, type ClientIdentity } from '../helpers/tls.js';
import { scriptedIngest } from './scripted-ingest.js';

interface PeerCert {
  subjectaltname?: string;
  fingerprint256?: string;
}

t.test('the verified client certificate reaches ingest over HTTP and gRPC; an unverified one does not', async (t) => {
  const pki = await makePki(['acme']);
  const tls = serverTls(pki, { requireClientCert: false });
  const ingest = scriptedIngest();
  const deps = { open: ingest.open, metrics: createMetrics({ defaultMetrics: false }), logger: silentLogger };
  const http = createHttpReceiver({ enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxBodyBytes: 1 << 20, tls }, deps);
  const grpc = createGrpcReceiver({ enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxMessageBytes: 1 << 20, tls }, deps);
  const receivers: Receiver[] = [http, grpc];
  t.teardown(() => Promise.all(receivers.map((r) => r.stop(500))));
  const httpPort = (await http.start()).port;
  const grpcPort = (await grpc.start()).port;

  const ca = pki.read(pki.ca);
  const foreign = await clientCert(await otherCa(), 'acme');
  const cases: [string, ClientIdentity, string | undefined][] = [
    ['the CA-issued certificate', { ca, cert: pki.read(pki.clients.acme!.cert), key: pki.read(pki.clients.acme!.key) }, 'URI:spiffe://stella.local/tenant/acme'],
    ['no certificate', { ca }, undefined],
    ['a certificate from another CA', { ca, cert: foreign.certPem, key: foreign.keyPem }, undefined],
  ];
  for (const [what, id, san] of cases) {
    const before = ingest.calls.length;
    const res = await httpsPost(httpPort, '/v1/traces', Buffer.alloc(0), 'application/x-protobuf', id);
    t.equal(res.status, 200, `HTTP, ${what}: served (requireClientCert is false)`);
    const client = grpcTlsClient(grpcPort, id);
    t.equal(await client.export('traces', Buffer.alloc(0)), null, `gRPC, ${what}: served`);
    client.close();
    const calls = ingest.calls.slice(before);
    t.same(calls.map((c) => c.ctx.protocol), ['http', 'grpc']);
    for (const call of calls) {
      const cert = call.ctx.peerCertificate as PeerCert | undefined;
      t.equal(cert?.subjectaltname, san, `${call.ctx.protocol}, ${what}: peerCertificate ${san ?? 'absent'}`);
    }
  }
});
