// An OTLP/HTTP backend that misbehaves on demand, for the fault-injection suite (test/faults) and the
// kill loop (bench/kill-loop.ts). It listens on one fixed loopback port for its whole life, so it can be
// really down (stopped: connections refused) and come back where the gateway expects it. Modes:
// - `ok`: 200 with an empty ExportTraceServiceResponse;
// - `slow`: the same after `delayMs`;
// - `unavailable`: 503 with `Retry-After` (seconds);
// - `bad-request`: 400 (a permanent refusal: the gateway drops and counts);
// - `reset`: the connection is destroyed mid-request (after the first body bytes), nothing answered.
// Every span it accepts (mode ok or slow) is recorded by span id, so a test can account for every item:
// delivered (distinct ids) and duplicated (ids seen more than once).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type BackendMode = 'ok' | 'slow' | 'unavailable' | 'bad-request' | 'reset';

export interface FaultBackend {
  readonly port: number;
  /** http://127.0.0.1:port (an otlp-http exporter endpoint). */
  readonly url: string;
  mode: BackendMode;
  /** For `slow`. */
  delayMs: number;
  /** For `unavailable`: the Retry-After value in whole seconds. */
  retryAfterSeconds: number;
  /** Span id (16 hex digits) → times accepted. */
  readonly spans: ReadonlyMap<string, number>;
  /** Requests answered per outcome (`ok`, `503`, `400`, `reset`). */
  readonly answers: Record<string, number>;
  /** Spans accepted, duplicates included. */
  readonly acceptedSpans: number;
  /** Stop listening (connections refused), dropping open connections. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  /** Resolves once `predicate()` holds (checked after every answer); rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void>;
  close(): Promise<void>;
}

// ---- a minimal wire walk: ExportTraceServiceRequest → resource_spans(1) → scope_spans(2) → spans(2) → span_id(2)

function varint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 1;
  for (;;) {
    const b = buf[at++];
    if (b === undefined) throw new Error('truncated varint');
    value += (b & 0x7f) * shift;
    if (b < 0x80) return [value, at];
    shift *= 128;
  }
}

/** Calls `onField(field, start, end)` for each length-delimited field of the message in buf[start, end). */
function eachBytesField(buf: Buffer, start: number, end: number, onField: (field: number, s: number, e: number) => void): void {
  let at = start;
  while (at < end) {
    const [key, afterKey] = varint(buf, at);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    at = afterKey;
    if (wire === 0) at = varint(buf, at)[1];
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const [len, s] = varint(buf, at);
      onField(field, s, s + len);
      at = s + len;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** The span ids (hex) of an encoded ExportTraceServiceRequest. */
export function spanIdsOf(body: Buffer): string[] {
  const ids: string[] = [];
  eachBytesField(body, 0, body.length, (f, s, e) => {
    if (f !== 1) return;
    eachBytesField(body, s, e, (f2, s2, e2) => {
      if (f2 !== 2) return;
      eachBytesField(body, s2, e2, (f3, s3, e3) => {
        if (f3 !== 2) return;
        eachBytesField(body, s3, e3, (f4, s4, e4) => {
          if (f4 === 2) ids.push(body.toString('hex', s4, e4));
        });
      });
    });
  });
  return ids;
}

export async function startFaultBackend(port = 0): Promise<FaultBackend> {
  const spans = new Map<string, number>();
  const answers: Record<string, number> = {};
  const waiters = new Set<() => void>();
  const sockets = new Set<import('node:net').Socket>();
  let acceptedSpans = 0;
  const count = (k: string): void => {
    answers[k] = (answers[k] ?? 0) + 1;
    for (const w of [...waiters]) w();
  };

  const server = http.createServer((req, res) => {
    const mode = backend.mode;
    if (mode === 'reset') {
      // Mid-request: after the first body bytes arrived, before any answer.
      req.once('data', () => {
        count('reset');
        req.socket.destroy();
      });
      req.once('end', () => req.socket.destroy());
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (mode === 'unavailable') {
        count('503');
        res.writeHead(503, { 'retry-after': String(backend.retryAfterSeconds), 'content-type': 'text/plain' }).end('backend unavailable (scripted)');
        return;
      }
      if (mode === 'bad-request') {
        count('400');
        res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request (scripted)');
        return;
      }
      let body = Buffer.concat(chunks);
      if (String(req.headers['content-encoding'] ?? '') === 'gzip') body = gunzipSync(body);
      const answer = (): void => {
        // Recorded when answered: a request whose answer never left (the gateway died) is not delivered… but
        // a real backend would have kept it; the kill loop's duplicates come from exactly that window.
        if (req.url === '/v1/traces') {
          for (const id of spanIdsOf(body)) {
            spans.set(id, (spans.get(id) ?? 0) + 1);
            acceptedSpans++;
          }
        }
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        count('ok');
      };
      if (mode === 'slow') setTimeout(answer, backend.delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  const listen = (p: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const boundPort = await listen(port);

  const backend: FaultBackend = {
    port: boundPort,
    url: `http://127.0.0.1:${boundPort}`,
    mode: 'ok',
    delayMs: 100,
    retryAfterSeconds: 1,
    spans,
    answers,
    get acceptedSpans() {
      return acceptedSpans;
    },
    async down() {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    async up() {
      if (server.listening) return;
      await listen(boundPort);
    },
    waitFor(predicate, timeoutMs, what) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!predicate()) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fault backend: ${what} not reached within ${timeoutMs} ms (distinct spans ${spans.size}, answers ${JSON.stringify(answers)})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      await backend.down();
    },
  };
  return backend;
}
