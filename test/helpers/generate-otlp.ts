// A seeded generator of random but valid OTLP requests for all three signals, covering every field of
// every message (the differential test checks the coverage), encoded with protobufjs through the
// package's schema (src/process/wire/otlp-schema.ts). Repeated fixed64/double/uint64 fields come out
// packed (proto3's default) or, with `packed: false`, unpacked, from a second protobufjs Root parsed
// from the same .proto files with `[packed = false]` added: parsers must accept both.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { protoDir } from '../../src/paths.js';
import { requestType } from '../../src/process/wire/otlp-schema.js';
import { SIGNAL_WIRE, type Signal } from '../../src/signals.js';
import { createBenchRng, type BenchRng } from '../../bench/generate.js';

// One seeded PRNG for the project's generators (mulberry32), shared with the bench harness.
export type Rng = BenchRng;
export const createRng = createBenchRng;

export interface GenerateOptions {
  /** Encode repeated fixed64/double/uint64 packed (default) or unpacked. */
  packed?: boolean;
  /** Upper bound of items per scope (default 4). */
  maxItems?: number;
}

export interface GeneratedRequest {
  signal: Signal;
  /** The plain object given to protobufjs' fromObject (camelCase names, longs as decimal strings). */
  object: Record<string, unknown>;
  bytes: Uint8Array;
}

type Obj = Record<string, unknown>;

const WORDS = ['checkout', 'GET /api/v1/orders', 'db.query', 'Grüße', 'naïve café', '東京', '🚀 launch', '', 'x', 'a'.repeat(70)];
const KEYS = ['http.method', 'service.name', 'user.id', 'k8s.pod.name', 'db.statement', 'ключ', 'emoji.🔥', ''];

class Generator {
  /** A few trace ids reused across spans, so that traces group several spans. */
  private traceIds: Buffer[];

  constructor(
    private rng: Rng,
    private maxItems: number,
  ) {
    this.traceIds = Array.from({ length: rng.int(1, 4) }, () => rng.bytes(16));
  }

  private maybe<T>(p: number, make: () => T): T | undefined {
    return this.rng.chance(p) ? make() : undefined;
  }

  private str(): string {
    const r = this.rng;
    if (r.chance(0.2)) return String.fromCodePoint(...Array.from({ length: r.int(1, 12) }, () => r.pick([0x41 + r.int(0, 25), 0xe9, 0x4e2d, 0x1f600, 0x10ffff, 0x7f, 0x80, 0x7ff, 0x800, 0xfffd])));
    return r.pick(WORDS);
  }

  private uint64(): string {
    const r = this.rng;
    switch (r.int(0, 3)) {
      case 0:
        return '0';
      case 1:
        return '18446744073709551615';
      case 2:
        return String(r.int(0, 2 ** 31));
      default:
        return (BigInt(r.int(0, 2 ** 32 - 1)) * 2n ** 32n + BigInt(r.int(0, 2 ** 32 - 1))).toString();
    }
  }

  private int64(): string {
    const r = this.rng;
    switch (r.int(0, 3)) {
      case 0:
        return '-9223372036854775808';
      case 1:
        return '9223372036854775807';
      case 2:
        return String(r.int(-1000, 1000));
      default:
        return (BigInt(r.int(-(2 ** 31), 2 ** 31 - 1)) * 2n ** 32n + BigInt(r.int(0, 2 ** 32 - 1))).toString();
    }
  }

  private double(): number {
    const r = this.rng;
    return r.pick([0, -0, 1.5, -2.25, 1e308, 5e-324, Number.NaN, Number.POSITIVE_INFINITY, r.next() * 1e6 - 5e5]);
  }

  private time(): string {
    // Nanoseconds around 2024, sometimes the extremes.
    const r = this.rng;
    if (r.chance(0.1)) return r.pick(['0', '18446744073709551615']);
    return (1_700_000_000_000_000_000n + BigInt(r.int(0, 2 ** 30)) * 1000n).toString();
  }

  private uint32(): number {
    return this.rng.pick([0, 1, 7, 4294967295]);
  }

  private anyValue(depth: number): Obj {
    const r = this.rng;
    const kinds = depth >= 5 ? 6 : 8;
    switch (r.int(0, kinds)) {
      case 0:
        return { stringValue: this.str() };
      case 1:
        return { boolValue: r.chance(0.5) };
      case 2:
        return { intValue: this.int64() };
      case 3:
        return { doubleValue: this.double() };
      case 4:
        return { bytesValue: r.bytes(r.int(0, 20)) };
      case 5:
        return {}; // an AnyValue with no value is valid (an empty attribute value)
      case 6:
        return { stringValue: this.str() };
      case 7:
        return { arrayValue: { values: Array.from({ length: r.int(0, 3) }, () => this.anyValue(depth + 1)) } };
      default:
        return { kvlistValue: { values: Array.from({ length: r.int(0, 3) }, () => this.keyValue(depth + 1)) } };
    }
  }

