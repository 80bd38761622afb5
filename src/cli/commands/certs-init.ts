// `stella telemetry certs init`: a development PKI for mTLS in one command, with no openssl needed.
// Writes a CA, a server certificate for the local listeners and one client certificate per tenant
// whose URI SAN is the tenant's SPIFFE ID (spiffe://<trust-domain>/tenant/<id>), the form the
// tenancy stage maps to a tenant with no further configuration (https://spiffe.io/docs/latest/spiffe-about/spiffe-concepts/#spiffe-id).
// Keys are ECDSA P-256 made with node's WebCrypto; certificates are built with @peculiar/x509
// (which needs reflect-metadata loaded first). Not for production: the CA key sits next to the certs.
import 'reflect-metadata';
import { createPrivateKey, KeyObject, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as x509 from '@peculiar/x509';
import { parseCommandArgs, stdio, UsageError, type Command } from '../command.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

// node's WebCrypto is the Web Crypto API the library expects (typed apart because the DOM lib is not loaded).
x509.cryptoProvider.set(webcrypto as unknown as ReturnType<typeof x509.cryptoProvider.get>);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** Tenant ids become URI path segments, file names and header values. */
const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** SPIFFE trust domains: lower-case letters, digits, ".", "-", "_" (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md#21-trust-domain). */
const TRUST_DOMAIN_RE = /^[a-z0-9._-]{1,255}$/;
export const DEFAULT_TRUST_DOMAIN = 'stella.local';
const DEFAULT_DAYS = 365;
/** Certificates start a little in the past, so a client whose clock lags does not see them as not yet valid. */
const BACKDATE_MS = 5 * 60_000;

export interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  certPem: string;
  keyPem: string;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

export function validityFor(days: number, now = Date.now()): Validity {
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + days * 86_400_000) };
}

function keyPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** A self-signed CA (path length 0: it signs leaves only). */
export async function issueCa(commonName: string, validity: Validity): Promise<Issued> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}, O=Stella Telemetry development`,
    keys,
    signingAlgorithm: ALG,
    ...validity,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString('pem') + '\n', keyPem: keyPem(keys.privateKey) };
}

export interface LeafOptions {
  commonName: string;
  /** peer: both (a cluster replica is the server of its peers and their client). */
  usage: 'server' | 'client' | 'peer';
  /** Subject alternative names: DNS names, IP addresses, URIs. */
  dns?: string[];
  ips?: string[];
  uris?: string[];
  validity: Validity;
}

/** A leaf certificate signed by `ca`. */
export async function issueLeaf(ca: Issued, options: LeafOptions): Promise<Issued> {
  const keys = await keyPair();
  const names: x509.JsonGeneralName[] = [
    ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${options.commonName}, O=Stella Telemetry development`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    ...options.validity,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        options.usage === 'peer'
          ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
          : [options.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      ),
      // A SPIFFE X.509-SVID's only SAN is its URI; a server certificate names its hosts.
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString('pem') + '\n', keyPem: keyPem(keys.privateKey) };
}

export function spiffeId(trustDomain: string, tenant: string): string {
  return `spiffe://${trustDomain}/tenant/${tenant}`;
}

/** The SPIFFE ID of a cluster replica's peer certificate (cluster.tls.peerNames: spiffe://<domain>/peer/*). */
export function peerSpiffeId(trustDomain: string, replica: string): string {
  return `spiffe://${trustDomain}/peer/${replica}`;
}

export interface DevCertsOptions {
  out: string;
  tenants: string[];
  /** Cluster replicas to issue peer certificates for (server and client auth). */
  peers?: string[];
  days: number;
  trustDomain: string;
  force: boolean;
}

/** The files `certs init` writes, by role. */
export function devCertFiles(
  out: string,
  tenants: string[],
  replicas: string[] = [],
): { ca: string; caKey: string; server: string; serverKey: string; clients: Record<string, { cert: string; key: string }>; peers: Record<string, { cert: string; key: string }> } {
  const clients: Record<string, { cert: string; key: string }> = {};
  for (const t of tenants) clients[t] = { cert: join(out, `client-${t}.pem`), key: join(out, `client-${t}-key.pem`) };
  const peers: Record<string, { cert: string; key: string }> = {};
  for (const p of replicas) peers[p] = { cert: join(out, `peer-${p}.pem`), key: join(out, `peer-${p}-key.pem`) };
  return { ca: join(out, 'ca.pem'), caKey: join(out, 'ca-key.pem'), server: join(out, 'server.pem'), serverKey: join(out, 'server-key.pem'), clients, peers };
}

/** What `certs init` did with each file: written now, or kept as it was. */
export interface DevCertsResult {
  ok: true;
  files: ReturnType<typeof devCertFiles>;
  written: string[];
  kept: string[];
}

