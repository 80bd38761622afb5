// A stand-in for `stella telemetry serve` that speaks just enough of its interface for the bench's
// gateway mode to be tested on its own: OTLP/HTTP on --http (each request forwarded to the
// otlp-http:// --export URL before it is acknowledged), /readyz and /metrics on --admin with the
// metric names the bench reads. Run by the bench through STELLA_BENCH_CLI.
//   FAKE_SPANS=N        spans per request (for the accepted/sent item counters)
//   FAKE_RECORD=FILE    write {pid, argv} there at start-up
//   FAKE_MODE=crash     write a log line and exit 1 instead of starting
import { writeFileSync } from 'node:fs';
import * as http from 'node:http';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const hostPort = (v: string | undefined): [string, number] => {
  const [h, p] = (v ?? '').split(':');
  return [h!, Number(p)];
};

if (process.env.FAKE_RECORD) writeFileSync(process.env.FAKE_RECORD, JSON.stringify({ pid: process.pid, argv }));
if (process.env.FAKE_MODE === 'crash') {
  process.stderr.write('{"level":"fatal","msg":"boom: cannot start"}\n');
  process.exit(1);
}

const spans = Number(process.env.FAKE_SPANS ?? 1);
let received = 0;
let forwarded = 0;
const exportUrl = flag('--export')?.replace(/^otlp-http:/, 'http:');
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function forward(body: Buffer): Promise<void> {
  if (!exportUrl) return Promise.resolve();
  return new Promise((resolve) => {
    const req = http.request(new URL('/v1/traces', exportUrl), { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf' } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) forwarded++;
        resolve();
      });
    });
    req.on('error', () => resolve());
    req.end(body);
  });
}

const otlp = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received++;
    void forward(Buffer.concat(chunks)).then(() => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
      res.end();
    });
  });
});
otlp.keepAliveTimeout = 60_000;

const startedAt = Date.now();
const admin = http.createServer((req, res) => {
  if (req.url === '/readyz') {
    // Not ready for the first 300 ms, so the bench has to poll.
    res.writeHead(Date.now() - startedAt > 300 ? 200 : 503).end();
    return;
  }
  if (req.url === '/metrics') {
    const cpu = process.cpuUsage();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      [
        '# TYPE process_cpu_seconds_total counter',
        `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
        `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
        `receiver_accepted_items_total{signal="traces",tenant="default",protocol="http"} ${received * spans}`,
        'receiver_refused_requests_total{signal="traces",tenant="default",protocol="http",reason="OVERLOADED"} 2',
        'receiver_refused_requests_total{signal="traces",tenant="default",protocol="grpc",reason="RATE_LIMITED"} 1',
        'receiver_refused_items_total{signal="traces",tenant="default",protocol="http",reason="MALFORMED_PAYLOAD"} 5',
        'exporter_dropped_items_total{exporter="sink",signal="traces",reason="permanent"} 3',
        'exporter_refused_items_total{exporter="sink",signal="traces"} 4',
        `exporter_sent_items_total{exporter="sink",signal="traces"} ${forwarded * spans}`,
        'exporter_queue_size_bytes{exporter="sink"} 0',
        '',
      ].join('\n'),
    );
    return;
  }
  res.writeHead(404).end();
});

const [httpHost, httpPort] = hostPort(flag('--http'));
const [adminHost, adminPort] = hostPort(flag('--admin'));
otlp.listen(httpPort, httpHost);
admin.listen(adminPort, adminHost);
process.on('SIGTERM', () => {
  otlp.closeAllConnections();
  otlp.close();
  admin.close();
  setTimeout(() => process.exit(0), 50);
});
