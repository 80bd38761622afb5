// `stella telemetry incident on|off|list`: incident mode from the command line, through the gateway's
// admin API (/admin/v1/incidents; see docs/guides/sampling-and-incidents.md, "Incident mode"). Exit codes: 0 done, 1 the gateway
// refused or could not be reached (the message says which), 2 a bad command line.
import { userInfo } from 'node:os';
import { parseDuration } from '../../config/units.js';
import { FLEET, type Incident } from '../../incident/types.js';
import { ADMIN_FLAGS, ADMIN_FLAGS_HELP, createAdminClient } from '../admin-client.js';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

const INCIDENTS = '/admin/v1/incidents';
/** As config/validate.ts's TENANT_RE; not imported from there, which would load the exporters' modules (grpc-js) for a CLI call. */
const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkTenant(tenant: string | undefined): string {
  if (tenant === undefined || tenant === FLEET) return FLEET;
  if (!TENANT_RE.test(tenant)) throw new UsageError(`--tenant: expected a tenant id of letters, digits, ".", "_" or "-" (got ${JSON.stringify(tenant)})`);
  return tenant;
}

const scopeName = (scope: string) => (scope === FLEET ? 'the fleet' : `tenant ${scope}`);

function until(expiresAt: string | null, now = Date.now()): string {
  if (expiresAt === null) return 'no expiry';
  const left = Math.max(0, Date.parse(expiresAt) - now);
  const mins = Math.round(left / 60_000);
  const human = mins >= 120 ? `${Math.round(mins / 6) / 10}h` : mins >= 1 ? `${mins}m` : `${Math.round(left / 1000)}s`;
  return `until ${expiresAt} (in ${human})`;
}

function defaultReason(): string {
  let who = 'unknown user';
  try {
    who = userInfo().username;
  } catch {
    /* no passwd entry (containers) */
  }
  return `started from the CLI by ${who}`;
}

const onHelp = `Usage: stella telemetry incident on [--tenant T] [--ttl 30m] [--reason R] [options]

Puts a tenant, or without --tenant the whole fleet, into incident mode: every trace of it is kept
(100%) and teed to the forensic archive until the TTL expires or "incident off". Running it again for
an active scope replaces its reason and TTL. Fleet-wide needs an admin token; a tenant, an operator
token scoped to it.

Options:
  --tenant T           the tenant (default: fleet-wide)
  --ttl DURATION       how long, e.g. 30m, 2h (default: the gateway's incidents.defaultTtl)
  --reason TEXT        why (audit log and notifications; default "started from the CLI by <user>")
  --json               print the incident as JSON
${ADMIN_FLAGS_HELP}
  -h, --help           show this help`;

const offHelp = `Usage: stella telemetry incident off [--tenant T] [--reason R] [options]

Ends incident mode for a tenant, or without --tenant for the whole fleet.

Options:
  --tenant T           the tenant (default: fleet-wide)
  --reason TEXT        why it ends (audit log)
  --json               print the ended incident as JSON
${ADMIN_FLAGS_HELP}
  -h, --help           show this help`;

const listHelp = `Usage: stella telemetry incident list [options]

Lists the active incidents the token may see (its tenants and the fleet).

Options:
  --json               print them as JSON
${ADMIN_FLAGS_HELP}
  -h, --help           show this help`;

function fail(command: string, message: string): number {
  stdio.err(`stella telemetry incident ${command}: ${message}`);
  return 1;
}

export const incidentOnCommand: Command = {
  help: onHelp,
  async run(args) {
    const options = { tenant: { type: 'string' }, ttl: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean' }, ...ADMIN_FLAGS, help: { type: 'boolean', short: 'h' } } as const;
    const { values } = parseCommandArgs(args, options, false);
    if (values.help) {
      stdio.out(onHelp);
      return 0;
    }
    const tenant = checkTenant(values.tenant);
    if (values.ttl !== undefined && !(parseDuration(values.ttl)! > 0)) throw new UsageError(`--ttl: expected a duration such as 30m, 2h or 90s (got ${JSON.stringify(values.ttl)})`);
    if (values.reason !== undefined && values.reason.trim() === '') throw new UsageError('--reason: must not be empty');
    const client = createAdminClient(values);
    const body: Record<string, string> = { reason: values.reason ?? defaultReason() };
    if (tenant !== FLEET) body.tenant = tenant;
    if (values.ttl !== undefined) body.ttl = values.ttl;
    const r = await client.request<{ incident: Incident; updated: boolean }>('POST', INCIDENTS, body);
    if (!r.ok) return fail('on', r.message);
    const i = r.body.incident;
    if (values.json) stdio.out(JSON.stringify(r.body, null, 2));
    else stdio.out(`incident mode ${r.body.updated ? 'extended' : 'on'} for ${scopeName(i.scope)} ${until(i.expiresAt)}; reason: ${i.reason}`);
    return 0;
  },
};

export const incidentOffCommand: Command = {
  help: offHelp,
  async run(args) {
    const options = { tenant: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean' }, ...ADMIN_FLAGS, help: { type: 'boolean', short: 'h' } } as const;
    const { values } = parseCommandArgs(args, options, false);
    if (values.help) {
      stdio.out(offHelp);
      return 0;
    }
    const tenant = checkTenant(values.tenant);
    const client = createAdminClient(values);
    const query = values.reason ? `?reason=${encodeURIComponent(values.reason)}` : '';
    const r = await client.request<{ incident: Incident }>('DELETE', `${INCIDENTS}/${encodeURIComponent(tenant)}${query}`);
    if (!r.ok) return fail('off', r.message);
    if (values.json) stdio.out(JSON.stringify(r.body, null, 2));
    else stdio.out(`incident mode off for ${scopeName(r.body.incident.scope)} (it started ${r.body.incident.startedAt} by ${r.body.incident.by})`);
    return 0;
  },
};

export const incidentListCommand: Command = {
  help: listHelp,
  async run(args) {
    const options = { json: { type: 'boolean' }, ...ADMIN_FLAGS, help: { type: 'boolean', short: 'h' } } as const;
    const { values } = parseCommandArgs(args, options, false);
    if (values.help) {
      stdio.out(listHelp);
      return 0;
    }
    const client = createAdminClient(values);
    const r = await client.request<{ incidents: Incident[] }>('GET', INCIDENTS);
    if (!r.ok) return fail('list', r.message);
    if (values.json) {
      stdio.out(JSON.stringify(r.body, null, 2));
      return 0;
    }
    stdio.out(formatIncidents(r.body.incidents));
    return 0;
  },
};

/** A table of incidents (or a line saying there are none), for `incident list` and `status`. */
export function formatIncidents(incidents: Incident[], now = Date.now()): string {
  if (incidents.length === 0) return 'no active incidents';
  const rows = [['SCOPE', 'EXPIRES', 'BY', 'REASON'], ...incidents.map((i) => [i.scope, until(i.expiresAt, now).replace(/^until /, ''), i.by, i.reason])];
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell)).join('  ')).join('\n');
}
