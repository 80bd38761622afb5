// Signing forensic manifests as Sigstore bundles (https://github.com/sigstore/protobuf-specs: a
// messageSignature over the manifest bytes, with a public-key hint as verification material), and
// verifying them offline with the public key alone (no TUF root, tlog or timestamp thresholds = 0).
//
// ECDSA signatures are normally randomised, which would make two captures of the same window differ
// in their signature. Capture promises byte-identical bundles, so the offline signer uses RFC 6979
// deterministic nonces (https://www.rfc-editor.org/rfc/rfc6979#section-3.2); the result is an ordinary
// ECDSA P-256/SHA-256 signature that any verifier (node's crypto here, cosign elsewhere) accepts.
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, FulcioSigner, MessageSignatureBundleBuilder, RekorWitness, type Signer, type Witness } from '@sigstore/sign';
import { bundleFromJSON, bundleToJSON, isBundleWithMessageSignature, type SerializedBundle } from '@sigstore/bundle';
import { toSignedEntity, Verifier, type TrustMaterial } from '@sigstore/verify';

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** A fresh ECDSA P-256 key pair (PKCS#8 private key, SPKI public key). */
export function generateSigningKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

/** The key's id, used as the bundle's public-key hint: hex SHA-256 of the DER SubjectPublicKeyInfo. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

// --- P-256 arithmetic, only for signing (a few hundred point operations per capture) ---
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const A = P - 3n;
const G: Point = {
  x: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  y: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
};
type Point = { x: bigint; y: bigint } | null;

const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;
function inv(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}
function add(p: Point, q: Point): Point {
  if (!p) return q;
  if (!q) return p;
  if (p.x === q.x && mod(p.y + q.y, P) === 0n) return null;
  const l = p.x === q.x ? mod((3n * p.x * p.x + A) * inv(2n * p.y, P), P) : mod((q.y - p.y) * inv(q.x - p.x, P), P);
  const x = mod(l * l - p.x - q.x, P);
  return { x, y: mod(l * (p.x - x) - p.y, P) };
}
function mul(k: bigint, p: Point): Point {
  let r: Point = null;
  for (let q = p; k > 0n; k >>= 1n, q = add(q, q)) if (k & 1n) r = add(r, q);
  return r;
}
const toInt = (b: Buffer): bigint => BigInt(`0x${b.toString('hex') || '0'}`);
const to32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
function derInt(n: bigint): Buffer {
  let b = Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}

/** ECDSA P-256 / SHA-256 with an RFC 6979 nonce; DER-encoded (r, s) with low s. */
export function signDeterministic(data: Uint8Array, privateKey: KeyObject): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d) throw new Error('signing key: expected an ECDSA P-256 private key');
  const d = toInt(Buffer.from(jwk.d, 'base64url'));
  const h = createHash('sha256').update(data).digest();
  const e = toInt(h);
  const x = to32(d);
  const h1 = to32(mod(e, N));
  const hmac = (key: Buffer, ...parts: Buffer[]): Buffer => createHmac('sha256', key).update(Buffer.concat(parts)).digest();
  let v: Buffer = Buffer.alloc(32, 1);
  let k: Buffer = Buffer.alloc(32, 0);
  k = hmac(k, v, Buffer.from([0]), x, h1);
  v = hmac(k, v);
  k = hmac(k, v, Buffer.from([1]), x, h1);
  v = hmac(k, v);
  for (;;) {
    v = hmac(k, v);
    const nonce = toInt(v);
    if (nonce >= 1n && nonce < N) {
      const r = mod(mul(nonce, G)!.x, N);
      let s = mod(inv(nonce, N) * (e + r * d), N);
      if (r !== 0n && s !== 0n) {
        if (s > N / 2n) s = N - s;
        const body = Buffer.concat([derInt(r), derInt(s)]);
        return Buffer.concat([Buffer.from([0x30, body.length]), body]);
      }
    }
    k = hmac(k, v, Buffer.from([0]));
    v = hmac(k, v);
  }
}

