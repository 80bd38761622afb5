// A histogram with one label (`signal`) whose observe() is a few array writes: prom-client's Histogram
// hashes the labels object on every observe (about 280 ns, also through a labels() child), which on
// one-span requests alone would exceed the hot path's budget for timing (0.3 µs CPU per span;
// docs/performance-log.md, 2026-12-07). It registers in a prom-client Registry as a custom metric and is
// exposed in the same text format (`_bucket{le}` cumulative, `_sum`, `_count`).
import type { MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client';

export interface SignalHistogramChild {
  observe(seconds: number): void;
}

interface Series {
  /** Per bucket (not cumulative), the last one is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class SignalHistogram<V extends string = string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly buckets: readonly number[];
  private readonly series = new Map<V, Series>();

  constructor(o: { name: string; help: string; values: readonly V[]; buckets: readonly number[]; registers: Registry[] }) {
    this.name = o.name;
    this.help = o.help;
    this.buckets = [...o.buckets].sort((a, b) => a - b);
    for (const v of o.values) this.series.set(v, { counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 });
    // prom-client's Registry accepts any object with name, help, type and get() (its typings want a class of its own).
    for (const r of o.registers) r.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of one label value (looked up once by the caller, kept). */
  labels(labels: { signal: V }): SignalHistogramChild {
    const s = this.series.get(labels.signal);
    if (!s) throw new RangeError(`${this.name}: unknown signal ${JSON.stringify(labels.signal)}`);
    const bounds = this.buckets;
    return {
      observe(seconds: number) {
        let i = 0;
        while (i < bounds.length && seconds > bounds[i]!) i++;
        s.counts[i]!++;
        s.sum += seconds;
        s.count++;
      },
    };
  }

  observe(labels: { signal: V }, seconds: number): void {
    this.labels(labels).observe(seconds);
  }

  async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    for (const [signal, s] of this.series) {
      if (s.count === 0) continue;
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: i < this.buckets.length ? this.buckets[i]! : '+Inf', signal }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { signal }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { signal }, value: s.count });
    }
    return { name: this.name, help: this.help, type: 'histogram' as unknown as MetricObjectWithValues<MetricValueWithName<string>>['type'], values, aggregator: 'sum', collect: () => undefined };
  }

  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
