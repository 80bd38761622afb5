// Realistic, deterministic OTLP trace requests for the load harness: spans shaped like what HTTP,
// database and messaging instrumentations emit (semantic-convention keys, ~12 attributes per span,
// traces of ~10 spans across a few services), with personal data where real telemetry has it: e-mail
// addresses in `enduser.id` and SQL, bearer tokens in `Authorization` headers, client IP addresses.
// The values are fake (example.com domains, documentation IP ranges, random tokens), the same for the
// same seed on every machine (no clock, no Math.random), and encoded once with protobufjs before the
// load starts, so generation costs nothing during a measurement.
import { requestType } from '../src/process/wire/otlp-schema.js';

export interface BenchRng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max]. */
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Buffer;
  hex(n: number): string;
}

/** mulberry32: tiny, fast, and the same sequence for the same seed everywhere. */
export function createBenchRng(seed: number): BenchRng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng: BenchRng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    bytes: (n) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
    hex: (n) => rng.bytes(Math.ceil(n / 2)).toString('hex').slice(0, n),
  };
  return rng;
}

export interface TraceGenOptions {
  /** Spans per request (exactly). */
  spansPerRequest: number;
  /** Mean spans per trace (traces are 0.5×..1.5× this long; the last one of a request is cut). Default 10. */
  spansPerTrace?: number;
  /** Share of eligible spans that carry personal data in each PII slot (0..1). Default 0.3. */
  piiRate?: number;
  /**
   * Dense personal data, for the policy bench: every PII slot filled (piiRate 1) plus, on every span, a
   * customer phone number and, on half of them, a payment card number and a session cookie header:
   * about 4–5 strings per span that the default policies redact. Off by default (the pool is then
   * exactly what it was without this option).
   */
  densePii?: boolean;
}

export interface PoolOptions extends TraceGenOptions {
  /** Distinct requests in the pool. Default 64. */
  count?: number;
  /** Seed of the PRNG. Default 1. */
  seed?: number;
}

export interface RequestPool {
  /** Encoded ExportTraceServiceRequests, each with exactly `spansPerRequest` spans. */
  requests: Buffer[];
  spansPerRequest: number;
  totalBytes: number;
  /** Mean encoded bytes per span (request overhead included). */
  bytesPerSpan: number;
}

type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };
interface KeyValue {
  key: string;
  value: AnyValue;
}
type Obj = Record<string, unknown>;

const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
const int = (key: string, v: number): KeyValue => ({ key, value: { intValue: String(v) } });
const dbl = (key: string, v: number): KeyValue => ({ key, value: { doubleValue: v } });
const bool = (key: string, v: boolean): KeyValue => ({ key, value: { boolValue: v } });

const SERVICES = ['frontend', 'checkout', 'payments', 'inventory', 'shipping', 'accounts', 'notifications', 'search'];
const FIRST = ['aria', 'kenji', 'diego', 'emma', 'lucas', 'noah', 'amara', 'ingrid', 'liam', 'sybil', 'heidi', 'judy', 'omar', 'priya'];
const LAST = ['silva', 'okafor', 'smith', 'kowalski', 'obrien', 'rossi', 'jensen', 'ivanova', 'moreau', 'haddad', 'kim', 'nakamura'];
const MAIL_DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example.com', 'corp.example'];
const ROUTES = [
  { method: 'GET', template: '/api/v1/orders/{orderId}', path: (r: BenchRng) => `/api/v1/orders/${r.int(100000, 999999)}` },
  { method: 'POST', template: '/api/v1/orders', path: () => '/api/v1/orders' },
  { method: 'GET', template: '/api/v1/products', path: (r: BenchRng) => `/api/v1/products?page=${r.int(1, 40)}&size=20` },
  { method: 'GET', template: '/api/v1/users/{userId}/cart', path: (r: BenchRng) => `/api/v1/users/${r.int(1000, 99999)}/cart` },
  { method: 'PUT', template: '/api/v1/cart/items/{itemId}', path: (r: BenchRng) => `/api/v1/cart/items/${r.hex(12)}` },
  { method: 'POST', template: '/api/v1/payments/authorize', path: () => '/api/v1/payments/authorize' },
  { method: 'GET', template: '/healthz', path: () => '/healthz' },
  { method: 'DELETE', template: '/api/v1/sessions/{sessionId}', path: (r: BenchRng) => `/api/v1/sessions/${r.hex(24)}` },
];
const USER_AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'okhttp/4.12.0',
  'python-requests/2.32.3',
  'Go-http-client/2.0',
];
const TABLES = ['orders', 'order_items', 'customers', 'products', 'inventory', 'payments', 'shipments'];
const TOPICS = ['orders.created', 'payments.authorized', 'inventory.reserved', 'shipments.dispatched', 'emails.outbound'];
const TOKEN68 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/';

