// OTLP/HTTP export (binary protobuf): POST `${endpoint}/v1/{signal}` over a keep-alive agent.
// Status classification follows the OTLP spec (the retryable statuses, 429, 502, 503 and 504, are
// defined once in src/errors.ts) and honours Retry-After; every other 4xx/5xx is permanent; network errors and timeouts are retryable.
// https://opentelemetry.io/docs/specs/otlp/#failures-1 and #otlphttp-throttling
import * as http from 'node:http';
import * as https from 'node:https';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { ExporterConfig } from '../config/types.js';
import { ConfigError, RETRYABLE_HTTP_STATUSES } from '../errors.js';
import { decodeRpcStatus, parseRetryAfter } from '../rpc-status.js';
import { SIGNAL_WIRE } from '../signals.js';
import { classifyTlsError, createClientTls, type ClientTls } from './client-tls.js';
import { abortedResult, type ExportBatch, type Transport, type TransportOptions, type TransportResult } from './transport.js';

const gzip = promisify(gzipCb);

/** Enough of an error body for a log line; the rest is read and discarded. */
const MAX_ERROR_BODY = 64 * 1024;

/** Classify a completed HTTP response. */
export function classifyHttpStatus(
  statusCode: number,
  headers: http.IncomingHttpHeaders,
  body: Buffer,
  now = Date.now(),
): TransportResult {
  if (statusCode >= 200 && statusCode < 300) return { status: 'ok' };
  const reason = `http_${statusCode}`;
  let message = `HTTP ${statusCode}`;
  const contentType = String(headers['content-type'] ?? '');
  if (body.length > 0) {
    // The OTLP error body is a google.rpc.Status, protobuf or JSON; anything else is shown as text.
    const status = contentType.includes('protobuf') ? decodeRpcStatus(body) : undefined;
    message += `: ${status?.message ?? body.subarray(0, 512).toString('utf8')}`;
  }
  if (RETRYABLE_HTTP_STATUSES.has(statusCode)) {
    const retryAfterMs = parseRetryAfter(headerValue(headers['retry-after']), now);
    return retryAfterMs === undefined
      ? { status: 'retryable', reason, message }
      : { status: 'retryable', reason, retryAfterMs, message };
  }
  return { status: 'permanent', reason, message };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function createOtlpHttpTransport(
  config: Pick<ExporterConfig, 'endpoint' | 'headers' | 'compression' | 'timeoutMs' | 'concurrency'> & Partial<Pick<ExporterConfig, 'name' | 'tls'>>,
  options: TransportOptions = {},
): Transport {
  let base: URL;
  try {
    base = new URL(config.endpoint);
  } catch {
    throw new ConfigError(`otlp-http endpoint: expected a URL such as http://host:4318 (got "${config.endpoint}")`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new ConfigError(`otlp-http endpoint: expected an http:// or https:// URL (got "${config.endpoint}")`);
  }
  const isHttps = base.protocol === 'https:';
  if (config.tls && !isHttps) throw new ConfigError(`otlp-http endpoint: tls is set but the endpoint is plaintext (got "${config.endpoint}"); write https://`);
  // TLS options go with each request: node's agent pools connections per TLS options, so after a
  // reload new requests open connections with the new files and old idle ones are not reused.
  const clientTls: ClientTls | undefined =
    isHttps && config.tls
      ? createClientTls(config.tls, { exporter: config.name ?? config.endpoint, ...(options.logger ? { logger: options.logger } : {}), ...(options.metrics ? { metrics: options.metrics } : {}) })
      : undefined;
  const agentOptions = { keepAlive: true, maxSockets: Math.max(1, config.concurrency) };
  const agent = isHttps ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const request = isHttps ? https.request : http.request;
  const prefix = base.pathname.replace(/\/+$/, '');
  const staticHeaders: Record<string, string> = { 'content-type': 'application/x-protobuf' };
  for (const [k, v] of Object.entries(config.headers)) staticHeaders[k.toLowerCase()] = v;
  if (config.compression === 'gzip') staticHeaders['content-encoding'] = 'gzip';

  async function send(batch: ExportBatch, abort?: AbortSignal): Promise<TransportResult> {
    if (abort?.aborted) return abortedResult;
    let body: Uint8Array = batch.body;
    if (config.compression === 'gzip') body = await gzip(batch.body);
    const headers: Record<string, string> = { ...staticHeaders, 'content-length': String(body.length) };
    if (options.tenantHeader) headers[options.tenantHeader.toLowerCase()] = batch.tenant;
    const path = prefix + SIGNAL_WIRE[batch.signal].httpPath;

    return new Promise<TransportResult>((resolve) => {
      let settled = false;
      const finish = (result: TransportResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        abort?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const req = request({
        protocol: base.protocol,
        hostname: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port || (isHttps ? 443 : 80),
        method: 'POST',
        path,
        headers,
        agent,
        ...clientTls?.current(),
      });
      // One deadline for the whole exchange (connect, upload, answer), like gRPC's deadline.
      const timer = setTimeout(() => {
        finish({ status: 'retryable', reason: 'timeout', message: `no answer within ${config.timeoutMs} ms` });
        req.destroy();
      }, config.timeoutMs);
      const onAbort = (): void => {
        finish(abortedResult);
        req.destroy();
      };
      abort?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err: NodeJS.ErrnoException) => {
        finish(classifyTlsError(err) ?? { status: 'retryable', reason: 'network', message: err.code ?? err.message });
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < MAX_ERROR_BODY) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('error', (err: NodeJS.ErrnoException) => {
          finish({ status: 'retryable', reason: 'network', message: err.code ?? err.message });
        });
        res.on('end', () => finish(classifyHttpStatus(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
      });
      req.end(body);
    });
  }

  return {
    kind: isHttps ? 'otlp-https' : 'otlp-http',
    send,
    async close() {
      clientTls?.close();
      agent.destroy();
    },
  };
}
