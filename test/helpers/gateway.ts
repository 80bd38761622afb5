// Starts a real gateway in this process (ports chosen by the OS) exporting to a test OTLP sink.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, exporterDefaults, type ExporterConfig, type GatewayConfig } from '../../src/config/types.js';
import { startGateway, type RunningGateway } from '../../src/gateway.js';
import type { Logger } from '../../src/telemetry/logger-types.js';
import type { OtlpSink } from './otlp-sink.js';

export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export function sinkExporter(sink: OtlpSink, kind: 'otlp-grpc' | 'otlp-http' = 'otlp-grpc', patch: Partial<ExporterConfig> = {}): ExporterConfig {
  const base = exporterDefaults(kind);
  return {
    name: `sink-${kind}`,
    kind,
    endpoint: kind === 'otlp-grpc' ? sink.grpcAddress : sink.httpUrl,
    ...base,
    batch: { ...base.batch, flushIntervalMs: 20 },
    retry: { initialBackoffMs: 20, maxBackoffMs: 200, maxElapsedMs: 10_000 },
    ...patch,
  };
}

export function testConfig(exporters: ExporterConfig[], patch: (c: GatewayConfig) => void = () => {}): GatewayConfig {
  const config: GatewayConfig = structuredClone(DEFAULT_CONFIG);
  config.dataDir = mkdtempSync(join(tmpdir(), 'stella-gw-'));
  config.receivers.grpc.endpoint = { host: '127.0.0.1', port: 0 };
  config.receivers.http.endpoint = { host: '127.0.0.1', port: 0 };
  config.admin.endpoint = { host: '127.0.0.1', port: 0 };
  config.process.workers = 1;
  config.exporters = exporters;
  config.log.level = 'silent';
  patch(config);
  return config;
}

export async function startTestGateway(exporters: ExporterConfig[], patch?: (c: GatewayConfig) => void): Promise<RunningGateway> {
  return startGateway(testConfig(exporters, patch), { logger: silentLogger });
}

export function baseUrl(gw: RunningGateway, which: 'http' | 'admin'): string {
  const a = gw.addresses[which];
  if (!a) throw new Error(`gateway has no ${which} listener`);
  return `http://${a.host}:${a.port}`;
}
