// What the rest of the gateway asks of incident mode (DESIGN.md: "incident mode = keep 100%").
// The incident store (src/incident) implements it; the tail sampler keeps every trace of a scope in
// incident, and the forensic tee captures that scope and escalates its retention tier.
export const FLEET = '_all';

export interface Incident {
  /** A tenant id, or FLEET for the whole fleet. */
  scope: string;
  reason: string;
  /** Who started it (the admin token's name, or "cli"/"env"). */
  by: string;
  startedAt: string;
  /** ISO time when it ends by itself; null: no TTL. */
  expiresAt: string | null;
}

export interface IncidentState {
  /** True while the tenant, or the whole fleet, is in incident mode. Hot path: a map lookup. */
  isActive(tenant: string): boolean;
  /** The active incidents (expired ones are gone). */
  list(): Incident[];
  /** Called after every change (on, off, expiry) with the incident that changed. */
  onChange(listener: (event: { type: 'start' | 'end' | 'expire'; incident: Incident }) => void): () => void;
}
