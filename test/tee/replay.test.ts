// Replay: a verified bundle's records arrive at an OTLP backend (the test sink, over gRPC and HTTP)
// in receive order, and decode to exactly the archived spans, data points and log records.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createOtlpGrpcTransport } from '../../src/export/otlp-grpc-transport.js';
import { createOtlpHttpTransport } from '../../src/export/otlp-http-transport.js';
import type { Transport } from '../../src/export/transport.js';
import { SIGNALS } from '../../src/signals.js';
import { captureWindow } from '../../src/tee/capture.js';
import { replayBundle } from '../../src/tee/replay.js';
import { createKeySigner } from '../../src/tee/sign.js';
import { verifyBundle } from '../../src/tee/verify-bundle.js';
import { flattenRequests } from '../helpers/flatten.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { bundlePath, makeArchive, T0, WINDOW } from './bundle-archive.js';

const archive = makeArchive();
const config = (endpoint: string) => ({ endpoint, headers: {}, compression: 'none' as const, timeoutMs: 5000, concurrency: 1 });

for (const protocol of ['grpc', 'http'] as const) {
  t.test(`replay over ${protocol} reproduces the archived items, in order, rate-limited`, async (t) => {
    const sink = await startOtlpSink();
    t.teardown(() => sink.close());
    const { path } = await captureWindow({ root: archive.root, tenant: 'acme', ...WINDOW, signals: [...SIGNALS], profile: 'default', signer: createKeySigner(archive.keys.privateKeyPem), now: () => T0, out: bundlePath(archive.dataDir) });
    const v = verifyBundle(readFileSync(path), archive.keys.publicKeyPem);
    if (!v.ok) throw new Error(JSON.stringify(v.failures));
    const transport: Transport = protocol === 'grpc' ? createOtlpGrpcTransport(config(sink.grpcAddress)) : createOtlpHttpTransport(config(sink.httpUrl));
    t.teardown(() => transport.close());
    // The first request fails retryably: replay retries it rather than skipping a record.
    sink.failNext(1, { retryAfterMs: 10 });
    const progress: number[] = [];
    const started = Date.now();
    const result = await replayBundle({ manifest: v.manifest, chunks: v.chunks, transport, ratePerSec: 50, onProgress: (sent) => progress.push(sent) });
    const elapsed = Date.now() - started;
    t.match(result, { ok: true, records: archive.inWindow.length });
    t.same(progress, archive.inWindow.map((_, i) => i + 1));
    t.ok(elapsed >= ((archive.inWindow.length - 1) * 1000) / 50 - 5, `rate limited (${elapsed} ms)`);
    const received = sink.received();
    t.equal(received.length, archive.inWindow.length, 'one request per record');
    t.same(
      received.map((r) => r.body.toString('hex')),
      archive.inWindow.map((r) => Buffer.from(r.payload).toString('hex')),
      'bodies are the archived payloads, in receive order',
    );
    for (const signal of SIGNALS) {
      const got = flattenRequests(signal, sink.received(signal).map((r) => r.body));
      const want = flattenRequests(signal, archive.inWindow.filter((r) => r.signal === signal).map((r) => r.payload));
      t.ok(want.length > 0, `${signal}: the archive has some`);
      t.same(got, want, `${signal}: decoded items equal`);
    }
  });
}

t.test('a permanent refusal stops the replay and says which record', async (t) => {
  const sink = await startOtlpSink();
  t.teardown(() => sink.close());
  const { path } = await captureWindow({ root: archive.root, tenant: 'acme', ...WINDOW, signals: ['logs'], profile: 'default', signer: createKeySigner(archive.keys.privateKeyPem), now: () => T0, out: bundlePath(archive.dataDir) });
  const v = verifyBundle(readFileSync(path), archive.keys.publicKeyPem);
  if (!v.ok) throw new Error('verify');
  const transport = createOtlpHttpTransport(config(sink.httpUrl));
  t.teardown(() => transport.close());
  sink.failNext(1, { httpStatus: 400 });
  const result = await replayBundle({ manifest: v.manifest, chunks: v.chunks, transport });
  t.match(result, { ok: false, sent: 0, message: /^record 1 of \d+ \(logs\) was refused after 1 attempt/ });
});
