// Tenant isolation end to end, over real TLS handshakes: identities bind requests to tenants
// (SPIFFE certificates, an explicit multi-tenant SPIFFE ID, bearer tokens), X-Scope-OrgID picks among
// bound tenants only, quotas answer 429 / RESOURCE_EXHAUSTED with a retry hint the official SDK
// honours, and the backend sees every tenant's data under that tenant's header only.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as TracesProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { issueLeaf, validityFor } from '../../src/cli/commands/certs-init.js';
import type { GatewayConfig } from '../../src/config/types.js';
import type { RunningGateway } from '../../src/gateway.js';
import { decodeRpcStatus } from '../../src/rpc-status.js';
import { SIGNAL_WIRE } from '../../src/signals.js';
import { flattenRequests } from '../helpers/flatten.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { startOtlpSink, type OtlpSink } from '../helpers/otlp-sink.js';
import { httpsPost, loadCa, makePki, serverTls, type ClientIdentity, type Pki } from '../helpers/tls.js';
import { anyString, bytes, kv, len, span, type Bytes } from '../helpers/wire-builder.js';
import { complete } from '../helpers/policy-file.js';

const PROTOBUF = 'application/x-protobuf';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** One resource (with an optional client-supplied tenant.id) and these spans. */
function request(spans: Bytes[], spoofTenant?: string): Buffer {
  const resource = len(1, ...(spoofTenant ? [len(1, kv('tenant.id', anyString(spoofTenant)))] : [len(1, kv('service.name', anyString('svc')))]));
  return Buffer.from(bytes(len(1, resource, len(2, ...spans.map((s) => len(2, s))))));
}

function spans(prefix: string, n: number, offset = 0): Bytes[] {
  return Array.from({ length: n }, (_, i) => {
    const k = offset + i;
    return span({ traceId: k.toString(16).padStart(32, '0'), spanId: (k + 1).toString(16).padStart(16, '0'), name: `${prefix}-${k}` });
  });
}

function tenantsFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stella-tenancy-'));
  const file = join(dir, 'tenants.yaml');
  writeFileSync(file, complete(text));
  return file;
}

type Obj = Record<string, unknown>;

/** The string value of a resource attribute in a decoded (reference decoder) resource. */
function resourceAttr(resource: unknown, key: string): string | undefined {
  const attrs = ((resource as Obj | undefined)?.attributes ?? []) as Obj[];
  const a = attrs.find((x) => x.key === key);
  return (a?.value as Obj | undefined)?.stringValue as string | undefined;
}

interface Delivered {
  tenantHeader: string | undefined;
  name: string;
  stamped: string | undefined;
}

function delivered(sink: OtlpSink): Delivered[] {
  const out: Delivered[] = [];
  for (const r of sink.received('traces')) {
    for (const item of flattenRequests('traces', [r.body])) {
      out.push({ tenantHeader: r.headers['x-scope-orgid'], name: (item.item as { name?: string }).name ?? '', stamped: resourceAttr(item.resource, 'tenant.id') });
    }
  }
  return out;
}

/** A unary export over gRPC with metadata; resolves the error (null on success). */
function grpcExport(port: number, id: ClientIdentity | undefined, body: Buffer, metadata: Record<string, string> = {}): Promise<grpc.ServiceError | null> {
  const buf = (v: Buffer | string | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));
  const creds = id ? grpc.credentials.createSsl(buf(id.ca), buf(id.key), buf(id.cert)) : grpc.credentials.createInsecure();
  const client = new grpc.Client(`127.0.0.1:${port}`, creds, id ? { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' } : {});
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(SIGNAL_WIRE.traces.grpcPath, (b: Buffer) => b, (b: Buffer) => b, body, md, { deadline: Date.now() + 20_000 }, (err) => {
      client.close();
      resolve(err);
    });
  });
}

async function plainPost(url: string, body: Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': PROTOBUF, ...headers }, body });
}

interface Setup {
  pki: Pki;
  gw: RunningGateway;
  sink: OtlpSink;
  http: number;
  grpc: number;
  ids: Record<'acme' | 'globex' | 'ci' | 'none', ClientIdentity>;
}

const TOKEN = 'globex-agent-token-1';

