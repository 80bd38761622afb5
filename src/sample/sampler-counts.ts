// The sampler's metrics: decisions, spans, early decisions, late spans and refused exports counted
// between flushes and published once per flush (prom-client label lookups cost more than the decisions).
import type { EarlyReason, SamplerMetrics } from './sampler.js';

/** Decisions and spans counted per reason / tenant between flushes (index 0 = drop, 1 = keep). */
type Pair = [number, number];

export class SamplerCounts {
  private readonly decisions = new Map<string, Pair>();
  private readonly spans = new Map<string, Pair>();
  private readonly early = new Map<EarlyReason, number>();
  /** Spans that arrived after their trace's decision, kept and dropped. */
  lateKept = 0;
  lateDropped = 0;
  /** Kept spans the export router refused. */
  exportRefused = 0;

  constructor(
    private readonly metrics: SamplerMetrics | undefined,
    private readonly label: (tenant: string) => string,
  ) {}

  countSpans(tenant: string, keep: boolean, n: number): void {
    let c = this.spans.get(tenant);
    if (!c) this.spans.set(tenant, (c = [0, 0]));
    c[keep ? 1 : 0] += n;
  }

  countDecision(reason: string, keep: boolean, n: number): void {
    let c = this.decisions.get(reason);
    if (!c) this.decisions.set(reason, (c = [0, 0]));
    c[keep ? 1 : 0] += n;
  }

  countEarly(reason: EarlyReason): void {
    this.early.set(reason, (this.early.get(reason) ?? 0) + 1);
  }

  /** Adds the counts to the metrics (if any) and starts over. */
  publish(): void {
    const metrics = this.metrics;
    if (!metrics) {
      this.decisions.clear();
      this.spans.clear();
      this.early.clear();
      this.lateKept = this.lateDropped = this.exportRefused = 0;
      return;
    }
    if (this.decisions.size > 0) {
      for (const [reason, c] of this.decisions) {
        if (c[1] > 0) metrics.samplingDecisions.inc({ decision: 'keep', reason }, c[1]);
        if (c[0] > 0) metrics.samplingDecisions.inc({ decision: 'drop', reason }, c[0]);
      }
      this.decisions.clear();
    }
    if (this.spans.size > 0) {
      for (const [tenant, c] of this.spans) {
        if (c[1] > 0) metrics.samplingSpans.inc({ tenant: this.label(tenant), decision: 'keep' }, c[1]);
        if (c[0] > 0) metrics.samplingSpans.inc({ tenant: this.label(tenant), decision: 'drop' }, c[0]);
      }
      this.spans.clear();
    }
    if (this.early.size > 0) {
      for (const [reason, n] of this.early) metrics.samplingEarlyDecisions.inc({ reason }, n);
      this.early.clear();
    }
    if (this.lateKept > 0) metrics.samplingLateSpans.inc({ decision: 'keep' }, this.lateKept);
    if (this.lateDropped > 0) metrics.samplingLateSpans.inc({ decision: 'drop' }, this.lateDropped);
    if (this.exportRefused > 0) metrics.samplingDroppedSpans.inc({ reason: 'export_refused' }, this.exportRefused);
    this.lateKept = this.lateDropped = this.exportRefused = 0;
  }
}
