// The `egress` section of the config file: sealed mode (docs/guides/sealed-mode.md). Called by ../validate.ts.
//
//   egress:
//     allow:                        # every outbound destination the gateway may connect to
//       - tempo.internal            # a host name, any port (matched by name: list the name the config uses)
//       - loki.internal:3100        # a host name, one port
//       - 10.20.0.7                 # an IP address, any port
//       - 10.20.0.0/16:4317         # a CIDR range, one port
//       - "[fd00::7]:443"           # IPv6 with a port in brackets; fd00::/8 without one
//       - "*.svc.cluster.local"     # every name under a domain
//
// Enforced under the `airgap` profile (an empty or missing list allows nothing) and wherever the list is
// set: config validation fails naming each destination off the list (src/egress/egress.ts lists them:
// exporters, tenant export overrides, Notify webhooks, cluster peers), and at run time a connection to
// one is refused before a socket is opened and counted in egress_refused_total{destination}.
import { ipFamily as isIP } from '../../egress/ip.js';
import type { Reader } from '../validate.js';

/** One parsed `egress.allow` entry. */
export type EgressRule =
  | { kind: 'host'; host: string; port?: number; text: string }
  | { kind: 'suffix'; suffix: string; port?: number; text: string }
  | { kind: 'cidr'; address: string; prefix: number; family: 4 | 6; port?: number; text: string };

export interface EgressConfig {
  /** The entries as written (parsed). */
  allow: EgressRule[];
  /** true when `egress.allow` was written (possibly empty); the airgap profile enforces the list either way. */
  listed: boolean;
}

export const DEFAULT_EGRESS: EgressConfig = { allow: [], listed: false };

const HOST_RE = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Parses one entry; a string error names what is wrong. */
export function parseEgressRule(text: string): EgressRule | string {
  const what = 'expected a host name, IP address or CIDR range, optionally with :port (e.g. tempo.internal:4317, 10.0.0.0/8, "[fd00::1]:443")';
  let body = text.trim();
  let port: number | undefined;
  if (body === '') return what;
  // [IPv6] or [IPv6/len], optionally with :port.
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(body);
  if (bracket) {
    body = bracket[1]!;
    if (bracket[2] !== undefined) {
      port = parsePort(bracket[2]);
      if (port === undefined) return `bad port ${bracket[2]} (1 to 65535)`;
    }
    if (!isIP(body.split('/')[0]!) || isIP(body.split('/')[0]!) !== 6) return what;
  } else if ((body.match(/:/g) ?? []).length === 1) {
    // host:port, IPv4:port or IPv4/len:port (a bare IPv6 has two or more colons).
    const i = body.lastIndexOf(':');
    port = parsePort(body.slice(i + 1));
    if (port === undefined) return `bad port ${JSON.stringify(body.slice(i + 1))} (1 to 65535)`;
    body = body.slice(0, i);
  }
  const slash = body.indexOf('/');
  if (slash >= 0) {
    const address = body.slice(0, slash);
    const family = isIP(address);
    const prefixText = body.slice(slash + 1);
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (family === 0) return what;
    if (!(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) return `bad prefix length /${prefixText} (0 to ${family === 4 ? 32 : 128})`;
    return { kind: 'cidr', address, prefix, family: family as 4 | 6, ...(port !== undefined && { port }), text };
  }
  const family = isIP(body);
  if (family !== 0) return { kind: 'cidr', address: body, prefix: family === 4 ? 32 : 128, family: family as 4 | 6, ...(port !== undefined && { port }), text };
  if (body.startsWith('*.')) {
    const suffix = body.slice(2).toLowerCase().replace(/\.$/, '');
    if (!HOST_RE.test(suffix)) return what;
    return { kind: 'suffix', suffix, ...(port !== undefined && { port }), text };
  }
  if (!HOST_RE.test(body)) return what;
  return { kind: 'host', host: body.toLowerCase().replace(/\.$/, ''), ...(port !== undefined && { port }), text };
}

export function readEgress(r: Reader, value: unknown): EgressConfig {
  const s = r.section('egress', value, ['allow']);
  if (s.allow === undefined || s.allow === null) return { allow: [], listed: false };
  if (!Array.isArray(s.allow)) {
    r.fail('egress.allow', `expected a list of host names, IP addresses or CIDR ranges (got ${Array.isArray(s.allow) ? 'a list' : typeof s.allow === 'object' ? 'a mapping' : JSON.stringify(s.allow)})`);
    return { allow: [], listed: true };
  }
  const allow: EgressRule[] = [];
  s.allow.forEach((entry: unknown, i) => {
    const path = `egress.allow[${i}]`;
    if (typeof entry !== 'string') {
      r.fail(path, `expected a string such as tempo.internal:4317 (got ${entry === null ? 'null' : typeof entry === 'object' ? 'a mapping' : String(entry)})`);
      return;
    }
    const rule = parseEgressRule(entry);
    if (typeof rule === 'string') r.fail(path, `${rule} (got ${JSON.stringify(entry)})`);
    else allow.push(rule);
  });
  return { allow, listed: true };
}
