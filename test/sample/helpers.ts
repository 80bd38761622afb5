// Shared pieces of the sampler tests: a hand-driven clock, requests as the worker hands them on (walk +
// locateTraces: the body as it is, with its traces located; or laid out by trace with splitByTrace), a
// recording emit, and an incident state the test switches.
import { retryable, type Outcome } from '../../src/errors.js';
import { FLEET, type Incident, type IncidentState } from '../../src/incident/types.js';
import type { TraceSummary } from '../../src/process/protocol.js';
import { locateTraces } from '../../src/process/wire/locate-traces.js';
import { splitByTrace } from '../../src/process/wire/write-traces.js';
import { walkRequest } from '../../src/process/worker/walk.js';
import { compileSampling, type CompiledSampling } from '../../src/sample/policy.js';
import { validateSampling } from '../../src/sample/policy-schema.js';
import { flattenRequests } from '../helpers/flatten.js';
import { bytes, len, span, type Bytes, type SpanSpec } from '../helpers/wire-builder.js';

export { manualClock as testClock, type ManualClock as TestClock } from '../helpers/manual-clock.js';

/** A request as the worker hands it to the sampler: its body, summaries and, with several traces, their layout. */
export interface SplitRequest {
  body: Uint8Array;
  traces: TraceSummary[];
  layout: Int32Array | null;
}

/** One ResourceSpans per resource group; each group is spans of one scope. */
export function request(...groups: Array<{ resource?: Bytes; spans: SpanSpec[] }>): SplitRequest {
  const body = bytes(...groups.map((g) => len(1, ...(g.resource ? [len(1, g.resource)] : []), len(2, ...g.spans.map((s) => len(2, span(s)))))));
  const w = walkRequest('traces', body);
  if (!w.ok) throw new Error(w.message);
  const traces = w.traces!;
  return { body, traces, layout: locateTraces(body, traces) };
}

/** The same request laid out by trace (TraceSummary offset/length), as the worker used to hand it on. */
export function laidOut(r: SplitRequest): SplitRequest {
  const traces = r.traces.map((x) => ({ ...x }));
  return { body: splitByTrace(r.body, traces), traces, layout: null };
}

export const spansOf = (...spans: SpanSpec[]): SplitRequest => request({ spans });

/** A 32-hex-digit trace id from a number (distinct numbers, distinct ids; the low 56 bits vary too). */
export function traceId(n: number, salt = 0): string {
  const hi = (n * 2654435761 + salt) >>> 0;
  const lo = (n * 40503 + 0x9e3779b9 + salt * 7) >>> 0;
  return `${hi.toString(16).padStart(8, '0')}${(n >>> 0).toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}${((hi ^ lo) >>> 0).toString(16).padStart(8, '0')}`;
}

export const NS_PER_MS = 1_000_000n;

export interface Emitted {
  tenant: string;
  body: Uint8Array;
  items: number;
}

export interface Sink {
  emitted: Emitted[];
  emit(tenant: string, body: Uint8Array, items: number): Outcome;
  /** Span names (and their trace ids) received, per tenant. */
  spans(tenant?: string): Array<{ traceId: string; name: string }>;
  traceIds(tenant?: string): Set<string>;
  items(): number;
  refuse: boolean;
}

export function sink(): Sink {
  const s: Sink = {
    emitted: [],
    refuse: false,
    emit(tenant, body, items) {
      if (s.refuse) return retryable('OVERLOADED');
      s.emitted.push({ tenant, body: body.slice(), items });
      return { status: 'ok' };
    },
    spans(tenant) {
      const bodies = s.emitted.filter((e) => tenant === undefined || e.tenant === tenant).map((e) => e.body);
      return flattenRequests('traces', bodies).map((f) => {
        const item = f.item as { traceId?: string; name?: string };
        return { traceId: (item.traceId ?? '').toLowerCase(), name: item.name ?? '' };
      });
    },
    traceIds(tenant) {
      return new Set(s.spans(tenant).map((x) => x.traceId));
    },
    items: () => s.emitted.reduce((n, e) => n + e.items, 0),
  };
  return s;
}

export interface Incidents extends Pick<IncidentState, 'isActive' | 'onChange'> {
  start(scope: string): void;
  end(scope: string): void;
}

/** A tiny IncidentState: a set of scopes, listeners called after each change (as the real store does). */
export function incidents(): Incidents {
  const active = new Set<string>();
  const listeners = new Set<(e: { type: 'start' | 'end' | 'expire'; incident: Incident }) => void>();
  const incident = (scope: string): Incident => ({ scope, reason: 'test', by: 'test', startedAt: new Date(0).toISOString(), expiresAt: null });
  return {
    isActive: (tenant) => active.has(FLEET) || active.has(tenant),
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    start(scope) {
      active.add(scope);
      for (const fn of listeners) fn({ type: 'start', incident: incident(scope) });
    },
    end(scope) {
      active.delete(scope);
      for (const fn of listeners) fn({ type: 'end', incident: incident(scope) });
    },
  };
}

/** Compiles a sampling.yaml given as a plain object (throws on validation errors). */
export function policyOf(raw: unknown, profile = 'default'): CompiledSampling {
  const v = validateSampling(raw);
  if (!v.ok) throw new Error(v.errors.map((e) => `${e.path.join('.')}: ${e.message}`).join('\n'));
  return compileSampling(v.value, profile);
}
