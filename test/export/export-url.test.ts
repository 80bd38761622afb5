import t from 'tap';
import { parseExportUrl } from '../../src/export/export-url.js';

t.test('parseExportUrl', async (t) => {
  const ok: Array<[string, { kind: string; endpoint: string; tls?: boolean }]> = [
    ['otlp-grpc://localhost:4317', { kind: 'otlp-grpc', endpoint: 'localhost:4317' }],
    ['otlp-grpc://10.0.0.1:4317/', { kind: 'otlp-grpc', endpoint: '10.0.0.1:4317' }],
    ['otlp-grpc://[::1]:4317', { kind: 'otlp-grpc', endpoint: '[::1]:4317' }],
    ['otlp-grpcs://tempo.internal:4317', { kind: 'otlp-grpc', endpoint: 'tempo.internal:4317', tls: true }],
    ['otlp-http://localhost:4318', { kind: 'otlp-http', endpoint: 'http://localhost:4318' }],
    ['otlp-http://tempo:4318/otlp/', { kind: 'otlp-http', endpoint: 'http://tempo:4318/otlp' }],
    ['otlp-http://collector', { kind: 'otlp-http', endpoint: 'http://collector' }],
    ['otlp-https://otlp.example.com/api', { kind: 'otlp-http', endpoint: 'https://otlp.example.com/api' }],
    ['file://./data/out', { kind: 'file', endpoint: './data/out' }],
    ['file://out', { kind: 'file', endpoint: 'out' }],
    ['file:///var/lib/stella', { kind: 'file', endpoint: '/var/lib/stella' }],
  ];
  for (const [url, want] of ok) t.same(parseExportUrl(url), want, url);
  const bad: Array<[string, RegExp]> = [
    ['localhost:4317', /expected otlp-grpc:\/\/host:port, .* \(got "localhost:4317"\)/],
    ['http://x:1', /unsupported export scheme "http:\/\/"/],
    ['otlp-grpc://localhost', /otlp-grpc:\/\/: expected host:port, the port is missing/],
    ['otlp-grpc://h:99999', /port from 1 to 65535/],
    ['otlp-grpc://h:0', /port 0/],
    ['otlp-grpc://h:4317/v1', /without a path/],
    ['otlp-grpcs://h', /otlp-grpcs:\/\/: expected host:port, the port is missing/],
    ['otlp-http://:4318', /missing host|port from 1 to 65535/],
    ['otlp-http://u:p@h:4318', /credentials/],
    ['otlp-http://h:4318/?a=1', /query or fragment/],
    ['file://', /file:\/\/: expected a directory/],
  ];
  for (const [url, re] of bad) {
    const r = parseExportUrl(url);
    t.ok('error' in r, `${url} is refused`);
    if ('error' in r) t.match(r.error, re, `${url}: ${r.error}`);
  }
});