/** Span kinds (opentelemetry.proto.trace.v1.Span.SpanKind). */
const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

class TraceGenerator {
  private readonly spansPerTrace: number;
  private readonly pii: number;
  private readonly dense: boolean;
  /** Fixed epoch (2024-11-14T22:13:20Z): deterministic timestamps, plausible to any backend. */
  private clockNs = 1_731_622_400_000_000_000n;

  constructor(
    private readonly rng: BenchRng,
    options: TraceGenOptions,
  ) {
    this.spansPerTrace = Math.max(1, options.spansPerTrace ?? 10);
    this.dense = options.densePii === true;
    this.pii = this.dense ? 1 : (options.piiRate ?? 0.3);
  }

  /** NANP fictional numbers (555-0100…0199) in the print forms telemetry carries. */
  phone(): string {
    const r = this.rng;
    const area = r.pick(['415', '212', '312', '646', '206']);
    const line = `01${String(r.int(0, 99)).padStart(2, '0')}`;
    return r.pick([`+1${area}555${line}`, `(${area}) 555-${line}`, `${area}-555-${line}`, `+1 ${area} 555 ${line}`]);
  }

  /** Payment-network test card numbers (Luhn-valid), grouped or not. */
  card(): string {
    const n = this.rng.pick(['4111111111111111', '5555555555554444', '4012888888881881', '6011111111111117', '5105105105105100']);
    return this.rng.chance(0.5) ? n : n.replace(/(\d{4})(?=\d)/g, '$1 ');
  }

  /** The extra personal data of densePii: appended to a span's attributes. */
  private densePiiAttributes(): KeyValue[] {
    const r = this.rng;
    const out = [str('app.customer.phone', this.phone())];
    if (r.chance(0.5)) out.push(str('app.payment.note', `charged card ${this.card()} for order ${r.int(100000, 999999)}`));
    if (r.chance(0.5)) out.push(str('http.request.header.cookie', `session=${r.hex(32)}; theme=dark`));
    return out;
  }

  email(): string {
    const r = this.rng;
    const first = r.pick(FIRST);
    const last = r.pick(LAST);
    const local = r.pick([`${first}.${last}`, `${first}-${last}`, `${first}${r.int(1960, 2005)}`, `${first[0]}${last}`, `${first}_${last}${r.int(10, 99)}`]);
    return `${local}@${r.pick(MAIL_DOMAINS)}`;
  }

  bearer(): string {
    const r = this.rng;
    const n = r.int(32, 48);
    let t = r.chance(0.3) ? 'ya29.' : '';
    for (let i = 0; i < n; i++) t += TOKEN68[r.int(0, 61)]; // alphanumerics; '-._~+/' appear via the prefix only
    return `${r.pick(['Bearer', 'bearer'])} ${t}`;
  }

  /** An address from the documentation ranges (RFC 5737 / RFC 3849). */
  ip(): string {
    const r = this.rng;
    if (r.chance(0.8)) return `${r.pick(['192.0.2', '198.51.100', '203.0.113'])}.${r.int(100, 254)}`;
    return `2001:db8:${r.hex(4)}::${r.hex(4)}`;
  }

  uuid(): string {
    const h = this.rng.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
  }