  private keyValue(depth = 0): Obj {
    return { key: this.rng.chance(0.7) ? this.rng.pick(KEYS) : this.str(), value: this.maybe(0.95, () => this.anyValue(depth)) };
  }

  private attributes(max = 4): Obj[] {
    return Array.from({ length: this.rng.int(0, max) }, () => this.keyValue());
  }

  private resource(): Obj {
    return {
      attributes: this.attributes(),
      droppedAttributesCount: this.maybe(0.3, () => this.uint32()),
      entityRefs: this.maybe(0.3, () =>
        Array.from({ length: this.rng.int(1, 2) }, () => ({
          schemaUrl: this.maybe(0.5, () => 'https://opentelemetry.io/schemas/1.26.0'),
          type: this.maybe(0.9, () => this.rng.pick(['service', 'host', 'k8s.pod'])),
          idKeys: Array.from({ length: this.rng.int(0, 2) }, () => this.rng.pick(KEYS)),
          descriptionKeys: Array.from({ length: this.rng.int(0, 2) }, () => this.rng.pick(KEYS)),
        })),
      ),
    };
  }

  private scope(): Obj {
    return {
      name: this.maybe(0.9, () => this.str()),
      version: this.maybe(0.6, () => '1.2.3'),
      attributes: this.maybe(0.4, () => this.attributes(2)),
      droppedAttributesCount: this.maybe(0.2, () => this.uint32()),
    };
  }

  private traceId(): Buffer | undefined {
    const r = this.rng;
    if (r.chance(0.05)) return undefined;
    return r.chance(0.8) ? r.pick(this.traceIds) : r.bytes(16);
  }

  private spanId(p = 0.95): Buffer | undefined {
    return this.rng.chance(p) ? this.rng.bytes(8) : undefined;
  }

  private items<T>(make: () => T): T[] {
    return Array.from({ length: this.rng.int(0, this.maxItems) }, make);
  }

  private levels(resourceKey: string, scopeKey: string, itemsKey: string, item: () => Obj): Obj {
    const r = this.rng;
    return {
      [resourceKey]: Array.from({ length: r.int(0, 3) }, () => ({
        resource: this.maybe(0.9, () => this.resource()),
        [scopeKey]: Array.from({ length: r.int(0, 3) }, () => ({
          scope: this.maybe(0.9, () => this.scope()),
          [itemsKey]: this.items(item),
          schemaUrl: this.maybe(0.3, () => 'https://opentelemetry.io/schemas/1.21.0'),
        })),
        schemaUrl: this.maybe(0.3, () => 'https://opentelemetry.io/schemas/1.24.0'),
      })),
    };
  }

  traces(): Obj {
    const r = this.rng;
    return this.levels('resourceSpans', 'scopeSpans', 'spans', () => ({
      traceId: this.traceId(),
      spanId: this.spanId(),
      traceState: this.maybe(0.2, () => 'rojo=00f067aa0ba902b7'),
      parentSpanId: this.spanId(0.6),
      flags: this.maybe(0.5, () => r.pick([0, 1, 0x101, 0x301, 4294967295])),
      name: this.maybe(0.95, () => this.str()),
      kind: this.maybe(0.8, () => r.int(0, 6)),
      startTimeUnixNano: this.maybe(0.95, () => this.time()),
      endTimeUnixNano: this.maybe(0.95, () => this.time()),
      attributes: this.attributes(6),
      droppedAttributesCount: this.maybe(0.2, () => this.uint32()),
      events: this.maybe(0.4, () =>
        Array.from({ length: r.int(1, 3) }, () => ({
          timeUnixNano: this.maybe(0.9, () => this.time()),
          name: this.maybe(0.9, () => this.str()),
          attributes: this.attributes(2),
          droppedAttributesCount: this.maybe(0.2, () => this.uint32()),
        })),
      ),
      droppedEventsCount: this.maybe(0.2, () => this.uint32()),
      links: this.maybe(0.3, () =>
        Array.from({ length: r.int(1, 2) }, () => ({
          traceId: this.traceId(),
          spanId: this.spanId(),
          traceState: this.maybe(0.3, () => 'congo=t61rcWkgMzE'),
          attributes: this.attributes(2),
          droppedAttributesCount: this.maybe(0.2, () => this.uint32()),
          flags: this.maybe(0.5, () => r.pick([0, 1, 0x301])),
        })),
      ),
      droppedLinksCount: this.maybe(0.2, () => this.uint32()),
      status: this.maybe(0.7, () => ({ message: this.maybe(0.5, () => this.str()), code: this.maybe(0.9, () => r.int(0, 3)) })),
    }));
  }

