// A Notify webhook receiver for tests: a real HTTP server that checks each event's HMAC signature
// (X-Stella-Signature) and keeps the events in arrival order; waitFor() waits for the n-th of a type.
import type { Test } from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature, type NotifyEvent } from '../../src/incident/notify.js';

/** A webhook receiver: events in arrival order (signature checked), and a wait for the n-th one of a type. */
export async function startWebhook(t: Test, secret = 'webhook-secret') {
  const events: NotifyEvent[] = [];
  let waiters: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      if (!verifySignature(secret, body, req.headers['x-stella-signature'] as string | undefined)) {
        res.writeHead(401).end();
        return;
      }
      events.push(JSON.parse(body.toString('utf8')) as NotifyEvent);
      res.writeHead(204).end();
      const w = waiters;
      waiters = [];
      w.forEach((f) => f());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const of = (type: string) => events.filter((e) => e.type === type);
  async function waitFor(type: string, n = 1): Promise<NotifyEvent[]> {
    while (of(type).length < n) await new Promise<void>((r) => waiters.push(r));
    return of(type);
  }
  return { url, secret, events, of, waitFor };
}

