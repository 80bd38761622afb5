// Fans each processed item out to every exporter that takes its signal, all or none: either every
// target accepted the item, or none did and the client gets a retryable refusal (so a retry never
// duplicates data into the exporters that had room).
import type { ExporterConfig } from '../config/types.js';
import { ConfigError, type Outcome } from '../errors.js';
import type { Logger } from '../telemetry/logger-types.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { createExporter, type ExporterDeps } from './exporter.js';
import type { Transport } from './transport.js';
import type { Exporter, ExportItem, ExportRouter, OfferOutcome } from './types.js';

export interface ExportRouterDeps extends Omit<ExporterDeps, 'transport'> {
  /** Transports by exporter name, overriding the kind's own (tests). */
  transports?: Record<string, Transport>;
  /**
   * Per-tenant routing (tenancy.exportOverrides): tenant → exporter name → endpoint. That tenant's data
   * goes to an exporter of its own (named `<exporter>@<tenant>`, same settings, that endpoint) instead
   * of the shared one; other tenants are unaffected.
   */
  tenantEndpoints?: Record<string, Record<string, string>>;
}

export function createExportRouter(configs: ExporterConfig[], deps: ExportRouterDeps): ExportRouter {
  const seen = new Set<string>();
  for (const c of configs) {
    if (seen.has(c.name)) throw new ConfigError(`exporters: duplicate exporter name "${c.name}"`);
    seen.add(c.name);
  }
  const { transports, tenantEndpoints, ...exporterDeps } = deps;
  const build = (c: ExporterConfig): Exporter => {
    const transport = transports?.[c.name];
    return createExporter(c, transport ? { ...exporterDeps, transport } : exporterDeps);
  };
  const exporters = configs.map(build);
  // Tenant overrides: the tenant's list is the shared one with each overridden exporter swapped.
  const routes = new Map<string, readonly Exporter[]>();
  const all = [...exporters];
  for (const [tenant, byExporter] of Object.entries(tenantEndpoints ?? {})) {
    const list = [...exporters];
    for (const [name, endpoint] of Object.entries(byExporter)) {
      const i = configs.findIndex((c) => c.name === name);
      if (i < 0) throw new ConfigError(`tenancy.exportOverrides.${tenant}: no exporter named "${name}" (have ${configs.map((c) => c.name).join(', ') || 'none'})`);
      const own = build({ ...configs[i]!, name: `${name}@${tenant}`, endpoint });
      list[i] = own;
      all.push(own);
    }
    routes.set(tenant, list);
  }
  return createExportRouterFor(all, deps, { shared: exporters, byTenant: routes });
}

/** Which exporters take a tenant's data: its own list when it has one, else the shared list. */
export interface TenantRouting {
  shared: readonly Exporter[];
  byTenant: ReadonlyMap<string, readonly Exporter[]>;
}

/**
 * A router over exporters built elsewhere. Without `routing` every exporter is shared; with it,
 * `exporters` is every exporter (the router starts and shuts them all down).
 */
export function createExportRouterFor(
  exporters: readonly Exporter[],
  deps: { metrics: GatewayMetrics; logger: Logger },
  routing?: TenantRouting,
): ExportRouter {
  const shared = routing?.shared ?? exporters;
  const byTenant = routing?.byTenant;
  function offer(item: ExportItem): OfferOutcome {
    const candidates = byTenant?.get(item.tenant) ?? shared;
    const targets = candidates.filter((e) => e.signals.includes(item.signal));
    if (targets.length === 0) {
      // Nobody exports this signal: acknowledged and dropped, but counted.
      deps.metrics.exporterDroppedItems.inc({ exporter: '_none', signal: item.signal, reason: 'no_exporter' }, item.items);
      return { status: 'ok' };
    }
    const full = targets.filter((e) => !e.hasRoomFor(item.body.length, item.tenant));
    if (full.length > 0) {
      // Let each full exporter refuse (and count the refusal) itself; the others take nothing.
      let refusal: Outcome | undefined;
      for (const e of full) {
        const o = e.offer(item);
        if (o.status !== 'ok') refusal ??= o;
      }
      if (refusal) return refusal;
      // Unreachable unless hasRoomFor and offer disagree; fall through to offering the rest.
      return offerAll(targets.filter((e) => !full.includes(e)), item);
    }
    return offerAll(targets, item);
  }

  function offerAll(targets: readonly Exporter[], item: ExportItem): OfferOutcome {
    let first: Outcome | undefined;
    let durable: Promise<Outcome>[] | undefined;
    for (const e of targets) {
      const o = e.offer(item);
      if (o.status !== 'ok') {
        deps.logger.error({ exporter: e.name, code: o.code }, 'exporter refused an item after reporting room');
        first ??= o;
      } else if (o.durable) (durable ??= []).push(o.durable);
    }
    if (first) return first;
    // Durable only once durable in every persistent queue it went to (the in-memory path has no promise).
    if (!durable) return { status: 'ok' };
    if (durable.length === 1) return { status: 'ok', durable: durable[0]! };
    return { status: 'ok', durable: Promise.all(durable).then((all) => all.find((o) => o.status !== 'ok') ?? { status: 'ok' }) };
  }

  return {
    exporters,
    offer,
    async start() {
      await Promise.all(exporters.map((e) => e.start()));
    },
    async shutdown(deadlineMs: number) {
      const results = await Promise.allSettled(exporters.map((e) => e.shutdown(deadlineMs)));
      for (const [i, r] of results.entries()) {
        if (r.status === 'rejected') deps.logger.error({ exporter: exporters[i]!.name, err: String(r.reason) }, 'exporter shutdown failed');
      }
    },
  };
}