  private exemplars(): Obj[] | undefined {
    const r = this.rng;
    return this.maybe(0.4, () =>
      Array.from({ length: r.int(1, 2) }, () => ({
        filteredAttributes: this.attributes(2),
        timeUnixNano: this.maybe(0.9, () => this.time()),
        ...(r.chance(0.5) ? { asDouble: this.double() } : r.chance(0.8) ? { asInt: this.int64() } : {}),
        spanId: this.spanId(0.8),
        traceId: this.maybe(0.8, () => r.bytes(16)),
      })),
    );
  }

  private common(): Obj {
    return {
      startTimeUnixNano: this.maybe(0.8, () => this.time()),
      timeUnixNano: this.maybe(0.95, () => this.time()),
      flags: this.maybe(0.3, () => this.rng.pick([0, 1])),
    };
  }

  private numberPoint(): Obj {
    const r = this.rng;
    return {
      attributes: this.attributes(3),
      ...this.common(),
      ...(r.chance(0.5) ? { asDouble: this.double() } : r.chance(0.9) ? { asInt: this.int64() } : {}),
      exemplars: this.exemplars(),
    };
  }

  private metric(): Obj {
    const r = this.rng;
    const m: Obj = {
      name: this.maybe(0.95, () => this.str()),
      description: this.maybe(0.5, () => this.str()),
      unit: this.maybe(0.5, () => r.pick(['ms', 'By', '1', '{request}'])),
      metadata: this.maybe(0.2, () => this.attributes(2)),
    };
    const temporality = (): number | undefined => this.maybe(0.9, () => r.int(0, 3));
    switch (r.int(0, 5)) {
      case 0:
        m.gauge = { dataPoints: this.items(() => this.numberPoint()) };
        break;
      case 1:
        m.sum = { dataPoints: this.items(() => this.numberPoint()), aggregationTemporality: temporality(), isMonotonic: r.chance(0.5) };
        break;
      case 2:
        m.histogram = {
          aggregationTemporality: temporality(),
          dataPoints: this.items(() => {
            const bounds = Array.from({ length: r.int(0, 5) }, () => this.double());
            return {
              attributes: this.attributes(3),
              ...this.common(),
              count: this.maybe(0.9, () => this.uint64()),
              sum: this.maybe(0.7, () => this.double()),
              bucketCounts: Array.from({ length: bounds.length + (r.chance(0.9) ? 1 : 0) }, () => this.uint64()),
              explicitBounds: bounds,
              exemplars: this.exemplars(),
              min: this.maybe(0.5, () => this.double()),
              max: this.maybe(0.5, () => this.double()),
            };
          }),
        };
        break;
      case 3: {
        const buckets = (): Obj => ({
          offset: this.maybe(0.8, () => r.int(-100, 100)),
          bucketCounts: Array.from({ length: r.int(0, 6) }, () => this.uint64()),
        });
        m.exponentialHistogram = {
          aggregationTemporality: temporality(),
          dataPoints: this.items(() => ({
            attributes: this.attributes(3),
            ...this.common(),
            count: this.maybe(0.9, () => this.uint64()),
            sum: this.maybe(0.7, () => this.double()),
            scale: this.maybe(0.9, () => r.int(-10, 20)),
            zeroCount: this.maybe(0.5, () => this.uint64()),
            positive: this.maybe(0.8, buckets),
            negative: this.maybe(0.5, buckets),
            exemplars: this.exemplars(),
            min: this.maybe(0.5, () => this.double()),
            max: this.maybe(0.5, () => this.double()),
            zeroThreshold: this.maybe(0.4, () => this.double()),
          })),
        };
        break;
      }
      case 4:
        m.summary = {
          dataPoints: this.items(() => ({
            attributes: this.attributes(3),
            ...this.common(),
            count: this.maybe(0.9, () => this.uint64()),
            sum: this.maybe(0.9, () => this.double()),
            quantileValues: Array.from({ length: r.int(0, 3) }, () => ({
              quantile: this.maybe(0.9, () => r.pick([0, 0.5, 0.99, 1])),
              value: this.maybe(0.9, () => this.double()),
            })),
          })),
        };
        break;
      default:
        break; // a metric with no data: valid, zero points
    }
    return m;
  }

  metrics(): Obj {
    return this.levels('resourceMetrics', 'scopeMetrics', 'metrics', () => this.metric());
  }

