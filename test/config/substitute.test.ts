// ${env:…} / ${file:…} substitution in the config file (as the OpenTelemetry Collector writes it),
// through the real loader (YAML file on disk), and the secrets it registers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { REDACTED, redactSecrets } from '../../src/config/secrets.js';
import { expandString, substituteConfig } from '../../src/config/substitute.js';

const dir = mkdtempSync(join(tmpdir(), 'stella-subst-'));
function load(yaml: string) {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig({ file, flags: {} });
}

t.test('expandString: env, default, file, escaping, errors', async (t) => {
  const env = { TOKEN: 'tok-123456', EMPTY: '', PORT: '4317' };
  const files: Record<string, string> = { '/run/secrets/t': 'file-secret\n' };
  const readFile = (p: string): string => {
    if (!(p in files)) throw Object.assign(new Error('no'), { code: 'ENOENT' });
    return files[p]!;
  };
  const x = (v: string) => expandString(v, { env, readFile });
  t.match(x('Bearer ${env:TOKEN}'), { ok: true, text: 'Bearer tok-123456', references: 1, whole: false });
  t.match(x('${env:TOKEN}'), { ok: true, text: 'tok-123456', whole: true });
  t.match(x('${TOKEN}'), { ok: true, text: 'tok-123456' }, 'bare ${NAME} is env, as in the Collector');
  t.match(x('${env:MISSING:-fallback}'), { ok: true, text: 'fallback' });
  t.match(x('${env:EMPTY:-fallback}'), { ok: true, text: 'fallback' }, 'empty takes the default too');
  t.match(x('${env:TOKEN:-fallback}'), { ok: true, text: 'tok-123456' });
  t.match(x('${env:MISSING:-}'), { ok: true, text: '' }, 'an empty default');
  t.match(x('${file:/run/secrets/t}'), { ok: true, text: 'file-secret' }, 'one trailing newline removed');
  t.match(x('$${env:TOKEN}'), { ok: true, text: '${env:TOKEN}', references: 0 }, '$$ escapes');
  t.match(x('price $5 and $$'), { ok: true, text: 'price $5 and $' });
  t.match(x('a ${env:PORT} b ${env:TOKEN}'), { ok: true, text: 'a 4317 b tok-123456', references: 2 });
  t.match(x('${env:MISSING}'), { ok: false, error: /environment variable MISSING is not set/ });
  t.match(x('${env:EMPTY}'), { ok: false, error: /environment variable EMPTY is empty/ });
  t.match(x('${env:1BAD}'), { ok: false, error: /invalid environment variable name "1BAD"/ });
  t.match(x('${vault:kv/x}'), { ok: false, error: /unknown provider "vault"/ });
  t.match(x('${file:/nope}'), { ok: false, error: /cannot read \/nope: no such file/ });
  t.match(x('abc ${env:TOKEN'), { ok: false, error: /unterminated/ });
});

t.test('substituteConfig keeps the scalar type of whole references and names the path of errors', async (t) => {
  const r = substituteConfig(
    { a: { port: '${env:P}', on: '${env:B}', text: 'x${env:P}' }, list: ['${env:NOPE}'], 'odd key': '${env:NOPE2}' },
    { env: { P: '4317', B: 'true' } },
  );
  t.same(r, { errors: ['list[0]: environment variable NOPE is not set (referenced as ${env:NOPE}; give a default with ${env:NOPE:-value})', '["odd key"]: environment variable NOPE2 is not set (referenced as ${env:NOPE2}; give a default with ${env:NOPE2:-value})'] });
  const ok = substituteConfig({ a: { port: '${env:P}', on: '${env:B}', text: 'x${env:P}', map: '${env:M}' } }, { env: { P: '4317', B: 'true', M: '{a: 1}' } });
  t.same(ok, { raw: { a: { port: 4317, on: true, text: 'x4317', map: '{a: 1}' } } }, 'numbers and booleans typed; structure stays text');
});

t.test('the loader: env and file references in a real config, headers from the environment', async (t) => {
  const secretFile = join(dir, 'token');
  writeFileSync(secretFile, 'from-a-file-7f3a9\n');
  process.env.STELLA_T_TOKEN = 'env-secret-1c2d3e';
  process.env.STELLA_T_PORT = '14317';
  t.teardown(() => {
    delete process.env.STELLA_T_TOKEN;
    delete process.env.STELLA_T_PORT;
  });
  const r = load(`
receivers:
  grpc: { endpoint: "127.0.0.1:\${env:STELLA_T_PORT}" }
exporters:
  - name: tempo
    endpoint: otlp-grpc://tempo:4317
    headers:
      Authorization: "Bearer \${env:STELLA_T_TOKEN}"
      x-api-key: \${file:${secretFile}}
      x-literal: "$\${env:NOT_EXPANDED}"
      x-scope-orgid: acme-corp-literal
      x-api-key-2: literal-key-9a8b7c
    timeout: \${env:STELLA_T_TIMEOUT:-7s}
`);
  t.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  if (!r.ok) return;
  t.same(r.config.receivers.grpc.endpoint, { host: '127.0.0.1', port: 14317 });
  t.same(r.config.exporters[0]!.headers, {
    Authorization: 'Bearer env-secret-1c2d3e',
    'x-api-key': 'from-a-file-7f3a9',
    'x-literal': '${env:NOT_EXPANDED}',
    'x-scope-orgid': 'acme-corp-literal',
    'x-api-key-2': 'literal-key-9a8b7c',
  });
  t.equal(redactSecrets('key literal-key-9a8b7c'), `key ${REDACTED}`, 'a credential header written in the file is a secret too');
  t.equal(redactSecrets('tenant acme-corp-literal'), 'tenant acme-corp-literal', 'a header that is no credential is not masked');
  t.equal(r.config.exporters[0]!.timeoutMs, 7000, 'the default applies');
  t.equal(redactSecrets('sent Bearer env-secret-1c2d3e and from-a-file-7f3a9'), `sent ${REDACTED} and ${REDACTED}`, 'both registered as secrets');
  t.equal(redactSecrets('listening on 127.0.0.1:14317'), 'listening on 127.0.0.1:14317', 'a port is not a secret');
});

