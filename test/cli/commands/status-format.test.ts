// The human summary of `stella telemetry status` for exporters: state, since when, queue depth and
// oldest entry age, last error.
import t from 'tap';
import type { GatewayStatus } from '../../../src/admin/status-route.js';
import { formatStatus } from '../../../src/cli/commands/status.js';

t.test('an exporter down and one ok', async (t) => {
  const s: GatewayStatus = {
    version: '0.1.0',
    profile: 'default',
    state: 'ready',
    startedAt: '2026-12-07T12:00:00.000Z',
    uptimeSeconds: 60,
    listeners: {},
    tenants: [],
    policy: { version: null },
    incidents: [],
    queues: {},
    exporters: [
      {
        name: 'tempo',
        health: 'down',
        since: '2026-12-07T12:00:30.000Z',
        lastError: { reason: 'tls_expired', message: "TLS: the backend's certificate has expired" },
        queueItems: 1500,
        oldestAgeSeconds: 29.5,
        sentBatches: 3,
        failedAttempts: 12,
        droppedItems: 0,
        queueBytes: 90_000,
        queueBatches: 4,
      },
      { name: 'loki', health: 'ok', since: null, lastError: null, queueItems: 0, oldestAgeSeconds: 0, sentBatches: 9, failedAttempts: 0, droppedItems: 0, queueBytes: 0, queueBatches: 0 },
    ],
    archive: null,
  };
  const text = formatStatus(s);
  t.match(
    text,
    /^ {2}tempo: down; sent 3 batches, 12 failed attempts, 0 items dropped; queued 1500 items \/ 4 batches \/ 90000 bytes, oldest 29\.5s; failing since 2026-12-07T12:00:30\.000Z; last error tls_expired: TLS: the backend's certificate has expired$/m,
  );
  t.match(text, /^ {2}loki: ok; sent 9 batches, 0 failed attempts, 0 items dropped; queued 0 items \/ 0 batches \/ 0 bytes, oldest 0s$/m);
});