  logs(): Obj {
    const r = this.rng;
    return this.levels('resourceLogs', 'scopeLogs', 'logRecords', () => ({
      timeUnixNano: this.maybe(0.8, () => this.time()),
      observedTimeUnixNano: this.maybe(0.8, () => this.time()),
      severityNumber: this.maybe(0.8, () => r.int(0, 24)),
      severityText: this.maybe(0.7, () => r.pick(['INFO', 'WARN', 'ERROR', 'Information'])),
      body: this.maybe(0.9, () => this.anyValue(0)),
      attributes: this.attributes(4),
      droppedAttributesCount: this.maybe(0.2, () => this.uint32()),
      flags: this.maybe(0.4, () => r.pick([0, 1])),
      traceId: this.maybe(0.6, () => r.bytes(16)),
      spanId: this.maybe(0.6, () => r.bytes(8)),
      eventName: this.maybe(0.3, () => r.pick(['browser.click', 'session.start'])),
    }));
  }
}

let unpackedRoot: protobuf.Root | undefined;

/** The OTLP schema with every repeated fixed64/double/uint64 field marked [packed = false]. */
function unpackedRequestType(signal: Signal): protobuf.Type {
  if (!unpackedRoot) {
    const r = new protobuf.Root();
    const files = ['common/v1/common.proto', 'resource/v1/resource.proto', 'trace/v1/trace.proto', 'metrics/v1/metrics.proto', 'logs/v1/logs.proto'];
    const services = ['collector/trace/v1/trace_service.proto', 'collector/metrics/v1/metrics_service.proto', 'collector/logs/v1/logs_service.proto'];
    for (const f of [...files, ...services]) {
      let text = readFileSync(join(protoDir, 'opentelemetry', 'proto', f), 'utf8');
      text = text.replace(/(repeated (?:fixed64|double|uint64) \w+ = \d+)/g, '$1 [packed = false]');
      protobuf.parse(text, r, { keepCase: false });
    }
    r.resolveAll();
    unpackedRoot = r;
  }
  return unpackedRoot.lookupType(SIGNAL_WIRE[signal].requestType);
}

/** Drops undefined members so fromObject sees only the fields that were chosen. */
function prune(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(prune);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = prune(x);
    return out;
  }
  return v;
}

/** One random, valid request of `signal`. The same rng state gives the same request. */
export function generateRequest(signal: Signal, rng: Rng, options: GenerateOptions = {}): GeneratedRequest {
  const gen = new Generator(rng, options.maxItems ?? 4);
  const object = prune(signal === 'traces' ? gen.traces() : signal === 'metrics' ? gen.metrics() : gen.logs()) as Obj;
  const type = options.packed === false ? unpackedRequestType(signal) : requestType(signal);
  const bytes = type.encode(type.fromObject(object)).finish();
  return { signal, object, bytes: new Uint8Array(bytes) };
}

/** A traces request with exactly `spans` spans of realistic shape (for benchmarks). */
export function generateSpans(spans: number, seed = 1): Uint8Array {
  const rng = createRng(seed);
  const traceIds = Array.from({ length: Math.max(1, spans / 10) }, () => rng.bytes(16));
  const attrs = (n: number): Obj[] =>
    Array.from({ length: n }, (_, i) => ({ key: KEYS[i % KEYS.length] || 'k', value: i % 3 === 0 ? { intValue: String(i * 1000) } : { stringValue: `value-${i}-${rng.int(0, 1e6)}` } }));
  const object = {
    resourceSpans: [
      {
        resource: { attributes: attrs(8) },
        scopeSpans: [
          {
            scope: { name: '@opentelemetry/instrumentation-http', version: '0.52.0' },
            spans: Array.from({ length: spans }, (_, i) => ({
              traceId: traceIds[i % traceIds.length],
              spanId: rng.bytes(8),
              parentSpanId: i % 10 === 0 ? undefined : rng.bytes(8),
              name: `GET /api/v1/orders/${i}`,
              kind: 2,
              startTimeUnixNano: (1_700_000_000_000_000_000n + BigInt(i) * 1000n).toString(),
              endTimeUnixNano: (1_700_000_000_000_500_000n + BigInt(i) * 1000n).toString(),
              attributes: attrs(10),
              events: i % 5 === 0 ? [{ timeUnixNano: '1700000000000100000', name: 'exception', attributes: attrs(3) }] : [],
              status: { code: i % 50 === 0 ? 2 : 1 },
            })),
          },
        ],
      },
    ],
  };
  const type = requestType('traces');
  return new Uint8Array(type.encode(type.fromObject(prune(object) as Obj)).finish());
}
