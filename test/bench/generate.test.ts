// The bench's trace generator: deterministic for a seed, and realistic in the ways the bench relies on
// (exact spans per request, ~12 attributes per span, ~10 spans per trace, personal data present and fake).
import t from 'tap';
import { createBenchRng, defaultPoolSize, generateRequestPool } from '../../bench/generate.js';
import { requestType } from '../../src/process/wire/otlp-schema.js';

interface Span {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId?: Uint8Array;
  name: string;
  attributes: Array<{ key: string; value: { stringValue?: string } }>;
}

function decodeSpans(bytes: Buffer): { spans: Span[]; resources: number } {
  const msg = requestType('traces').decode(bytes) as unknown as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Span[] }> }> };
  const spans: Span[] = [];
  for (const rs of msg.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
  return { spans, resources: msg.resourceSpans.length };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('the PRNG repeats for a seed and differs between seeds', async (t) => {
  const a = createBenchRng(7);
  const b = createBenchRng(7);
  const c = createBenchRng(8);
  const sa = Array.from({ length: 5 }, () => a.next());
  t.same(Array.from({ length: 5 }, () => b.next()), sa);
  t.not(Array.from({ length: 5 }, () => c.next()).join(), sa.join());
  for (const v of sa) t.ok(v >= 0 && v < 1, `${v} in [0, 1)`);
});

t.test('the same seed gives byte-identical pools; another seed a different one', async (t) => {
  const a = generateRequestPool({ count: 6, spansPerRequest: 120, seed: 42 });
  const b = generateRequestPool({ count: 6, spansPerRequest: 120, seed: 42 });
  const c = generateRequestPool({ count: 6, spansPerRequest: 120, seed: 43 });
  t.equal(a.requests.length, 6);
  for (let i = 0; i < 6; i++) t.ok(a.requests[i]!.equals(b.requests[i]!), `request ${i} identical`);
  t.notOk(a.requests[0]!.equals(c.requests[0]!), 'a different seed differs');
  // Distinct requests within a pool, so the target does not see the same bytes over and over.
  const distinct = new Set(a.requests.map((r) => r.toString('base64')));
  t.equal(distinct.size, 6);
  t.equal(a.totalBytes, a.requests.reduce((n, r) => n + r.length, 0));
  t.ok(a.bytesPerSpan > 300 && a.bytesPerSpan < 1500, `bytes per span plausible (${a.bytesPerSpan.toFixed(0)})`);
});

t.test('requests are realistic: span and attribute counts, trace shape, personal data', async (t) => {
  const spansPerRequest = 500;
  const pool = generateRequestPool({ count: 8, spansPerRequest, seed: 1 });
  let spans = 0;
  let attributes = 0;
  let traces = 0;
  let withEmail = 0;
  let withBearer = 0;
  let withIp = 0;
  let resources = 0;
  const stringValues: string[] = [];
  for (const bytes of pool.requests) {
    const decoded = decodeSpans(bytes);
    resources += decoded.resources;
    t.equal(decoded.spans.length, spansPerRequest, 'exactly --spans spans per request');
    const byTrace = new Map<string, Set<string>>();
    t.equal(decoded.spans.filter((s) => s.traceId.length !== 16 || s.spanId.length !== 8).length, 0, '16-byte trace ids, 8-byte span ids');
    for (const s of decoded.spans) {
      const ids = byTrace.get(hex(s.traceId)) ?? new Set<string>();
      ids.add(hex(s.spanId));
      byTrace.set(hex(s.traceId), ids);
    }
    // Every parent is a span of the same trace (the traces are whole trees within a request).
    let orphans = 0;
    for (const s of decoded.spans) if (s.parentSpanId?.length && !byTrace.get(hex(s.traceId))!.has(hex(s.parentSpanId))) orphans++;
    t.equal(orphans, 0, 'no span points to a parent outside its trace');
    traces += byTrace.size;
    for (const s of decoded.spans) {
      spans++;
      attributes += s.attributes.length;
      const values = s.attributes.map((a) => a.value.stringValue).filter((v): v is string => typeof v === 'string');
      stringValues.push(...values);
      if (values.some((v) => /[\w.+-]+@[\w.-]*example(\.(com|org|net))?\b/.test(v))) withEmail++;
      if (values.some((v) => /^[Bb]earer [A-Za-z0-9._~+/-]{20,}=*$/.test(v))) withBearer++;
      if (values.some((v) => /\b(192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}\b|2001:db8:/.test(v))) withIp++;
    }
  }
  const attrsPerSpan = attributes / spans;
  const spansPerTrace = spans / traces;
  t.ok(attrsPerSpan >= 11 && attrsPerSpan <= 13.5, `about 12 attributes per span (${attrsPerSpan.toFixed(2)})`);
  t.ok(spansPerTrace >= 8 && spansPerTrace <= 12, `about 10 spans per trace (${spansPerTrace.toFixed(2)})`);
  t.ok(resources > pool.requests.length, 'some requests carry several services');
  t.ok(withEmail / spans > 0.1, `e-mail addresses in ${(100 * withEmail / spans).toFixed(0)}% of spans`);
  t.ok(withBearer / spans > 0.05, `bearer tokens in ${(100 * withBearer / spans).toFixed(0)}% of spans`);
  t.ok(withIp / spans > 0.2, `IP addresses in ${(100 * withIp / spans).toFixed(0)}% of spans`);
  t.ok(withEmail < spans && withBearer < spans, 'and not in every span');

  // The personal data is fake: only reserved example domains and documentation address ranges.
  const allText = stringValues.join('\n');
  const domains = new Set([...allText.matchAll(/[\w.+-]+@([\w.-]+)/g)].map((m) => m[1]!));
  t.ok(domains.size >= 3, `several mail domains (${[...domains].join(', ')})`);
  t.same([...domains].filter((d) => !/(^|\.)example(\.(com|org|net))?$/.test(d)), [], 'every mail domain is a reserved example domain');
  const publicIp = [...allText.matchAll(/\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b/g)].find((m) => {
    const s = `${m[1]}.${m[2]}.${m[3]}`;
    return !['192.0.2', '198.51.100', '203.0.113'].includes(s) && m[1] !== '10';
  });
  t.equal(publicIp?.[0], undefined, 'IPv4 addresses are documentation or private (10/8) ones');
});

t.test('the pool size shrinks for large requests and stays within bounds', async (t) => {
  t.equal(defaultPoolSize(500), 64);
  t.equal(defaultPoolSize(5000), 20);
  t.equal(defaultPoolSize(1_000_000), 4);
  t.equal(defaultPoolSize(1), 64);
});
