// TLS test kit: a development PKI in a temp directory (made by `certs init`'s own generator), extra
// certificates on demand (another CA, expired, rotated server certs), and HTTPS / gRPC clients that
// report the server certificate they saw.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { issueCa, issueLeaf, validityFor, writeDevCerts, type Issued } from '../../src/cli/commands/certs-init.js';
import type { TlsConfig } from '../../src/config/types.js';
import { SIGNAL_WIRE, type Signal } from '../../src/signals.js';

export interface Pki {
  dir: string;
  ca: string;
  caKey: string;
  server: string;
  serverKey: string;
  clients: Record<string, { cert: string; key: string }>;
  read(file: string): Buffer;
}

export async function makePki(tenants: string[] = ['acme', 'globex']): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), 'stella-tls-'));
  const r = await writeDevCerts({ out: dir, tenants, days: 2, trustDomain: 'stella.local', force: false });
  if (!r.ok) throw new Error(r.error);
  return { dir, ...r.files, read: (f) => readFileSync(f) };
}

/** The CA of `pki` as an issuer (certificate + keys), reloaded from its PEM files. */
export async function loadCa(pki: Pki): Promise<Issued> {
  // Re-issuing needs the CA's CryptoKeys; import them from the PEM files.
  const { webcrypto, createPrivateKey, createPublicKey } = await import('node:crypto');
  const x509 = await import('@peculiar/x509');
  const certPem = readFileSync(pki.ca, 'utf8');
  const keyPem = readFileSync(pki.caKey, 'utf8');
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const privateKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' }), alg, true, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', createPublicKey(keyPem).export({ type: 'spki', format: 'der' }), alg, true, ['verify']);
  return { cert: new x509.X509Certificate(certPem), keys: { privateKey, publicKey }, certPem, keyPem };
}

export function serverTls(pki: Pki, patch: Partial<TlsConfig> = {}): TlsConfig {
  return { certFile: pki.server, keyFile: pki.serverKey, clientCaFile: pki.ca, requireClientCert: true, minVersion: 'TLSv1.2', ...patch };
}

/** Issues a client certificate from `ca` (another CA, or an expired one with `days` < 0). */
export async function clientCert(ca: Issued, tenant: string, validity = validityFor(1)): Promise<Issued> {
  return issueLeaf(ca, { commonName: tenant, usage: 'client', uris: [`spiffe://stella.local/tenant/${tenant}`], validity });
}

export async function otherCa(): Promise<Issued> {
  return issueCa('Some other CA', validityFor(1));
}

export function expiredValidity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 10 * 86_400_000), notAfter: new Date(now - 86_400_000) };
}

/** Atomically replaces a file (write beside it, rename over), as a certificate manager would. */
export function replaceFile(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export interface ClientIdentity {
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
}

export interface HttpsResult {
  status: number;
  body: Buffer;
  /** SHA-256 fingerprint of the server certificate the client saw. */
  serverFingerprint: string;
  socket: TLSSocket;
}

/** POST over HTTPS (servername localhost so the server certificate's DNS SAN matches). */
export function httpsPost(
  port: number,
  path: string,
  body: Uint8Array,
  contentType: string,
  id: ClientIdentity,
  extra: https.RequestOptions = {},
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        method: 'POST',
        headers: { 'content-type': contentType, 'content-length': body.length },
        ca: id.ca,
        cert: id.cert,
        key: id.key,
        agent: false,
        ...extra,
      },
      (res) => {
        // Read now: the socket is detached from the response once it ends.
        const socket = res.socket as TLSSocket;
        const serverFingerprint = socket.getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), serverFingerprint, socket }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function httpsGet(port: number, path: string, id: ClientIdentity): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', servername: 'localhost', port, path, ca: id.ca, cert: id.cert, key: id.key, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
  });
}

export interface GrpcTlsClient {
  /** Fingerprints of the server certificates seen, one per handshake. */
  readonly serverFingerprints: string[];
  export(signal: Signal, body: Buffer): Promise<grpc.ServiceError | null>;
  close(): void;
}

/** A grpc-js client over TLS to 127.0.0.1:port (target name localhost); one HTTP/2 connection reused. */
export function grpcTlsClient(port: number, id: ClientIdentity): GrpcTlsClient {
  const serverFingerprints: string[] = [];
  const buf = (v: Buffer | string | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));
  const creds = grpc.credentials.createSsl(buf(id.ca), buf(id.key), buf(id.cert), {
    checkServerIdentity: (_host, cert) => {
      serverFingerprints.push(cert.fingerprint256);
      return undefined;
    },
  });
  const client = new grpc.Client(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
  return {
    serverFingerprints,
    export(signal, body) {
      return new Promise((resolve) => {
        client.makeUnaryRequest(SIGNAL_WIRE[signal].grpcPath, (b: Buffer) => b, (b: Buffer) => b, body, { deadline: Date.now() + 20_000 }, (err) => resolve(err));
      });
    },
    close: () => client.close(),
  };
}

/**
 * A bare TLS handshake; resolves 'ok <version>' or 'error <code> <message>'. At TLS 1.2 the server's
 * verdict on a client certificate arrives during the handshake, so its alert names the reason (at
 * TLS 1.3 it comes after, and an HTTP client often sees only "socket hang up").
 */
export function handshake(port: number, id: ClientIdentity, options: tls.ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', servername: 'localhost', port, ...id, ...options });
    socket.once('secureConnect', () => {
      // Wait a moment: at TLS 1.3 a refusal of the client certificate arrives after secureConnect.
      const timer = setTimeout(() => {
        const got = socket.getProtocol() ?? '?';
        socket.destroy();
        resolve(`ok ${got}`);
      }, 100);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(`error ${err.code ?? ''} ${err.message}`);
      });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? ''} ${err.message}`));
  });
}

export function fingerprintOf(certPem: string | Buffer): string {
  return new X509Certificate(certPem).fingerprint256;
}

export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
