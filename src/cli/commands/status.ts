// `stella telemetry status [--json]`: what a running gateway is doing, from GET /admin/v1/status:
// listeners, tenants seen, policy version, incidents, queue depths, export health and archive usage.
// Exit codes: 0 shown, 1 the gateway refused or could not be reached, 2 a bad command line.
import type { GatewayStatus } from '../../admin/status-route.js';
import type { ArchiveStatus } from '../../tee/retention.js';
import { ADMIN_FLAGS, ADMIN_FLAGS_HELP, createAdminClient } from '../admin-client.js';
import { parseCommandArgs, stdio, type Command } from '../command.js';
import { formatIncidents } from './incident.js';

const help = `Usage: stella telemetry status [--json] [options]

Shows a running gateway's state: listeners, tenants seen, policy version, active incidents, queue
depths, export health (ok / degraded / down, with queue depth and oldest entry age) and the forensic
archive's usage per tenant and retention tier (bytes on disk, segments, oldest record). Needs a token
with the viewer role or more; a tenant-scoped token sees its tenants only.

Options:
  --json               print the status document as JSON
${ADMIN_FLAGS_HELP}
  -h, --help           show this help`;

const options = { json: { type: 'boolean' }, ...ADMIN_FLAGS, help: { type: 'boolean', short: 'h' } } as const;

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** The archive block: a header line, then one line per tenant and tier. */
export function formatArchive(a: ArchiveStatus | null | undefined): string[] {
  if (!a) return ['archive: not reported'];
  const lines = [`archive (mode ${a.mode}, ${a.root}): ${formatBytes(a.bytes)} in ${a.segments} segments, budget ${formatBytes(a.maxBytes)}${a.bufferedBytes > 0 ? `, ${formatBytes(a.bufferedBytes)} buffered` : ''}`];
  const rows = Object.entries(a.tenants).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  if (rows.length === 0) lines.push('  (empty)');
  for (const [tenant, tiers] of rows) {
    for (const [tier, u] of Object.entries(tiers)) {
      if (!u) continue;
      const since = u.oldestMs === null ? '' : `, oldest record ${new Date(u.oldestMs).toISOString()}`;
      lines.push(`  ${tenant} ${tier}: ${formatBytes(u.bytes)} in ${u.segments} segments (${u.openSegments} open)${since}`);
    }
  }
  return lines;
}

/** Cluster mode: this replica, the live members, and every known peer that is not live. */
export function formatCluster(c: GatewayStatus['cluster']): string[] {
  if (!c) return [];
  const down = c.peers.filter((p) => !p.live);
  return [
    `cluster: ${c.self} (peer listener ${c.listen}, peers ${c.discovery}); live ${c.live.join(', ')}; quota share ${Math.round(c.quotaShare * 1000) / 1000}`,
    ...down.map((p) => `  not live: ${p.id ?? '?'} ${p.endpoint}${p.lastError ? ` (${p.lastError})` : ''}`),
  ];
}

export function formatStatus(s: GatewayStatus): string {
  const lines = [
    `gateway ${s.version} (profile ${s.profile}): ${s.state}, up ${s.uptimeSeconds}s since ${s.startedAt}`,
    `listeners: ${Object.entries(s.listeners).map(([name, at]) => `${name} ${at}`).join(', ') || 'none'}`,
    `policy version: ${s.policy.version ?? 'none'}`,
    `tenants seen: ${s.tenants.length > 0 ? s.tenants.join(', ') : 'none yet'}`,
    `queues: ${Object.entries(s.queues).map(([name, n]) => `${name} ${n}`).join(', ')}`,
    'exporters:',
    ...s.exporters.map(
      (e) =>
        `  ${e.name}: ${e.health}; sent ${e.sentBatches} batches, ${e.failedAttempts} failed attempts, ${e.droppedItems} items dropped; ` +
        `queued ${e.queueItems ?? 0} items / ${e.queueBatches} batches / ${e.queueBytes} bytes, oldest ${e.oldestAgeSeconds ?? 0}s` +
        (e.since ? `; failing since ${e.since}` : '') +
        (e.lastError ? `; last error ${e.lastError.reason}: ${e.lastError.message}` : ''),
    ),
    'incidents:',
    ...formatIncidents(s.incidents).split('\n').map((l) => `  ${l}`),
    ...formatArchive(s.archive),
    ...formatCluster(s.cluster),
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