t.test('the loader: a missing variable is an error naming it (and the key); a secret in a bad value is masked', async (t) => {
  const r = load(`
exporters:
  - endpoint: otlp-grpc://tempo:4317
    headers: { Authorization: "Bearer \${env:STELLA_T_UNSET_VAR}" }
`);
  t.notOk(r.ok);
  if (r.ok) return;
  t.equal(r.errors.length, 1);
  t.match(r.errors[0], /: exporters\[0\]\.headers\.Authorization: environment variable STELLA_T_UNSET_VAR is not set/);

  process.env.STELLA_T_BAD = 'zz-secret-in-the-wrong-place';
  t.teardown(() => delete process.env.STELLA_T_BAD);
  const bad = load(`
exporters:
  - endpoint: otlp-grpc://tempo:4317
    compression: \${env:STELLA_T_BAD}
`);
  t.notOk(bad.ok);
  if (bad.ok) return;
  t.match(bad.errors.join('\n'), /compression: expected one of .*\(got "\[redacted\]"\)/);
  t.notMatch(bad.errors.join('\n'), /zz-secret-in-the-wrong-place/);
});

t.test('exporter tls: keys, contradictions and files are checked with precise messages', async (t) => {
  const pem = join(dir, 'ca.pem');
  writeFileSync(pem, 'not checked here');
  const cases: Array<[string, RegExp]> = [
    [`{ endpoint: "otlp-http://h:4318", tls: { caFile: "${pem}" } }`, /exporters\[0\]\.tls: the endpoint "http:\/\/h:4318" is plaintext http:\/\/; write https:\/\/ to use TLS/],
    [`{ endpoint: "file://./x", tls: {} }`, /exporters\[0\]\.tls: a file exporter has no TLS/],
    [`{ endpoint: "otlp-grpcs://h:4317", tls: { certFile: "${pem}" } }`, /exporters\[0\]\.tls\.keyFile: required with certFile/],
    [`{ endpoint: "otlp-grpcs://h:4317", tls: { caFile: "/nope/ca.pem" } }`, /exporters\[0\]\.tls\.caFile: cannot read "\/nope\/ca.pem": no such file/],
    [`{ endpoint: "otlp-grpcs://h:4317", tls: { caFile: "${pem}", insecureSkipVerify: true } }`, /tls\.insecureSkipVerify: contradicts caFile/],
    [`{ endpoint: "otlp-grpcs://h:4317", tls: { minVersion: "TLSv1.0" } }`, /tls\.minVersion: expected one of TLSv1\.2, TLSv1\.3/],
    [`{ endpoint: "otlp-grpcs://h:4317", tls: { servername: "x" } }`, /exporters\[0\]\.tls: unknown key "servername" \(did you mean "serverName"\?\)/],
  ];
  for (const [entry, error] of cases) {
    const r = load(`exporters:\n  - ${entry}\n`);
    t.notOk(r.ok, entry);
    if (!r.ok) t.match(r.errors.join('\n'), error, entry);
  }
  const grpcs = load('exporters:\n  - endpoint: otlp-grpcs://tempo:4317\n');
  t.ok(grpcs.ok && grpcs.config.exporters[0]!.kind === 'otlp-grpc');
  t.same(grpcs.ok && grpcs.config.exporters[0]!.tls, { minVersion: 'TLSv1.2', insecureSkipVerify: false }, 'otlp-grpcs:// = TLS with system CAs');
  const https = load('exporters:\n  - endpoint: https://tempo:4318/otlp\n');
  t.same(https.ok && https.config.exporters[0]!.tls, { minVersion: 'TLSv1.2', insecureSkipVerify: false }, 'https:// = TLS');
  const grpcTls = load(`exporters:\n  - { endpoint: "otlp-grpc://tempo:4317", tls: { caFile: "${pem}", serverName: tempo.internal } }\n`);
  t.same(grpcTls.ok && grpcTls.config.exporters[0]!.tls, { minVersion: 'TLSv1.2', insecureSkipVerify: false, caFile: pem, serverName: 'tempo.internal' }, 'a tls: section turns TLS on for otlp-grpc://');
  const plain = load('exporters:\n  - endpoint: otlp-grpc://tempo:4317\n');
  t.equal(plain.ok && plain.config.exporters[0]!.tls, undefined, 'plaintext stays plaintext');
  const retry = load('exporters:\n  - { endpoint: "otlp-grpc://tempo:4317", retry: { whenExhausted: drop } }\n');
  t.equal(retry.ok && retry.config.exporters[0]!.retry.whenExhausted, 'drop');
  const badRetry = load('exporters:\n  - { endpoint: "otlp-grpc://tempo:4317", retry: { whenExhausted: later } }\n');
  t.match(!badRetry.ok && badRetry.errors.join('\n'), /exporters\[0\]\.retry\.whenExhausted: expected one of keep, drop \(got "later"\)/);
});