async function mtlsGateway(t: Test, patch: (c: GatewayConfig) => void = () => {}): Promise<Setup> {
  const pki = await makePki(['acme', 'globex']);
  const ci = await issueLeaf(await loadCa(pki), { commonName: 'ci', usage: 'client', uris: ['spiffe://stella.local/ci'], validity: validityFor(1) });
  const file = tenantsFile(`identities:
  - name: ci
    spiffeId: spiffe://stella.local/ci
    tenants: [acme, globex]
  - name: globex-agent
    tokenSha256: ${sha(TOKEN)}
    tenants: globex
`);
  const sink = await startOtlpSink();
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    // A client CA but no requireClientCert: requests without a certificate reach the identifier,
    // which must refuse them itself (and accept a bearer token instead).
    c.receivers.http.tls = serverTls(pki, { requireClientCert: false });
    c.receivers.grpc.tls = serverTls(pki, { requireClientCert: false });
    c.tenancy.tenantsFile = file;
    patch(c);
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  const ca = pki.read(pki.ca);
  const client = (name: 'acme' | 'globex'): ClientIdentity => ({ ca, cert: pki.read(pki.clients[name]!.cert), key: pki.read(pki.clients[name]!.key) });
  return {
    pki,
    gw,
    sink,
    http: gw.addresses.http!.port,
    grpc: gw.addresses.grpc!.port,
    ids: { acme: client('acme'), globex: client('globex'), ci: { ca, cert: ci.certPem, key: ci.keyPem }, none: { ca } },
  };
}

t.test('mTLS: a tenant certificate naming another tenant is 403 / PERMISSION_DENIED; no identity is 401 / UNAUTHENTICATED', async (t) => {
  const { gw, sink, http, grpc: grpcPort, ids } = await mtlsGateway(t);
  const body = request(spans('x', 1));

  const cross = await httpsPost(http, '/v1/traces', body, PROTOBUF, ids.acme, { headers: { 'content-type': PROTOBUF, 'x-scope-orgid': 'globex' } });
  t.equal(cross.status, 403, 'HTTP: acme asking for globex');
  t.match(decodeRpcStatus(cross.body)?.message, /not bound to tenant "globex"/);
  const gCross = await grpcExport(grpcPort, ids.acme, body, { 'x-scope-orgid': 'globex' });
  t.equal(gCross?.code, grpc.status.PERMISSION_DENIED, 'gRPC: acme asking for globex');

  const anon = await httpsPost(http, '/v1/traces', body, PROTOBUF, ids.none);
  t.equal(anon.status, 401, 'HTTP over TLS without a certificate or token');
  t.equal((await grpcExport(grpcPort, ids.none, body))?.code, grpc.status.UNAUTHENTICATED, 'gRPC over TLS without identity');
  const badToken = await httpsPost(http, '/v1/traces', body, PROTOBUF, ids.none, { headers: { 'content-type': PROTOBUF, authorization: 'Bearer nope' } });
  t.equal(badToken.status, 401, 'an unknown token');

  const refused = (await gw.metrics.receiverRefusedRequests.get()).values;
  const count = (reason: string) => refused.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
  t.equal(count('PERMISSION_DENIED'), 2);
  t.equal(count('UNAUTHENTICATED'), 3);
  t.equal(sink.requests.length, 0, 'nothing refused reached the backend');
});

t.test('a multi-tenant identity picks each of its tenants; tokens work without a certificate; the backend sees each under its header', async (t) => {
  const { sink, http, grpc: grpcPort, ids } = await mtlsGateway(t);
  const sent: [string, Promise<number>][] = [
    ['acme', httpsPost(http, '/v1/traces', request(spans('ci-http-acme', 2)), PROTOBUF, ids.ci, { headers: { 'content-type': PROTOBUF, 'x-scope-orgid': 'acme' } }).then((r) => r.status)],
    ['globex', httpsPost(http, '/v1/traces', request(spans('ci-http-globex', 2)), PROTOBUF, ids.ci, { headers: { 'content-type': PROTOBUF, 'x-scope-orgid': 'globex' } }).then((r) => r.status)],
    ['acme', grpcExport(grpcPort, ids.ci, request(spans('ci-grpc-default', 2))).then((e) => (e ? e.code : 200))],
    ['globex', grpcExport(grpcPort, ids.ci, request(spans('ci-grpc-globex', 2)), { 'x-scope-orgid': 'globex' }).then((e) => (e ? e.code : 200))],
    ['globex', httpsPost(http, '/v1/traces', request(spans('token-http', 2)), PROTOBUF, ids.none, { headers: { 'content-type': PROTOBUF, authorization: `Bearer ${TOKEN}` } }).then((r) => r.status)],
    ['globex', grpcExport(grpcPort, ids.none, request(spans('token-grpc', 2)), { authorization: `Bearer ${TOKEN}` }).then((e) => (e ? e.code : 200))],
  ];
  t.same(await Promise.all(sent.map(([, p]) => p)), [200, 200, 200, 200, 200, 200], 'all accepted');
  t.match((await grpcExport(grpcPort, ids.ci, request(spans('ci-initech', 1)), { 'x-scope-orgid': 'initech' }))?.code, grpc.status.PERMISSION_DENIED, 'but no tenant it is not bound to');
  await sink.waitFor(() => delivered(sink).length === 12);
  const byHeader = new Map<string, string[]>();
  for (const d of delivered(sink)) byHeader.set(d.tenantHeader ?? '(none)', [...(byHeader.get(d.tenantHeader ?? '(none)') ?? []), d.name]);
  t.same([...byHeader.keys()].sort(), ['acme', 'globex'], 'every export request carries X-Scope-OrgID');
  t.same(byHeader.get('acme')!.map((n) => n.replace(/-\d+$/, '')).sort(), ['ci-grpc-default', 'ci-grpc-default', 'ci-http-acme', 'ci-http-acme']);
  t.same(byHeader.get('globex')!.map((n) => n.replace(/-\d+$/, '')).sort(), ['ci-grpc-globex', 'ci-grpc-globex', 'ci-http-globex', 'ci-http-globex', 'token-grpc', 'token-grpc', 'token-http', 'token-http']);
});