  private httpServer(): { name: string; kind: number; attrs: KeyValue[]; error: boolean } {
    const r = this.rng;
    const route = r.pick(ROUTES);
    const status = r.chance(0.04) ? r.pick([500, 502, 503]) : r.chance(0.06) ? r.pick([400, 401, 404, 409]) : r.pick([200, 200, 200, 201, 204]);
    const attrs = [
      str('http.request.method', route.method),
      str('http.route', route.template),
      str('url.path', route.path(r)),
      str('url.scheme', 'https'),
      int('http.response.status_code', status),
      str('server.address', 'api.example.com'),
      int('server.port', 443),
      str('client.address', this.ip()),
      str('user_agent.original', r.pick(USER_AGENTS)),
      str('network.protocol.version', r.pick(['1.1', '2'])),
      r.chance(this.pii) ? str('enduser.id', this.email()) : str('http.request.header.x-request-id', this.uuid()),
      r.chance(this.pii) ? str('http.request.header.authorization', this.bearer()) : int('http.request.body.size', r.int(0, 20000)),
    ];
    if (r.chance(this.pii / 2)) attrs.push(str('http.request.header.x-forwarded-for', `${this.ip()}, ${this.ip()}`));
    return { name: `${route.method} ${route.template}`, kind: KIND.server, attrs, error: status >= 500 };
  }

  private httpClient(): { name: string; kind: number; attrs: KeyValue[]; error: boolean } {
    const r = this.rng;
    const peer = r.pick(SERVICES);
    const route = r.pick(ROUTES);
    const status = r.chance(0.03) ? 503 : 200;
    const attrs = [
      str('http.request.method', route.method),
      str('url.full', `http://${peer}.shop.svc.cluster.local:8080${route.path(r)}`),
      str('server.address', `${peer}.shop.svc.cluster.local`),
      int('server.port', 8080),
      int('http.response.status_code', status),
      str('network.peer.address', `10.${r.int(0, 3)}.${r.int(0, 255)}.${r.int(1, 254)}`),
      int('http.request.resend_count', r.chance(0.05) ? 1 : 0),
      str('peer.service', peer),
      str('network.protocol.name', 'http'),
      str('http.request.header.traceparent', `00-${r.hex(32)}-${r.hex(16)}-01`),
      r.chance(this.pii) ? str('http.request.header.authorization', this.bearer()) : str('http.request.header.accept', 'application/json'),
      int('http.response.body.size', r.int(40, 60000)),
    ];
    return { name: `${route.method}`, kind: KIND.client, attrs, error: status >= 500 };
  }

  private db(): { name: string; kind: number; attrs: KeyValue[]; error: boolean } {
    const r = this.rng;
    const table = r.pick(TABLES);
    const op = r.pick(['SELECT', 'SELECT', 'SELECT', 'INSERT', 'UPDATE']);
    const where = r.chance(this.pii) ? `email = '${this.email()}'` : `id = $1`;
    const statement =
      op === 'SELECT'
        ? `SELECT id, status, total_cents, created_at FROM ${table} WHERE ${where} LIMIT ${r.int(1, 100)}`
        : op === 'INSERT'
          ? `INSERT INTO ${table} (id, status, total_cents) VALUES ($1, $2, $3)`
          : `UPDATE ${table} SET status = $2, updated_at = now() WHERE ${where}`;
    const attrs = [
      str('db.system', 'postgresql'),
      str('db.namespace', 'shop'),
      str('db.operation.name', op),
      str('db.collection.name', table),
      str('db.query.text', statement),
      str('server.address', 'pg-primary.shop.svc.cluster.local'),
      int('server.port', 5432),
      str('network.peer.address', `10.${r.int(0, 3)}.${r.int(0, 255)}.${r.int(1, 254)}`),
      str('db.user', 'shop_app'),
      int('db.response.returned_rows', r.int(0, 100)),
      str('db.connection_string', 'postgresql://pg-primary.shop.svc.cluster.local:5432/shop'),
      dbl('db.client.connection.wait_time', Math.round(r.next() * 5000) / 1000),
    ];
    return { name: `${op} shop.${table}`, kind: KIND.client, attrs, error: r.chance(0.01) };
  }

