import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULT_CONFIG, exporterDefaults, type GatewayConfig } from '../../src/config/types.js';
import { parseDuration, parseSize } from '../../src/config/units.js';
import { validateConfig } from '../../src/config/validate.js';
import { packageRoot } from '../../src/paths.js';

const MiB = 1024 * 1024;

function valid(raw: unknown, options?: Parameters<typeof validateConfig>[2]): GatewayConfig {
  const r = validateConfig(raw, undefined, options);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.errors.join('\n')}`);
  return r.config;
}

interface InvalidCase {
  config: unknown;
  error: string;
  profile?: string;
  count?: number;
}

t.test('invalid configs (test/fixtures/configs/invalid-configs.yaml)', async (t) => {
  const cases = parse(readFileSync(join(packageRoot, 'test/fixtures/configs/invalid-configs.yaml'), 'utf8')) as Record<string, InvalidCase>;
  t.ok(Object.keys(cases).length >= 60, 'the fixture holds the cases');
  for (const [name, c] of Object.entries(cases)) {
    t.test(name, async (t) => {
      t.type(c.error, 'string', 'the case names its expected message');
      const r = validateConfig(c.config, undefined, { profile: c.profile });
      t.equal(r.ok, false, 'rejected');
      if (r.ok) return;
      t.ok(
        r.errors.some((e) => e.includes(c.error)),
        `an error contains ${JSON.stringify(c.error)}; got ${JSON.stringify(r.errors)}`,
      );
      t.equal(r.errors.length, c.count ?? 1, `error count; got ${JSON.stringify(r.errors)}`);
    });
  }
});

t.test('the source prefixes every error', async (t) => {
  const r = validateConfig({ log: { level: 'loud' }, recievers: {} }, 'gw.yaml');
  t.equal(r.ok, false);
  if (r.ok) return;
  t.equal(r.errors.length, 2);
  for (const e of r.errors) t.match(e, /^gw\.yaml: /);
});

t.test('defaults: an empty config is DEFAULT_CONFIG plus the documented file exporter', async (t) => {
  for (const raw of [{}, null, undefined]) {
    const c = valid(raw);
    const { exporters, ...rest } = c;
    const { exporters: defaultExporters, ...defaultRest } = DEFAULT_CONFIG;
    t.same(rest, defaultRest, `everything else is the default (${String(raw)})`);
    t.same(defaultExporters, [], 'types.ts says: empty means a file exporter');
    t.same(exporters, [{ name: 'file', kind: 'file', endpoint: join('data', 'export'), ...exporterDefaults('file') }]);
  }
  // A key whose children are all commented out parses as null and means "the defaults".
  t.same(valid({ receivers: { grpc: null }, log: null }).receivers.grpc, DEFAULT_CONFIG.receivers.grpc);
});

t.test('sizes', async (t) => {
  const sizes: [unknown, number | undefined][] = [
    [0, 0],
    [100, 100],
    ['100', 100],
    ['100B', 100],
    ['512KiB', 512 * 1024],
    ['16MiB', 16 * MiB],
    ['16mib', 16 * MiB],
    ['1.5MiB', 1.5 * MiB],
    ['2 GiB', 2 * 1024 * MiB],
    ['1GB', 1e9],
    ['500kB', 500_000],
    ['1TiB', 2 ** 40],
    ['lots', undefined],
    ['16Mbit', undefined],
    ['MiB', undefined],
    [-1, undefined],
    [1.5, undefined],
    [true, undefined],
    [null, undefined],
  ];
  for (const [input, bytes] of sizes) t.equal(parseSize(input), bytes, `size ${JSON.stringify(input)}`);
  const c = valid({ receivers: { http: { maxBodyBytes: '1MiB' }, grpc: { maxMessageBytes: 2048 } }, admit: { maxInflightBytes: '1GB' } });
  t.equal(c.receivers.http.maxBodyBytes, MiB);
  t.equal(c.receivers.grpc.maxMessageBytes, 2048);
  t.equal(c.admit.maxInflightBytes, 1e9);
});

t.test('durations', async (t) => {
  const durations: [unknown, number | undefined][] = [
    [0, 0],
    [250, 250],
    ['250', 250],
    ['200ms', 200],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['2d', 172_800_000],
    ['soon', undefined],
    ['10 sec', undefined],
    ['s', undefined],
    ['-5s', undefined],
    [-1, undefined],
    [Infinity, undefined],
    [false, undefined],
  ];
  for (const [input, ms] of durations) t.equal(parseDuration(input), ms, `duration ${JSON.stringify(input)}`);
  const c = valid({ process: { taskTimeout: '2s', maxQueueWait: '750ms' }, shutdownTimeout: 0, exporters: [{ endpoint: 'otlp-grpc://a:1', timeout: '1m', batch: { flushInterval: 50 } }] });
  t.equal(c.process.taskTimeoutMs, 2000);
  t.equal(c.process.maxQueueWaitMs, 750);
  t.equal(valid({}).process.maxQueueWaitMs, 5000, 'process.maxQueueWait defaults to 5s');
  t.equal(valid({}).process.maxExpectedWaitMs, 1000, 'process.maxExpectedWait defaults to 1s');
  t.equal(valid({ process: { maxExpectedWait: '250ms' } }).process.maxExpectedWaitMs, 250);
  t.equal(c.shutdownTimeoutMs, 0, 'a zero shutdown deadline is allowed');
  t.equal(c.exporters[0]!.timeoutMs, 60_000);
  t.equal(c.exporters[0]!.batch.flushIntervalMs, 50);
});

t.test('listeners', async (t) => {
  const c = valid({
    receivers: { grpc: { endpoint: '[::1]:0' }, http: { endpoint: { host: 'localhost', port: 0 }, enabled: false } },
    admin: { endpoint: '0.0.0.0:9999' },
  });
  t.same(c.receivers.grpc.endpoint, { host: '::1', port: 0 }, 'IPv6 without brackets, port 0 allowed');
  t.same(c.receivers.http.endpoint, { host: 'localhost', port: 0 });
  t.equal(c.receivers.http.enabled, false);
  t.same(c.admin.endpoint, { host: '0.0.0.0', port: 9999 });
  // A disabled receiver may share a port; port 0 never clashes.
  valid({ receivers: { grpc: { enabled: false, endpoint: '127.0.0.1:4318' } } });
  valid({ receivers: { grpc: { endpoint: '127.0.0.1:0' }, http: { endpoint: '127.0.0.1:0' } }, admin: { endpoint: '127.0.0.1:0' } });
});

t.test('exporter endpoints, kinds and default names', async (t) => {
  const c = valid({
    exporters: [
      { endpoint: 'otlp-grpc://tempo:4317' },
      { endpoint: 'otlp-http://mimir:4318/otlp/' },
      { endpoint: 'otlp-https://mimir.example.com/otlp' },
      { endpoint: 'https://loki:3100/otlp' },
      { endpoint: 'file://./out' },
      { endpoint: 'collector:4317' },
      { kind: 'otlp-grpc', endpoint: '[::1]:4317' },
      { kind: 'file', endpoint: '/var/lib/stella/out' },
      { kind: 'otlp-http', endpoint: 'http://h:4318', name: 'named', signals: 'metrics' },
      { endpoint: 'otel_collector:4317' },
    ],
  });
  t.same(
    c.exporters.map((e) => [e.name, e.kind, e.endpoint]),
    [
      ['otlp-grpc-0', 'otlp-grpc', 'tempo:4317'],
      ['otlp-http-1', 'otlp-http', 'http://mimir:4318/otlp'],
      ['otlp-http-2', 'otlp-http', 'https://mimir.example.com/otlp'],
      ['otlp-http-3', 'otlp-http', 'https://loki:3100/otlp'],
      ['file-4', 'file', './out'],
      ['otlp-grpc-5', 'otlp-grpc', 'collector:4317'],
      ['otlp-grpc-6', 'otlp-grpc', '[::1]:4317'],
      ['file-7', 'file', '/var/lib/stella/out'],
      ['named', 'otlp-http', 'http://h:4318'],
      ['otlp-grpc-9', 'otlp-grpc', 'otel_collector:4317'],
    ],
  );
  t.same(c.exporters[8]!.signals, ['metrics'], 'a single signal may be a string');
  t.equal(c.exporters[0]!.concurrency, 4, 'network default concurrency');
  t.equal(c.exporters[4]!.concurrency, 1, 'file default concurrency');
});

t.test('exporter settings and exporterDefaults (the entry wins)', async (t) => {
  const c = valid({
    exporterDefaults: { compression: 'gzip', queue: { maxBytes: '256MiB' }, retry: { maxElapsed: '10m' }, headers: { 'x-team': 'obs' } },
    exporters: [
      {
        name: 'tempo',
        endpoint: 'otlp-grpc://tempo:4317',
        signals: ['traces'],
        headers: { 'x-scope-orgid': 'acme', 'x-version': 2 },
        timeout: '5s',
        concurrency: 8,
        batch: { maxBytes: '1MiB', maxItems: 100, flushInterval: '1s' },
        retry: { initialBackoff: '100ms', maxBackoff: '2s' },
        file: { maxSegmentBytes: '8MiB', maxSegmentAge: '10m' },
      },
      { name: 'plain', endpoint: 'otlp-http://h:4318', compression: 'none', queue: { maxBytes: '64MiB' } },
    ],
  });
  const [tempo, plain] = c.exporters;
  t.same(tempo, {
    name: 'tempo',
    kind: 'otlp-grpc',
    endpoint: 'tempo:4317',
    signals: ['traces'],
    headers: { 'x-team': 'obs', 'x-scope-orgid': 'acme', 'x-version': '2' },
    compression: 'gzip',
    timeoutMs: 5000,
    concurrency: 8,
    batch: { maxBytes: MiB, maxItems: 100, flushIntervalMs: 1000, passThroughBytes: 256 * 1024 },
    queueMaxBytes: 256 * MiB,
    queue: { persistent: false, sync: 'batch', syncIntervalMs: 10, maxDiskBytes: 1024 * MiB },
    retry: { initialBackoffMs: 100, maxBackoffMs: 2000, maxElapsedMs: 600_000, whenExhausted: 'keep' },
    file: { maxSegmentBytes: 8 * MiB, maxSegmentAgeMs: 600_000 },
  });
  t.equal(plain!.compression, 'none', "the entry's own value wins over exporterDefaults");
  t.equal(plain!.queueMaxBytes, 64 * MiB);
  t.equal(plain!.retry.maxElapsedMs, 600_000, 'exporterDefaults fills what the entry leaves out');
  // With no exporters, exporterDefaults applies to the fallback file exporter too.
  t.equal(valid({ exporterDefaults: { queue: { maxBytes: '32MiB' } } }).exporters[0]!.queueMaxBytes, 32 * MiB);
});

t.test('profiles', async (t) => {
  t.test('built-in forensic: bigger queues, longer retries, longer drain', async (t) => {
    const c = valid({ profile: 'forensic', exporters: [{ endpoint: 'otlp-grpc://a:1' }, { endpoint: 'otlp-grpc://b:1', retry: { maxElapsed: '5m' } }] });
    t.equal(c.profile, 'forensic');
    t.equal(c.shutdownTimeoutMs, 60_000);
    t.equal(c.exporters[0]!.queueMaxBytes, 512 * MiB);
    t.equal(c.exporters[0]!.retry.maxElapsedMs, 3_600_000);
    t.equal(c.exporters[1]!.retry.maxElapsedMs, 300_000, "an exporter's own setting wins over the profile");
    t.equal(c.exporters[1]!.queueMaxBytes, 512 * MiB);
    t.ok(c.exporters.every((e) => e.queue.persistent), 'the persistent queue is on');
    t.equal(c.exporters[0]!.queue.sync, 'batch');
    t.equal(valid({ profile: 'forensic', exporters: [{ endpoint: 'otlp-grpc://a:1', queue: { persistent: false } }] }).exporters[0]!.queue.persistent, false, 'unless an exporter says otherwise');
    t.equal(valid({}).exporters[0]!.queue.persistent, false, 'off in the default profile');
  });

  t.test('built-in default changes nothing', async (t) => {
    t.same(valid({ profile: 'default' }), valid({}));
  });

  t.test('built-in airgap: file exporters only, unless allowed in profiles.airgap and on egress.allow', async (t) => {
    t.equal(valid({ profile: 'airgap' }).exporters[0]!.kind, 'file', 'the fallback file exporter is fine');
    t.equal(valid({ profile: 'airgap', exporters: [{ endpoint: 'file:///tmp/x' }] }).exporters.length, 1);
    t.notOk(validateConfig({ exporters: [{ endpoint: 'otlp-grpc://a:1' }] }, undefined, { profile: 'airgap' }).ok);
    const allowed = valid({ profile: 'airgap', profiles: { airgap: { allowNetworkExporters: true } }, egress: { allow: ['a:1'] }, exporters: [{ endpoint: 'otlp-grpc://a:1' }] });
    t.notOk(validateConfig({ profile: 'airgap', profiles: { airgap: { allowNetworkExporters: true } }, exporters: [{ endpoint: 'otlp-grpc://a:1' }] }).ok, 'not without egress.allow (sealed mode)');
    t.equal(allowed.exporters[0]!.kind, 'otlp-grpc');
    t.ok(valid({ exporters: [{ endpoint: 'otlp-grpc://a:1' }] }), 'other profiles allow network exporters');
  });

  t.test("the file's overlay extends the built-in one; mappings merge, lists replace", async (t) => {
    const c = valid({
      profile: 'forensic',
      log: { level: 'warn' },
      receivers: { grpc: { endpoint: '127.0.0.1:5317', maxMessageBytes: '4MiB' } },
      exporters: [{ name: 'a', endpoint: 'otlp-grpc://a:1' }, { name: 'b', endpoint: 'otlp-grpc://b:1' }],
      profiles: {
        forensic: {
          receivers: { grpc: { maxMessageBytes: '32MiB' } },
          exporterDefaults: { retry: { maxElapsed: '2h' } },
          exporters: [{ name: 'archive', endpoint: 'file://./forensic' }],
        },
      },
    });
    t.same(c.receivers.grpc.endpoint, { host: '127.0.0.1', port: 5317 }, 'keys the overlay does not set stay');
    t.equal(c.receivers.grpc.maxMessageBytes, 32 * MiB, 'keys the overlay sets win');
    t.equal(c.log.level, 'warn');
    t.same(c.exporters.map((e) => e.name), ['archive'], 'the list is replaced, not merged');
    t.equal(c.exporters[0]!.retry.maxElapsedMs, 7_200_000, "the file's overlay wins over the built-in");
    t.equal(c.exporters[0]!.queueMaxBytes, 512 * MiB, 'the built-in keys the file overlay leaves alone stay');
  });

  t.test('a null in an overlay resets to the default', async (t) => {
    const c = valid({ profile: 'forensic', shutdownTimeout: '5s', profiles: { forensic: { shutdownTimeout: null } } });
    t.equal(c.shutdownTimeoutMs, DEFAULT_CONFIG.shutdownTimeoutMs);
  });

  t.test('options.profile (--profile) wins over the file', async (t) => {
    t.equal(valid({ profile: 'forensic' }, { profile: 'default' }).profile, 'default');
    t.equal(valid({ profile: 'forensic' }, { profile: 'default' }).shutdownTimeoutMs, DEFAULT_CONFIG.shutdownTimeoutMs);
  });

  t.test('overrides apply after the profile', async (t) => {
    const c = valid({ profile: 'forensic' }, { overrides: { shutdownTimeout: '1s' } });
    t.equal(c.shutdownTimeoutMs, 1000);
  });

  t.test('a YAML "__proto__" key is a rejected key, not a prototype', async (t) => {
    const raw = parse('__proto__: { polluted: true }\nprofiles:\n  forensic:\n    __proto__: { polluted: true }\n') as unknown;
    const r = validateConfig(raw);
    t.equal(r.ok, false);
    t.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

t.test('loadConfig', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stella-config-'));
  const file = join(dir, 'gw.yaml');
  writeFileSync(
    file,
    [
      'dataDir: ./state',
      'receivers:',
      '  grpc: { enabled: false, endpoint: 127.0.0.1:5000 }',
      '  http: { endpoint: 127.0.0.1:5001 }',
      'admin: { endpoint: 127.0.0.1:5002 }',
      'log: { level: warn }',
      'process: { workers: 2 }',
      'exporters:',
      '  - { name: from-file, endpoint: "otlp-grpc://tempo:4317" }',
      '',
    ].join('\n'),
  );

  t.test('the file alone; relative paths resolve against the working directory', async (t) => {
    const r = loadConfig({ file, flags: {}, cwd: '/srv/stella' });
    t.ok(r.ok);
    if (!r.ok) return;
    t.equal(r.config.dataDir, '/srv/stella/state');
    t.equal(r.config.policiesDir, '/srv/stella/policies');
    t.equal(r.config.receivers.grpc.enabled, false);
    t.same(r.config.receivers.http.endpoint, { host: '127.0.0.1', port: 5001 });
    t.same(r.config.exporters.map((e) => e.name), ['from-file']);
    t.equal(r.config.log.level, 'warn');
    t.equal(r.config.process.workers, 2);
    const cwd = loadConfig({ file, flags: {} });
    t.ok(cwd.ok && cwd.config.dataDir === join(process.cwd(), 'state'), 'the process cwd by default');
  });

  t.test('flags override the file', async (t) => {
    const r = loadConfig({
      file,
      flags: {
        grpc: '127.0.0.1:0',
        http: '[::1]:0',
        admin: '0.0.0.0:0',
        dataDir: '/var/lib/stella',
        policies: 'pol',
        logLevel: 'debug',
        workers: '0',
        export: ['otlp-grpc://a:4317', 'otlp-http://b:4318/otlp', 'file://out'],
      },
      cwd: '/srv/stella',
    });
    t.ok(r.ok, r.ok ? 'ok' : r.errors.join('\n'));
    if (!r.ok) return;
    const c = r.config;
    t.same(c.receivers.grpc, { ...DEFAULT_CONFIG.receivers.grpc, enabled: true, endpoint: { host: '127.0.0.1', port: 0 } }, '--grpc enables the receiver');
    t.same(c.receivers.http.endpoint, { host: '::1', port: 0 });
    t.same(c.admin.endpoint, { host: '0.0.0.0', port: 0 });
    t.equal(c.dataDir, '/var/lib/stella');
    t.equal(c.policiesDir, '/srv/stella/pol');
    t.equal(c.log.level, 'debug');
    t.equal(c.process.workers, 0);
    t.same(
      c.exporters.map((e) => [e.name, e.kind, e.endpoint]),
      [
        ['otlp-grpc-0', 'otlp-grpc', 'a:4317'],
        ['otlp-http-1', 'otlp-http', 'http://b:4318/otlp'],
        ['file-2', 'file', '/srv/stella/out'],
      ],
      '--export replaces the file exporters; file:// directories resolve against the cwd',
    );
  });

  t.test('--profile flag, and options.profile over it', async (t) => {
    const r = loadConfig({ file, flags: { profile: 'forensic' } });
    t.ok(r.ok && r.config.profile === 'forensic' && r.config.exporters[0]!.queueMaxBytes === 512 * MiB);
    const o = loadConfig({ file, profile: 'default', flags: { profile: 'forensic' } });
    t.ok(o.ok && o.config.profile === 'default');
    const airgap = loadConfig({ file, flags: { profile: 'airgap' } });
    t.notOk(airgap.ok, 'the file has a network exporter');
    const airgapFlags = loadConfig({ file, flags: { profile: 'airgap', export: ['file:///tmp/a'] } });
    t.ok(airgapFlags.ok, '--export file:// replaces it');
  });

  t.test('no file: defaults plus flags', async (t) => {
    const r = loadConfig({ flags: { export: ['otlp-grpc://a:4317'] }, cwd: '/x' });
    t.ok(r.ok);
    if (!r.ok) return;
    t.equal(r.config.dataDir, '/x/data');
    t.same(r.config.receivers.grpc.endpoint, DEFAULT_CONFIG.receivers.grpc.endpoint);
    t.equal(r.config.exporters.length, 1);
  });

  t.test('bad flags name the flag; all are reported', async (t) => {
    const r = loadConfig({
      flags: { grpc: 'x', http: '127.0.0.1:99999', export: ['ftp://x', 'otlp-grpc://a'], logLevel: 'loud', workers: 'many', dataDir: '' },
    });
    t.notOk(r.ok);
    if (r.ok) return;
    t.same(r.errors, [
      '--grpc: expected HOST:PORT (got "x")',
      '--http: port must be 0..65535 (got "127.0.0.1:99999")',
      '--data-dir: expected a directory (got "")',
      '--export: unsupported export scheme "ftp://" (expected otlp-grpc://host:port, otlp-grpcs://host:port (TLS), otlp-http://host:port[/path], otlp-https://host[:port][/path] or file://DIR; got "ftp://x")',
      '--export: otlp-grpc://: expected host:port, the port is missing (got "otlp-grpc://a")',
      '--log-level: expected one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      '--workers: expected an integer from 0 (one per core) to 1024 (got "many")',
    ]);
    const p = loadConfig({ flags: { profile: 'incident' } });
    t.ok(!p.ok && p.errors[0]!.startsWith('--profile: expected one of default, forensic, airgap (got "incident")'));
  });

  t.test('YAML syntax errors carry file, line and column', async (t) => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'log:\n  level: info\nexporters: [a, b\nadmin: {}\n');
    const r = loadConfig({ file: bad, flags: {} });
    t.notOk(r.ok);
    if (r.ok) return;
    t.match(r.errors[0]!, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:1: `));
    const dup = join(dir, 'dup.yaml');
    writeFileSync(dup, 'log: {}\ndataDir: a\ndataDir: b\n');
    const d = loadConfig({ file: dup, flags: {} });
    t.ok(!d.ok && d.errors[0] === `${dup}:3:1: Map keys must be unique`, d.ok ? '' : d.errors[0]);
    const alias = join(dir, 'alias.yaml');
    writeFileSync(alias, 'dataDir: *nowhere\n');
    const a = loadConfig({ file: alias, flags: {} });
    t.ok(!a.ok && a.errors[0]!.startsWith(`${alias}`), 'an unresolved alias is an error, not a crash');
  });

  t.test('a missing file', async (t) => {
    const r = loadConfig({ file: join(dir, 'nope.yaml'), flags: {} });
    t.ok(!r.ok && r.errors[0] === `${join(dir, 'nope.yaml')}: cannot read the config file: no such file`);
  });

  t.test('validation errors name the file', async (t) => {
    const f = join(dir, 'invalid.yaml');
    writeFileSync(f, 'exporters:\n  - { name: tempo, endpoint: "otlp-grpc://tempo:4317" }\n  - { kind: otlp-grpc, endpoint: x }\n');
    const r = loadConfig({ file: f, flags: {} });
    t.ok(!r.ok && r.errors.length === 1 && r.errors[0] === `${f}: exporters[1].endpoint: expected host:port (got "x")`, r.ok ? '' : r.errors[0]);
  });

  t.test('an empty file is the defaults', async (t) => {
    const f = join(dir, 'empty.yaml');
    writeFileSync(f, '# nothing yet\n');
    const r = loadConfig({ file: f, flags: {}, cwd: '/x' });
    t.ok(r.ok && r.config.receivers.http.maxBodyBytes === DEFAULT_CONFIG.receivers.http.maxBodyBytes);
  });
});

t.test('stella.example.yaml validates under every profile', async (t) => {
  const file = join(packageRoot, 'stella.example.yaml');
  for (const profile of ['default', 'forensic', 'airgap']) {
    const r = loadConfig({ file, profile, flags: {} });
    t.ok(r.ok, `${profile}: ${r.ok ? 'ok' : r.errors.join('\n')}`);
  }
  // It documents every key: each top-level key of GatewayConfig's YAML shape appears in it.
  const text = readFileSync(file, 'utf8');
  for (const key of ['profile:', 'dataDir:', 'policiesDir:', 'receivers:', 'admin:', 'process:', 'admit:', 'exporters:', 'exporterDefaults:', 'allowNetworkExporters:', 'defaultTenant:', 'log:', 'shutdownTimeout:', 'profiles:']) {
    t.ok(text.includes(`\n${key}`), `documents ${key}`);
  }
});