t.test('plain listeners take only bearer tokens unless anonymous is allowed', async (t) => {
  const sink = await startOtlpSink();
  const file = tenantsFile(`identities:\n  - { name: agent, tokenSha256: ${sha(TOKEN)}, tenants: [globex] }\n`);
  const strict = await startTestGateway([sinkExporter(sink)], (c) => {
    c.tenancy.tenantsFile = file;
    c.tenancy.anonymous = 'never';
  });
  const open = await startTestGateway([sinkExporter(sink)], (c) => {
    c.tenancy.tenantsFile = file;
  });
  t.teardown(async () => {
    await Promise.all([strict.stop(2000), open.stop(2000)]);
    await sink.close();
  });
  const body = request(spans('plain', 1));
  t.equal((await plainPost(baseUrl(strict, 'http'), body)).status, 401, 'no identity on a plain listener (anonymous: never)');
  t.equal((await grpcExport(strict.addresses.grpc!.port, undefined, body))?.code, grpc.status.UNAUTHENTICATED);
  t.equal((await plainPost(baseUrl(strict, 'http'), body, { authorization: `Bearer ${TOKEN}` })).status, 200, 'a bearer token');
  t.equal((await grpcExport(strict.addresses.grpc!.port, undefined, body, { authorization: `Bearer ${TOKEN}` })), null, 'a bearer token over gRPC');
  t.equal((await plainPost(baseUrl(open, 'http'), request(spans('anon', 1)))).status, 200, 'the default: anonymous on plain loopback');
  t.equal((await plainPost(baseUrl(open, 'http'), body, { 'x-scope-orgid': 'globex' })).status, 403, 'anonymous cannot pick a tenant');
  await sink.waitFor(() => delivered(sink).length === 3);
  t.same(delivered(sink).map((d) => `${d.tenantHeader}:${d.name}`).sort(), ['default:anon-0', 'globex:plain-0', 'globex:plain-0']);
});

t.test('over quota: 429 + Retry-After and RESOURCE_EXHAUSTED + RetryInfo; the OTel SDK exporter retries and delivers', async (t) => {
  const sink = await startOtlpSink();
  const file = tenantsFile('tenants:\n  default:\n    quota: { itemsPerSecond: 4, itemsBurst: 4 }\n');
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.tenancy.tenantsFile = file;
  });
  t.teardown(async () => {
    await gw.stop(2000);
    await sink.close();
  });
  const url = baseUrl(gw, 'http');
  t.equal((await plainPost(url, request(spans('burst', 8)))).status, 200, 'within the burst: admitted, then 8 items charged (4 in debt)');
  const over = await plainPost(url, request(spans('over', 1)));
  t.equal(over.status, 429);
  // (1 - -4) items at 4/s = 1.25 s less the time since the charge, rounded up to whole seconds.
  t.ok(['1', '2'].includes(over.headers.get('retry-after') ?? ''), `Retry-After is the refill time in whole seconds (${over.headers.get('retry-after')})`);
  const gErr = await grpcExport(gw.addresses.grpc!.port, undefined, request(spans('over-grpc', 1)));
  t.equal(gErr?.code, grpc.status.RESOURCE_EXHAUSTED);
  const details = gErr?.metadata.get('grpc-status-details-bin')[0];
  const status = details ? decodeRpcStatus(details as Buffer) : undefined;
  t.ok(status?.retryDelayMs !== undefined && status.retryDelayMs > 500 && status.retryDelayMs <= 1250, `RetryInfo carries the refill time (${status?.retryDelayMs} ms)`);

  const exporter = new TracesProto({ url: `${url}/v1/traces` });
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'sdk' }), spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
  provider.getTracer('t').startSpan('sdk-after-quota').end();
  await provider.forceFlush();
  const started = Date.now();
  const result = await new Promise<ExportResult>((resolve) => exporter.export(memory.getFinishedSpans(), resolve));
  const took = Date.now() - started;
  await exporter.shutdown();
  await provider.shutdown();
  t.equal(result.code, ExportResultCode.SUCCESS, String(result.error ?? ''));
  t.ok(took >= 500, `the SDK waited for the hint before it was admitted (${took} ms)`);
  await sink.waitFor(() => delivered(sink).some((d) => d.name === 'sdk-after-quota'));
  const quota = (await gw.metrics.tenantQuotaRefused.get()).values;
  t.ok(quota.some((v) => v.labels.tenant === 'default' && v.labels.reason === 'items' && v.value >= 3), 'refusals counted per tenant and reason');
  t.notOk(delivered(sink).some((d) => d.name.startsWith('over')), 'refused requests were not processed');
});