  private messaging(): { name: string; kind: number; attrs: KeyValue[]; error: boolean } {
    const r = this.rng;
    const topic = r.pick(TOPICS);
    const publish = r.chance(0.5);
    const attrs = [
      str('messaging.system', 'kafka'),
      str('messaging.destination.name', topic),
      str('messaging.operation.type', publish ? 'publish' : 'process'),
      str('messaging.client.id', `${r.pick(SERVICES)}-${r.int(0, 9)}`),
      str('messaging.kafka.message.key', this.uuid()),
      int('messaging.kafka.offset', r.int(1, 90_000_000)),
      int('messaging.destination.partition.id', r.int(0, 11)),
      str('messaging.message.id', this.uuid()),
      int('messaging.message.body.size', r.int(100, 8000)),
      str('server.address', 'kafka-0.kafka.svc.cluster.local'),
      int('server.port', 9092),
      r.chance(this.pii) ? str('messaging.message.header.reply-to', this.email()) : bool('messaging.kafka.message.tombstone', false),
    ];
    return { name: `${publish ? 'publish' : 'process'} ${topic}`, kind: publish ? KIND.producer : KIND.consumer, attrs, error: false };
  }

  private internal(): { name: string; kind: number; attrs: KeyValue[]; error: boolean } {
    const r = this.rng;
    const fn = r.pick(['validateCart', 'priceItems', 'applyDiscounts', 'reserveStock', 'renderReceipt']);
    const attrs = [
      str('code.function', fn),
      str('code.namespace', r.pick(['shop.checkout', 'shop.pricing', 'shop.inventory'])),
      str('code.filepath', `/app/src/${r.pick(['cart', 'pricing', 'stock', 'receipt'])}.ts`),
      int('code.lineno', r.int(10, 900)),
      int('thread.id', r.int(1, 64)),
      str('thread.name', 'main'),
      int('app.items.count', r.int(1, 30)),
      dbl('app.cart.total', Math.round(r.next() * 100000) / 100),
      str('app.currency', r.pick(['EUR', 'USD', 'GBP'])),
      bool('app.cache.hit', r.chance(0.7)),
      str('app.session.id', r.hex(32)),
      r.chance(this.pii) ? str('app.customer.email', this.email()) : str('app.customer.tier', r.pick(['gold', 'silver', 'none'])),
    ];
    return { name: fn, kind: KIND.internal, attrs, error: false };
  }

  private span(traceId: Buffer, spanId: Buffer, parent: Buffer | undefined, startNs: bigint): Obj {
    const r = this.rng;
    const shape = parent === undefined ? this.httpServer() : r.pick([this.httpClient, this.db, this.db, this.messaging, this.internal, this.httpServer]).call(this);
    const durationNs = BigInt(r.int(50_000, 250_000_000));
    const span: Obj = {
      traceId,
      spanId,
      name: shape.name,
      kind: shape.kind,
      startTimeUnixNano: String(startNs),
      endTimeUnixNano: String(startNs + durationNs),
      attributes: this.dense ? [...shape.attrs, ...this.densePiiAttributes()] : shape.attrs,
      status: shape.error ? { code: 2, message: 'upstream returned an error' } : { code: r.chance(0.5) ? 1 : 0 },
    };
    if (parent) span.parentSpanId = parent;
    if (shape.error) {
      span.events = [
        {
          timeUnixNano: String(startNs + durationNs / 2n),
          name: 'exception',
          attributes: [
            str('exception.type', 'UpstreamError'),
            str('exception.message', `request to ${r.pick(SERVICES)} failed: 503 Service Unavailable`),
            str('exception.stacktrace', 'UpstreamError: 503\n    at call (/app/src/client.ts:41:11)\n    at process (/app/src/handler.ts:88:5)'),
          ],
        },
      ];
    }
    return span;
  }

