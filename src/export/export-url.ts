// Parses export targets written as URLs (`--export URL` on the command line, a URL in an exporter's
// `endpoint`): a leaf module with no imports but a type, so that config validation and the CLI can check
// a URL without loading the exporters (router.ts pulls in the transports, grpc-js and node:http2).
import type { ExporterKind } from '../config/types.js';

export type ParsedExportUrl = { kind: ExporterKind; endpoint: string; tls?: boolean } | { error: string };

const URL_FORMS = 'otlp-grpc://host:port, otlp-grpcs://host:port (TLS), otlp-http://host:port[/path], otlp-https://host[:port][/path] or file://DIR';

/**
 * Parse the CLI's `--export URL`:
 * - `otlp-grpc://host:port` → kind otlp-grpc, endpoint `host:port`
 * - `otlp-grpcs://host:port` → the same over TLS (`tls: true`)
 * - `otlp-http://host[:port][/path]` → kind otlp-http, endpoint `http://host[:port][/path]`
 * - `otlp-https://host[:port][/path]` → kind otlp-http, endpoint `https://…`
 * - `file://DIR` (relative `file://out`, `file://./out`, absolute `file:///var/out`) → kind file, endpoint DIR
 */
export function parseExportUrl(url: string): ParsedExportUrl {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(url);
  if (!m) return { error: `expected ${URL_FORMS} (got "${url}")` };
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === 'file') {
    if (rest === '') return { error: `file://: expected a directory, as in file://./data/export or file:///var/export (got "${url}")` };
    if (/[?#]/.test(rest)) return { error: `file://: a directory cannot contain "?" or "#" (got "${url}")` };
    return { kind: 'file', endpoint: rest };
  }
  if (scheme !== 'otlp-grpc' && scheme !== 'otlp-grpcs' && scheme !== 'otlp-http' && scheme !== 'otlp-https') {
    return { error: `unsupported export scheme "${m[1]}://" (expected ${URL_FORMS}; got "${url}")` };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { error: `${scheme}://: expected host:port with a port from 1 to 65535 (got "${url}")` };
  }
  if (parsed.hostname === '') return { error: `${scheme}://: missing host (got "${url}")` };
  if (parsed.username || parsed.password) return { error: `${scheme}://: credentials in the URL are not supported; use exporter headers (got "${url}")` };
  if (parsed.search || parsed.hash) return { error: `${scheme}://: a query or fragment is not allowed (got "${url}")` };
  if (parsed.port === '0') return { error: `${scheme}://: port 0 is not a backend port (got "${url}")` };
  if (scheme === 'otlp-grpc' || scheme === 'otlp-grpcs') {
    if (parsed.port === '') return { error: `${scheme}://: expected host:port, the port is missing (got "${url}")` };
    if (parsed.pathname !== '' && parsed.pathname !== '/') return { error: `${scheme}://: expected host:port without a path (got "${url}")` };
    const endpoint = `${parsed.hostname}:${parsed.port}`;
    return scheme === 'otlp-grpcs' ? { kind: 'otlp-grpc', endpoint, tls: true } : { kind: 'otlp-grpc', endpoint };
  }
  const path = parsed.pathname.replace(/\/+$/, '');
  const port = parsed.port ? `:${parsed.port}` : '';
  const httpScheme = scheme === 'otlp-https' ? 'https' : 'http';
  return { kind: 'otlp-http', endpoint: `${httpScheme}://${parsed.hostname}${port}${path}` };
}