t.test('two tenants under concurrent load: every span arrives, only under its own tenant header and tenant.id', async (t) => {
  const { gw, sink, http, grpc: grpcPort, ids } = await mtlsGateway(t);
  const REQUESTS = 20;
  const SPANS = 25;
  const sends: Promise<unknown>[] = [];
  for (const tenant of ['acme', 'globex'] as const) {
    const other = tenant === 'acme' ? 'globex' : 'acme';
    for (let i = 0; i < REQUESTS; i++) {
      // Every other request claims the other tenant in its resource: the gateway must overwrite it.
      const body = request(spans(tenant, SPANS, i * SPANS), i % 2 === 0 ? other : undefined);
      sends.push(
        i % 2 === 0
          ? httpsPost(http, '/v1/traces', body, PROTOBUF, ids[tenant]).then((r) => t.equal(r.status, 200))
          : grpcExport(grpcPort, ids[tenant], body).then((e) => t.equal(e, null)),
      );
    }
  }
  await Promise.all(sends);
  const total = 2 * REQUESTS * SPANS;
  await sink.waitFor(() => delivered(sink).length >= total, 10_000);
  const all = delivered(sink);
  t.equal(all.length, total, 'nothing lost, nothing duplicated');
  t.equal(new Set(all.map((d) => d.name)).size, total, 'every span exactly once');
  for (const tenant of ['acme', 'globex']) {
    const mine = all.filter((d) => d.name.startsWith(`${tenant}-`));
    t.equal(mine.length, REQUESTS * SPANS, `${tenant}: all spans arrived`);
    t.equal(mine.filter((d) => d.tenantHeader !== tenant).length, 0, `${tenant}: none under another tenant's header`);
    t.equal(mine.filter((d) => d.stamped !== tenant).length, 0, `${tenant}: every resource carries tenant.id=${tenant} (spoofed values overwritten)`);
  }
  const overwrites = (await gw.metrics.tenantAttributeOverwrites.get()).values;
  t.same(
    overwrites.map((v) => [v.labels.tenant, v.value]).sort(),
    [['acme', REQUESTS / 2], ['globex', REQUESTS / 2]],
    'each spoofed tenant.id counted once, under the tenant that sent it',
  );
});

t.test('per-tenant export override: that tenant goes to its own backend, the others to the shared one; tenant labels are capped', async (t) => {
  const own = await startOtlpSink();
  t.teardown(() => own.close());
  const { gw, sink, http, ids } = await mtlsGateway(t, (c) => {
    c.tenancy.exportOverrides = { globex: { [c.exporters[0]!.name]: own.grpcAddress } };
    c.tenancy.maxTenantLabels = 1;
  });
  t.equal((await httpsPost(http, '/v1/traces', request(spans('a', 1)), PROTOBUF, ids.acme)).status, 200);
  t.equal((await httpsPost(http, '/v1/traces', request(spans('g', 1)), PROTOBUF, ids.globex)).status, 200);
  await sink.waitFor(() => delivered(sink).length === 1);
  await own.waitFor(() => delivered(own).length === 1);
  t.same(delivered(sink).map((d) => `${d.tenantHeader}:${d.name}`), ['acme:a-0']);
  t.same(delivered(own).map((d) => `${d.tenantHeader}:${d.name}`), ['globex:g-0']);
  const accepted = (await gw.metrics.receiverAcceptedItems.get()).values.map((v) => v.labels.tenant).sort();
  t.same(accepted, ['_other', 'acme'], 'the first tenant keeps its label, the next shares _other');
});
