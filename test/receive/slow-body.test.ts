// Issue 18 (overload without collapse; bad input loses nothing else): one client that sends its body
// slowly must not make the gateway refuse everyone else. The receivers shed a request on its headers
// when bodies have been arriving too late for process.maxQueueWait (docs/guides/overload.md); that
// estimate used to be the last body's lag, so one body trickled in over 2 s made a gateway with
// maxQueueWait 200 ms refuse every call for the next ~1.8 s. Now it is the median of recent bodies.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import t from 'tap';
import type { RunningGateway } from '../../src/gateway.js';
import { SIGNAL_WIRE } from '../../src/signals.js';
import { baseUrl, sinkExporter, startTestGateway } from '../helpers/gateway.js';
import { generateSpans } from '../helpers/generate-otlp.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { grpcCall, httpPost } from '../helpers/raw-otlp-clients.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const TRICKLE_MS = 2_000;
const PIECES = 20;
const body = Buffer.from(generateSpans(20));

async function gateway(t: TapTest): Promise<RunningGateway> {
  const sink = await startOtlpSink();
  t.teardown(() => sink.close());
  const gw = await startTestGateway([sinkExporter(sink)], (c) => {
    c.process.maxQueueWaitMs = 200;
  });
  t.teardown(() => gw.stop(2000));
  return gw;
}

/** Writes `data` in PIECES pieces spread over TRICKLE_MS (a slow client's pace, not a synchronisation). */
function trickle(write: (piece: Buffer) => void, end: () => void, data: Buffer): void {
  const size = Math.ceil(data.length / PIECES);
  let i = 0;
  const timer = setInterval(() => {
    write(data.subarray(i * size, (i + 1) * size));
    if (++i === PIECES) {
      clearInterval(timer);
      end();
    }
  }, TRICKLE_MS / PIECES);
}

t.test('gRPC: a call whose message trickles in over 2 s is served, and so is everyone after it', async (t) => {
  const gw = await gateway(t);
  const session = http2.connect(`http://127.0.0.1:${gw.addresses.grpc!.port}`);
  session.on('error', () => {});
  t.teardown(() => session.close());
  t.equal((await grpcCall(session, 'traces', body)).status, 0, 'a normal call first');

  const framed = Buffer.alloc(5 + body.length);
  framed.writeUInt32BE(body.length, 1);
  body.copy(framed, 5);
  const slow = await new Promise<string | undefined>((resolve) => {
    const stream = session.request({ ':method': 'POST', ':path': SIGNAL_WIRE.traces.grpcPath, 'content-type': 'application/grpc', te: 'trailers' });
    let status: string | undefined;
    stream.on('response', (h) => (status = (h['grpc-status'] as string | undefined) ?? status));
    stream.on('trailers', (h) => (status = h['grpc-status'] as string));
    stream.on('data', () => {});
    stream.on('error', () => {});
    stream.on('close', () => resolve(status));
    trickle((p) => stream.write(p), () => stream.end(), framed);
  });
  t.equal(slow, '0', 'the slow call itself is served');
  for (let i = 0; i < 5; i++) {
    const r = await grpcCall(session, 'traces', body);
    t.equal(r.status, 0, `call ${i + 1} after the slow one is served${r.status !== 0 ? ` (got ${r.status}: ${r.message})` : ''}`);
  }
});

t.test('HTTP: a request whose body trickles in over 2 s is served, and so is everyone after it', async (t) => {
  const gw = await gateway(t);
  const url = baseUrl(gw, 'http');
  t.equal((await httpPost(url, 'traces', body)).status, 200, 'a normal request first');
  const slow = await new Promise<number | undefined>((resolve) => {
    const req = http.request(`${url}${SIGNAL_WIRE.traces.httpPath}`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/x-protobuf', 'content-length': String(body.length) },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(undefined));
    trickle((p) => req.write(p), () => req.end(), body);
  });
  t.equal(slow, 200, 'the slow request itself is served');
  for (let i = 0; i < 5; i++) {
    const r = await httpPost(url, 'traces', body);
    t.equal(r.status, 200, `request ${i + 1} after the slow one is served${r.status !== 200 ? ` (got ${r.status}: ${r.message})` : ''}`);
  }
});
