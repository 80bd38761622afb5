// `stella telemetry status [--json]`: what a running gateway is doing, from GET /admin/v1/status:
// listeners, tenants seen, policy version, incidents, queue depths and export health.
// Exit codes: 0 shown, 1 the gateway refused or could not be reached, 2 a bad command line.
import type { GatewayStatus } from '../../admin/status-route.js';
import { ADMIN_FLAGS, ADMIN_FLAGS_HELP, createAdminClient } from '../admin-client.js';
import { parseCommandArgs, stdio, type Command } from '../command.js';
import { formatIncidents } from './incident.js';

const help = `Usage: stella telemetry status [--json] [options]

Shows a running gateway's state: listeners, tenants seen, policy version, active incidents, queue
depths and export health (ok / degraded / failing since the previous status request). Needs a token
with the viewer role or more; a tenant-scoped token sees its tenants only.

Options:
  --json               print the status document as JSON
${ADMIN_FLAGS_HELP}
  -h, --help           show this help`;

const options = { json: { type: 'boolean' }, ...ADMIN_FLAGS, help: { type: 'boolean', short: 'h' } } as const;

export function formatStatus(s: GatewayStatus): string {
  const lines = [
    `gateway ${s.version} (profile ${s.profile}): ${s.state}, up ${s.uptimeSeconds}s since ${s.startedAt}`,
    `listeners: ${Object.entries(s.listeners).map(([name, at]) => `${name} ${at}`).join(', ') || 'none'}`,
    `policy version: ${s.policy.version ?? 'none'}`,
    `tenants seen: ${s.tenants.length > 0 ? s.tenants.join(', ') : 'none yet'}`,
    `queues: ${Object.entries(s.queues).map(([name, n]) => `${name} ${n}`).join(', ')}`,
    'exporters:',
    ...s.exporters.map(
      (e) => `  ${e.name}: ${e.health}; sent ${e.sentBatches} batches, ${e.failedAttempts} failed attempts, ${e.droppedItems} items dropped; queued ${e.queueBatches} batches / ${e.queueBytes} bytes`,
    ),
    'incidents:',
    ...formatIncidents(s.incidents).split('\n').map((l) => `  ${l}`),
  ];
  return lines.join('\n');
}

export const statusCommand: Command = {
  help,
  async run(args) {
    const { values } = parseCommandArgs(args, options, false);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    const client = createAdminClient(values);
    const r = await client.request<GatewayStatus>('GET', '/admin/v1/status');
    if (!r.ok) {
      stdio.err(`stella telemetry status: ${r.message}`);
      return 1;
    }
    stdio.out(values.json ? JSON.stringify(r.body, null, 2) : formatStatus(r.body));
    return 0;
  },
};
