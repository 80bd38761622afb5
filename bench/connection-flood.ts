// Silent connections against a real gateway process (issue 18, finding 3): N raw TCP connections to the
// gRPC port that never send the HTTP/2 preface, opened in batches the listen backlog can take. Reports
// the most connections the gateway held at once against receivers.grpc.maxConnections, how they were
// closed, and whether /healthz and a good gRPC client were served during and after the flood.
//
//   npm run build && node dist/bench/connection-flood.js [--connections 20000] [--max 4096] [--handshake 2s]
import * as http2 from 'node:http2';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { grpcCall } from '../test/helpers/raw-otlp-clients.js';
import { generateSpans } from '../test/helpers/generate-otlp.js';
import { httpGet, startGatewayProcess } from './gateway-process.js';

const { values } = parseArgs({
  options: { connections: { type: 'string', default: '20000' }, max: { type: 'string', default: '4096' }, handshake: { type: 'string', default: '2s' } },
});
const N = Number(values.connections);
const dir = mkdtempSync(join(tmpdir(), 'stella-flood-'));
const configFile = join(dir, 'gateway.yaml');
writeFileSync(configFile, `receivers:\n  grpc:\n    maxConnections: ${values.max}\n    handshakeTimeout: ${values.handshake}\n`);
const gw = await startGatewayProcess({ configFile, workers: 1 });
const sockets: net.Socket[] = [];
let maxHeld = 0;
let healthzFailures = 0;
let healthzOk = 0;
try {
  const t0 = Date.now();
  for (let opened = 0; opened < N; ) {
    const batch = Math.min(400, N - opened);
    for (let i = 0; i < batch; i++) {
      const [host, port] = gw.grpcAddress.split(':');
      const s = net.connect(Number(port), host);
      s.resume();
      s.on('error', () => {});
      s.on('close', () => s.destroy());
      sockets.push(s);
    }
    opened += batch;
    for (;;) {
      const metrics = await gw.metrics();
      const held = metrics.get('receiver_connections') ?? 0;
      maxHeld = Math.max(maxHeld, held);
      const r = await httpGet(`${gw.adminUrl}/healthz`, 5000).then((x) => x.status === 200, () => false);
      if (r) healthzOk++;
      else healthzFailures++;
      if ((metrics.get('receiver_connections_closed_total') ?? 0) + held >= opened) break;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  // The last silent connections still fill the table (a good client is refused at the limit, as it
  // should be) until the preface timeout closes them: the good call goes once the gateway is below it.
  const floodEnd = Date.now();
  while ((((await gw.metrics()).get('receiver_connections') ?? 0) >= Number(values.max)) && Date.now() - floodEnd < 60_000) {
    await new Promise((res) => setTimeout(res, 50));
  }
  const freedAfterMs = Date.now() - floodEnd;
  const session = http2.connect(`http://${gw.grpcAddress}`);
  session.on('error', () => {});
  const good = await grpcCall(session, 'traces', Buffer.from(generateSpans(10)), { timeoutMs: 30_000 });
  const metrics = await gw.metrics();
  console.log(
    `connection flood, node ${process.version}, ${new Date().toISOString()}: ${N} silent connections in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
      `held at most ${maxHeld} (limit ${values.max}); closed by the gateway on a limit (over_limit or handshake_timeout) ${metrics.get('receiver_connections_closed_total') ?? 0}; ` +
      `/healthz ok ${healthzOk}, failed ${healthzFailures}; below the limit ${freedAfterMs} ms after the last batch; a good gRPC call then: grpc-status ${good.status ?? good.error}`,
  );
  session.close();
} finally {
  sockets.forEach((s) => s.destroy());
  await gw.stop(5000);
}
