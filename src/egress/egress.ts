// Sealed mode: the gateway connects only to destinations on `egress.allow` (src/config/sections/egress.ts).
//
// Two checks, one rule set:
// - at start-up, configDestinations() lists every outbound destination the config names (exporters,
//   tenant export overrides, Notify webhooks, cluster peers) and validation
//   fails naming each one off the list (checkConfigEgress, called by src/config/validate.ts);
// - at run time, every component that opens an outbound connection asks the guard first
//   (guard.check(host, port)): a refused destination is counted in egress_refused_total{destination}
//   and no socket is opened. Exporters are wrapped in guardTransport; Notify checks before its fetch.
//   Cluster peers ask it in their client (src/cluster/peer-client.ts). Any new outbound component must
//   call guard.check() the same way.
//
// Names are matched as names: a host name on the list allows that name whatever it resolves to, and an
// IP or CIDR entry allows IP literals only (no DNS lookups, which would themselves be egress).
import { inPrefix, ipBytes, ipFamily as isIP } from './ip.js';
import type { EgressConfig, EgressRule } from '../config/sections/egress.js';
import type { ExporterConfig, GatewayConfig } from '../config/types.js';
import type { ExportBatch, Transport, TransportResult } from '../export/transport.js';

export interface Destination {
  host: string;
  port: number;
}

export type EgressCheck = { ok: true } | { ok: false; message: string };

export interface EgressGuard {
  /** false: everything is allowed (no list, not airgap). */
  readonly enforced: boolean;
  /** Allowed, or refused (counted) with the reason. Call before opening any outbound connection. */
  check(host: string, port: number): EgressCheck;
}

/** Whether the list applies: always under airgap (an empty list allows nothing), else once it is written. */
export function egressEnforced(config: Pick<GatewayConfig, 'profile'> & { egress?: EgressConfig }): boolean {
  return config.profile === 'airgap' || config.egress?.listed === true;
}

const stripBrackets = (h: string) => h.replace(/^\[|\]$/g, '');

// The network bytes of each CIDR rule, parsed on first use (rules live as long as the config).
const networks = new WeakMap<EgressRule, Uint8Array>();
function network(rule: Extract<EgressRule, { kind: 'cidr' }>): Uint8Array {
  let bytes = networks.get(rule);
  if (!bytes) {
    bytes = ipBytes(rule.address)!;
    networks.set(rule, bytes);
  }
  return bytes;
}

/** True when one of the rules allows host:port. */
export function allowedBy(rules: readonly EgressRule[], host: string, port: number): boolean {
  const h = stripBrackets(host).toLowerCase().replace(/\.$/, '');
  const family = isIP(h);
  for (const rule of rules) {
    if (rule.port !== undefined && rule.port !== port) continue;
    if (rule.kind === 'host' && family === 0 && rule.host === h) return true;
    if (rule.kind === 'suffix' && family === 0 && h.endsWith(`.${rule.suffix}`)) return true;
    if (rule.kind === 'cidr' && family === rule.family && inPrefix(ipBytes(h)!, network(rule), rule.prefix)) return true;
  }
  return false;
}

export function formatDestination(host: string, port: number): string {
  const h = stripBrackets(host);
  return isIP(h) === 6 ? `[${h}]:${port}` : `${h}:${port}`;
}

export interface EgressGuardDeps {
  /** egress_refused_total{destination}. */
  metrics?: { egressRefused: { inc(labels: { destination: string }): void } };
  logger?: { warn(o: object, msg: string): void };
}

export function createEgressGuard(config: Pick<GatewayConfig, 'profile'> & { egress?: EgressConfig }, deps: EgressGuardDeps = {}): EgressGuard {
  const enforced = egressEnforced(config);
  const rules = config.egress?.allow ?? [];
  return {
    enforced,
    check(host, port) {
      if (!enforced || allowedBy(rules, host, port)) return { ok: true };
      const destination = formatDestination(host, port);
      deps.metrics?.egressRefused.inc({ destination });
      deps.logger?.warn({ destination }, 'outbound connection refused: the destination is not on egress.allow');
      return { ok: false, message: `${destination} is not on egress.allow${config.profile === 'airgap' ? ' (airgap profile: nothing else may be reached)' : ''}` };
    },
  };
}