  /** One ExportTraceServiceRequest object with exactly `spans` spans, for protobufjs' fromObject. */
  request(spans: number, services: string[]): Obj {
    const r = this.rng;
    // service -> spans, in the order services first appear
    const byService = new Map<string, Obj[]>();
    let made = 0;
    while (made < spans) {
      const len = Math.min(spans - made, r.int(Math.ceil(this.spansPerTrace / 2), Math.floor((this.spansPerTrace * 3) / 2)));
      const traceId = r.bytes(16);
      const ids: Buffer[] = [];
      this.clockNs += BigInt(r.int(1_000_000, 50_000_000));
      for (let i = 0; i < len; i++) {
        const spanId = r.bytes(8);
        const parent = i === 0 ? undefined : ids[r.int(0, i - 1)];
        ids.push(spanId);
        const service = i === 0 ? services[0]! : r.pick(services);
        let list = byService.get(service);
        if (!list) byService.set(service, (list = []));
        list.push(this.span(traceId, spanId, parent, this.clockNs + BigInt(i * 1_000_000)));
      }
      made += len;
    }
    const resourceSpans = [...byService].map(([service, list]) => ({
      resource: {
        attributes: [
          str('service.name', service),
          str('service.namespace', 'shop'),
          str('service.version', `2.${r.int(0, 9)}.${r.int(0, 30)}`),
          str('service.instance.id', this.uuid()),
          str('deployment.environment.name', 'production'),
          str('host.name', `ip-10-0-${r.int(0, 255)}-${r.int(1, 254)}.ec2.internal`),
          str('k8s.pod.name', `${service}-${r.hex(10)}-${r.hex(5)}`),
          str('k8s.namespace.name', 'shop'),
          str('telemetry.sdk.name', 'opentelemetry'),
          str('telemetry.sdk.language', r.pick(['nodejs', 'java', 'go', 'python'])),
          str('telemetry.sdk.version', '1.28.0'),
        ],
      },
      scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' }, spans: list, schemaUrl: 'https://opentelemetry.io/schemas/1.27.0' }],
      schemaUrl: 'https://opentelemetry.io/schemas/1.27.0',
    }));
    return { resourceSpans };
  }
}

/** Encode a request object (as built by the generator) with protobufjs. */
export function encodeTraceRequest(object: Obj): Buffer {
  const type = requestType('traces');
  const bytes = type.encode(type.fromObject(object)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Objects of `count` distinct requests (for tests that want to inspect what is sent). Each request
 * draws its services from the same seeded stream, so the pool is identical for the same options.
 */
export function generateTraceObjects(options: PoolOptions): Obj[] {
  const rng = createBenchRng(options.seed ?? 1);
  const gen = new TraceGenerator(rng, options);
  const count = options.count ?? 64;
  const out: Obj[] = [];
  for (let i = 0; i < count; i++) {
    // A gateway sees batches from agents and SDKs: 1 to 3 services per request.
    const n = rng.int(1, 3);
    const services: string[] = [];
    while (services.length < n) {
      const s = rng.pick(SERVICES);
      if (!services.includes(s)) services.push(s);
    }
    out.push(gen.request(options.spansPerRequest, services));
  }
  return out;
}

/** The encoded pool the load drivers cycle through. */
export function generateRequestPool(options: PoolOptions): RequestPool {
  const requests = generateTraceObjects(options).map(encodeTraceRequest);
  const totalBytes = requests.reduce((n, b) => n + b.length, 0);
  return {
    requests,
    spansPerRequest: options.spansPerRequest,
    totalBytes,
    bytesPerSpan: totalBytes / (requests.length * options.spansPerRequest),
  };
}

/**
 * How many distinct requests to pre-generate: 64, fewer for very large requests so that the pool stays
 * under ~100k spans (a few tens of MB, generated in a few seconds), never fewer than 4.
 */
export function defaultPoolSize(spansPerRequest: number): number {
  return Math.max(4, Math.min(64, Math.floor(100_000 / Math.max(1, spansPerRequest))));
}