/** The CA in `out`, read back (certificate and key) so that more certificates can be issued from it. */
async function readCa(certFile: string, keyFile: string): Promise<Issued> {
  const certPem = readFileSync(certFile, 'utf8');
  const keyPemText = readFileSync(keyFile, 'utf8');
  const cert = new x509.X509Certificate(certPem);
  const der = createPrivateKey(keyPemText).export({ type: 'pkcs8', format: 'der' });
  const privateKey = (await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign'])) as CryptoKey;
  const publicKey = (await cert.publicKey.export(ALG, ['verify'])) as unknown as CryptoKey;
  // The key must be the certificate's: a CA key from another run would sign leaves nobody can verify.
  const probe = Buffer.from('stella certs init');
  const sig = await webcrypto.subtle.sign(ALG, privateKey, probe);
  if (!(await webcrypto.subtle.verify(ALG, publicKey, sig, probe))) throw new Error(`${keyFile} is not the key of ${certFile}`);
  return { cert, keys: { privateKey, publicKey }, certPem, keyPem: keyPemText };
}

/**
 * Writes what is missing and keeps what exists, so the command can be run again and extended with more
 * tenants: an existing CA issues the new certificates. A pair (certificate and key) is whole or absent:
 * one half without the other, or leaves without their CA, is refused before anything is written, as
 * writing would replace a file with a different one. `force` writes everything anew.
 */
export async function writeDevCerts(options: DevCertsOptions): Promise<DevCertsResult | { ok: false; error: string }> {
  const files = devCertFiles(options.out, options.tenants, options.peers ?? []);
  const pairs: [string, string][] = [
    [files.ca, files.caKey],
    [files.server, files.serverKey],
    ...[...Object.values(files.clients), ...Object.values(files.peers)].map((c) => [c.cert, c.key] as [string, string]),
  ];
  const has = (f: string): boolean => !options.force && existsSync(f);
  for (const [cert, key] of pairs) {
    if (has(cert) !== has(key)) {
      return { ok: false, error: `refusing to write ${has(cert) ? key : cert}: ${has(cert) ? cert : key} exists without it (remove it, or use --force to write everything anew)` };
    }
  }
  const leaves = pairs.slice(1).filter(([cert]) => has(cert)).map(([cert]) => cert);
  if (!has(files.ca) && leaves.length > 0) {
    return { ok: false, error: `refusing to write a new CA: ${leaves.join(', ')} were issued by a CA that is not in ${options.out} (use --force to write everything anew)` };
  }
  let ca: Issued;
  try {
    ca = has(files.ca) ? await readCa(files.ca, files.caKey) : await issueCa('Stella Telemetry development CA', validityFor(options.days));
  } catch (err) {
    return { ok: false, error: `cannot use the CA in ${options.out}: ${(err as Error).message}` };
  }
  const validity = validityFor(options.days);
  mkdirSync(options.out, { recursive: true });
  const written: string[] = [];
  const kept: string[] = [];
  const write = (file: string, data: string, secret: boolean): void => {
    writeFileSync(file, data, { mode: secret ? 0o600 : 0o644 });
    // writeFileSync's mode applies only when it creates the file (--force over an existing one).
    if (secret) chmodSync(file, 0o600);
    written.push(file);
  };
  const writePair = (cert: string, key: string, issued: Issued): void => {
    write(cert, issued.certPem, false);
    write(key, issued.keyPem, true);
  };
  if (has(files.ca)) kept.push(files.ca, files.caKey);
  else writePair(files.ca, files.caKey, ca);
  if (has(files.server)) kept.push(files.server, files.serverKey);
  else writePair(files.server, files.serverKey, await issueLeaf(ca, { commonName: 'localhost', usage: 'server', dns: ['localhost'], ips: ['127.0.0.1', '::1'], validity }));
  for (const tenant of options.tenants) {
    const c = files.clients[tenant]!;
    if (has(c.cert)) kept.push(c.cert, c.key);
    else writePair(c.cert, c.key, await issueLeaf(ca, { commonName: tenant, usage: 'client', uris: [spiffeId(options.trustDomain, tenant)], validity }));
  }
  for (const replica of options.peers ?? []) {
    const p = files.peers[replica]!;
    if (has(p.cert)) kept.push(p.cert, p.key);
    else {
      const peer = await issueLeaf(ca, { commonName: replica, usage: 'peer', uris: [peerSpiffeId(options.trustDomain, replica)], dns: ['localhost'], ips: ['127.0.0.1', '::1'], validity });
      writePair(p.cert, p.key, peer);
    }
  }
  return { ok: true, files, written, kept };
}

const help = `Usage: stella telemetry certs init --out DIR --tenant ID [--tenant ID]... [options]

Writes a development PKI for mTLS as PEM files in DIR:
  ca.pem, ca-key.pem              a CA (keep ca-key.pem to issue more certificates)
  server.pem, server-key.pem      a server certificate for localhost, 127.0.0.1 and ::1
  client-ID.pem, client-ID-key.pem per tenant, with the URI SAN spiffe://TRUST_DOMAIN/tenant/ID
  peer-ID.pem, peer-ID-key.pem    per --peer (cluster replica): spiffe://TRUST_DOMAIN/peer/ID, server
                                  and client auth (cluster.tls; docs/guides/cluster.md)
Key files are created with mode 0600. Run it again to add tenants: existing files are kept and an
existing CA issues the new certificates. For development and tests, not production.

Options:
  --out DIR               output directory (created if missing)
  --tenant ID             a tenant to issue a client certificate for; repeat for several
  --peer ID               a cluster replica to issue a peer certificate for; repeat for several
  --days N                validity in days (default ${DEFAULT_DAYS})
  --trust-domain DOMAIN   SPIFFE trust domain (default ${DEFAULT_TRUST_DOMAIN})
  --force                 write everything anew, a new CA included (existing files are replaced)
  -h, --help              show this help`;

const options = {
  out: { type: 'string' },
  tenant: { type: 'string', multiple: true },
  peer: { type: 'string', multiple: true },
  days: { type: 'string' },
  'trust-domain': { type: 'string' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const certsInitCommand: Command = {
  help,
  async run(args) {
    const { values } = parseCommandArgs(args, options, false);
    if (values.help) {
      stdio.out(help);
      return 0;
    }
    if (!values.out) throw new UsageError('--out DIR is required');
    const tenants = values.tenant ?? [];
    if (tenants.length === 0) throw new UsageError('at least one --tenant ID is required');
    for (const t of tenants) {
      if (!TENANT_RE.test(t)) throw new UsageError(`--tenant: expected letters, digits, ".", "_" or "-" (at most 128) (got ${JSON.stringify(t)})`);
    }
    if (new Set(tenants).size !== tenants.length) throw new UsageError('--tenant: each tenant once');
    const days = values.days === undefined ? DEFAULT_DAYS : /^\d{1,5}$/.test(values.days) ? Number(values.days) : NaN;
    if (!(days >= 1 && days <= 36_500)) throw new UsageError(`--days: expected a whole number of days from 1 to 36500 (got ${JSON.stringify(values.days)})`);
    const trustDomain = values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN;
    if (!TRUST_DOMAIN_RE.test(trustDomain)) {
      throw new UsageError(`--trust-domain: expected lower-case letters, digits, ".", "-" or "_" (got ${JSON.stringify(trustDomain)})`);
    }
    const peers = values.peer ?? [];
    for (const p of peers) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(p)) throw new UsageError(`--peer: expected a replica id of letters, digits, ".", "_" or "-" (at most 63) (got ${JSON.stringify(p)})`);
    }
    if (new Set(peers).size !== peers.length) throw new UsageError('--peer: each replica once');
    const out = resolve(values.out);
    const result = await writeDevCerts({ out, tenants, peers, days, trustDomain, force: values.force === true });
    if (!result.ok) {
      stdio.err(`stella telemetry certs init: ${result.error}`);
      return 1;
    }
    const f = result.files;
    const first = tenants[0]!;
    const c = f.clients[first]!;
    stdio.out(
      [
        result.kept.length === 0
          ? `Wrote a development CA, a server certificate and ${tenants.length} client certificate(s) to ${out}:`
          : `Kept ${result.kept.length} existing file(s) and wrote ${result.written.length} new one(s) in ${out}:`,
        `  ${f.ca}  ${f.caKey}`,
        `  ${f.server}  ${f.serverKey}   (localhost, 127.0.0.1, ::1; valid ${days} days)`,
        ...tenants.map((t) => `  ${f.clients[t]!.cert}  ${f.clients[t]!.key}   (${spiffeId(trustDomain, t)})`),
        ...peers.map((p) => `  ${f.peers[p]!.cert}  ${f.peers[p]!.key}   (${peerSpiffeId(trustDomain, p)}, cluster peer)`),
        '',
        'Serve both OTLP listeners with mTLS:',
        `  stella telemetry serve --tls-cert ${f.server} --tls-key ${f.serverKey} --tls-client-ca ${f.ca}`,
        '',
        `Send a span as tenant ${first} with curl:`,
        `  curl --cacert ${f.ca} --cert ${c.cert} --key ${c.key} \\`,
        `    -H 'Content-Type: application/json' --data '{"resourceSpans":[]}' https://localhost:4318/v1/traces`,
        '',
        'Or point an OpenTelemetry SDK at the gateway:',
        '  OTEL_EXPORTER_OTLP_ENDPOINT=https://localhost:4317',
        `  OTEL_EXPORTER_OTLP_CERTIFICATE=${f.ca}`,
        `  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=${c.cert}`,
        `  OTEL_EXPORTER_OTLP_CLIENT_KEY=${c.key}`,
      ].join('\n'),
    );
    return 0;
  },
};