/** host and port of an http(s) URL. */
export function urlDestination(url: string): Destination | undefined {
  try {
    const u = new URL(url);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    return { host: stripBrackets(u.hostname), port };
  } catch {
    return undefined;
  }
}

/** Where an exporter connects (undefined for file exporters). */
export function exporterDestination(e: Pick<ExporterConfig, 'kind' | 'endpoint' | 'tls'>): Destination | undefined {
  if (e.kind === 'file') return undefined;
  if (e.kind === 'otlp-http') return urlDestination(e.endpoint);
  // otlp-grpc: host:port (as the transport reads it: a scheme, if any, is dropped).
  const hostPort = e.endpoint.replace(/^(?:https?:\/\/|dns:(?:\/\/[^/]*\/)?)/, '').replace(/\/+$/, '');
  return urlDestination(`${e.tls ? 'https' : 'http'}://${hostPort}`);
}

/** Every outbound destination the config names, with the config path that names it. */
export function configDestinations(config: GatewayConfig): (Destination & { path: string })[] {
  const out: (Destination & { path: string })[] = [];
  config.exporters.forEach((e, i) => {
    const d = exporterDestination(e);
    if (d) out.push({ ...d, path: `exporters[${i}].endpoint` });
  });
  for (const [tenant, byExporter] of Object.entries(config.tenancy.exportOverrides)) {
    for (const [name, endpoint] of Object.entries(byExporter)) {
      const base = config.exporters.find((e) => e.name === name);
      const d = base ? exporterDestination({ ...base, endpoint }) : undefined;
      if (d) out.push({ ...d, path: `tenancy.exportOverrides.${tenant}.${name}` });
    }
  }
  config.incidents.notify.webhooks.forEach((w, i) => {
    const d = urlDestination(w.url);
    if (d) out.push({ ...d, path: `incidents.notify.webhooks[${i}].url` });
  });
  // Cluster peers: a static list by endpoint; a DNS name by its name (the addresses it resolves to are
  // checked at run time, before each connection, like every other destination).
  const peers = config.cluster?.peers;
  if (peers?.kind === 'static') {
    peers.peers.forEach((p, i) => {
      const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(p.endpoint);
      if (m) out.push({ host: m[1]!, port: Number(m[2]), path: `cluster.peers[${i}]` });
    });
  } else if (peers?.kind === 'dns') out.push({ host: peers.name, port: peers.port, path: 'cluster.peers' });
  return out;
}

/** One message per destination off the list (empty when the list is not enforced). */
export function checkConfigEgress(config: GatewayConfig): { path: string; message: string }[] {
  if (!egressEnforced(config)) return [];
  return configDestinations(config)
    .filter((d) => !allowedBy(config.egress.allow, d.host, d.port))
    .map((d) => ({
      path: d.path,
      message: `destination ${formatDestination(d.host, d.port)} is not on egress.allow${config.profile === 'airgap' ? ' (the airgap profile reaches nothing else)' : ''}; add it to egress.allow or remove it`,
    }));
}

/** A transport that asks the guard before every send: a refused destination never gets a socket. */
export function guardTransport(inner: Transport, destination: Destination, guard: EgressGuard): Transport {
  if (!guard.enforced) return inner;
  return {
    kind: inner.kind,
    send(batch: ExportBatch, abort?: AbortSignal): Promise<TransportResult> {
      const allowed = guard.check(destination.host, destination.port);
      // Permanent: the list is static, so a retry cannot succeed (the drop is counted like any other).
      if (!allowed.ok) return Promise.resolve({ status: 'permanent', reason: 'egress_refused', message: allowed.message });
      return inner.send(batch, abort);
    },
    close: () => inner.close(),
  };
}