/** A Sigstore Signer over an offline key (messageSignature; the hint names the key). */
export function createKeySigner(privateKeyPem: string): Signer {
  const privateKey = createPrivateKey(privateKeyPem);
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const hint = keyId(publicKey);
  return {
    sign: async (data: Buffer) => ({ signature: signDeterministic(data, privateKey), key: { $case: 'publicKey', publicKey: publicKeyPem, hint } }),
  };
}

/**
 * Keyless signing (online only): an ephemeral key certified by Fulcio for the OIDC identity of
 * `identityToken`, the signature logged in Rekor (https://docs.sigstore.dev/cosign/signing/overview/).
 * Such bundles carry a certificate and a tlog entry, so they are not byte-identical across captures,
 * and they are verified with Sigstore's trust root (cosign / sigstore-js), not by `verify --key`.
 * Not exercised by the tests (no network here).
 */
export function createKeylessSigning(options: { identityToken: string; fulcioURL?: string; rekorURL?: string }): { signer: Signer; witnesses: Witness[] } {
  return {
    signer: new FulcioSigner({ identityProvider: { getToken: async () => options.identityToken }, fulcioBaseURL: options.fulcioURL ?? DEFAULT_FULCIO_URL }),
    witnesses: [new RekorWitness({ rekorBaseURL: options.rekorURL ?? DEFAULT_REKOR_URL })],
  };
}

/** Signs `artifact` (the manifest bytes) and returns the Sigstore bundle in its JSON form. */
export async function signArtifact(artifact: Uint8Array, signer: Signer, witnesses: Witness[] = []): Promise<SerializedBundle> {
  const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses }).create({ data: Buffer.from(artifact) });
  return bundleToJSON(bundle);
}

export type SignatureCheck =
  | { ok: true; keyId: string }
  | { ok: false; kind: 'bad-signature-file' | 'tampered-manifest' | 'wrong-key' | 'bad-signature'; message: string };

/**
 * Checks a bundle (its JSON) against the artifact with one trusted public key, offline. The failure
 * kinds separate "the manifest changed after signing" (its digest differs from the signed digest)
 * from "signed by another key" (the hint names another key, or the signature does not verify).
 */
export function verifyArtifactSignature(artifact: Uint8Array, bundleJson: unknown, publicKeyPem: string): SignatureCheck {
  let bundle;
  try {
    bundle = bundleFromJSON(bundleJson);
  } catch (err) {
    return { ok: false, kind: 'bad-signature-file', message: `signature is not a valid Sigstore bundle: ${(err as Error).message}` };
  }
  if (!isBundleWithMessageSignature(bundle)) {
    return { ok: false, kind: 'bad-signature-file', message: 'signature bundle holds no messageSignature' };
  }
  if (bundle.verificationMaterial.content.$case !== 'publicKey') {
    return {
      ok: false,
      kind: 'bad-signature-file',
      message: 'the bundle was signed keyless (Fulcio certificate): verify it with cosign verify-blob or sigstore-js against the Sigstore trust root, not with --key',
    };
  }
  const publicKey = createPublicKey(publicKeyPem);
  const id = keyId(publicKey);
  const signedDigest = Buffer.from(bundle.content.messageSignature.messageDigest?.digest ?? []);
  const digest = createHash('sha256').update(artifact).digest();
  if (!signedDigest.equals(digest)) {
    return {
      ok: false,
      kind: 'tampered-manifest',
      message: `tampered manifest: manifest.json has sha256 ${digest.toString('hex')}, the signature covers ${signedDigest.toString('hex')}`,
    };
  }
  const hint = bundle.verificationMaterial.content.publicKey.hint;
  if (hint && hint !== id) {
    return { ok: false, kind: 'wrong-key', message: `wrong key: the bundle was signed by key ${hint}, the given public key is ${id}` };
  }
  const trust: TrustMaterial = {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => ({ publicKey, validFor: () => true }),
  };
  try {
    new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle, Buffer.from(artifact)));
  } catch (err) {
    return {
      ok: false,
      kind: 'bad-signature',
      message: `signature does not verify with the given public key (key ${id}): wrong key, or the signature was altered (${(err as Error).message})`,
    };
  }
  return { ok: true, keyId: id };
}
