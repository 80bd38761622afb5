// Signing forensic manifests as Sigstore bundles v0.3 (https://github.com/sigstore/protobuf-specs: a
// messageSignature over the manifest bytes with its SHA-256 digest, and a public-key hint as
// verification material), and verifying them offline with the public key alone (no TUF root; tlog and
// timestamp thresholds 0). Bundles written before v0.3 (media type `…bundle+json;version=0.2`) verify too.
//
// ECDSA signatures are normally randomised, which would make two captures of the same window differ
// in their signature. Capture promises byte-identical bundles, so the offline signer uses RFC 6979
// deterministic nonces (https://www.rfc-editor.org/rfc/rfc6979#section-3.2), computed by @noble/curves;
// the result is an ordinary ECDSA P-256/SHA-256 signature that any verifier (node's crypto, sigstore-js,
// cosign) accepts.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, FulcioSigner, MessageSignatureBundleBuilder, RekorWitness, type Artifact, type Signature, type Signer, type Witness } from '@sigstore/sign';
import {
  bundleFromJSON,
  bundleToJSON,
  isBundleWithMessageSignature,
  toMessageSignatureBundle,
  type BundleWithMessageSignature,
  type SerializedBundle,
} from '@sigstore/bundle';
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

/** The raw 32-byte private scalar of a P-256 key (what @noble/curves signs with). */
function p256Scalar(privateKey: KeyObject): Uint8Array {
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d) throw new Error('signing key: expected an ECDSA P-256 private key');
  const d = Buffer.from(jwk.d, 'base64url');
  if (d.length > 32) throw new Error('signing key: expected an ECDSA P-256 private key');
  return Buffer.concat([Buffer.alloc(32 - d.length), d]);
}

/**
 * ECDSA P-256 / SHA-256 with an RFC 6979 nonce, DER-encoded, low S (s <= n/2), by @noble/curves: audited,
 * and written to be constant-time (no branch or table index depends on the key; as far as JavaScript
 * allows), unlike the BigInt double-and-add this replaced, which gave the same bytes. Low S is what the
 * first signer wrote; Go's ecdsa (cosign), node's crypto and sigstore-js accept either half.
 */
export function signDeterministic(data: Uint8Array, privateKey: KeyObject): Buffer {
  const d = p256Scalar(privateKey);
  try {
    return Buffer.from(p256.sign(data, d, { prehash: true, lowS: true, format: 'der' }));
  } finally {
    d.fill(0);
  }
}

/**
 * Packages raw message signatures as Sigstore bundle v0.3 (`application/vnd.dev.sigstore.bundle.v0.3+json`,
 * the current media type, read by cosign `--new-bundle-format`, sigstore-go and sigstore-js).
 * @sigstore/sign's own MessageSignatureBundleBuilder still writes v0.2 for raw message signatures; v0.3 differs in carrying a keyless signer's certificate as one `certificate` instead of
 * an `x509CertificateChain` (a key-based bundle is the same apart from the media type).
 */
class MessageSignatureV03Builder extends MessageSignatureBundleBuilder {
  protected override async package(artifact: Artifact, signature: Signature): Promise<BundleWithMessageSignature> {
    return toMessageSignatureBundle({
      digest: createHash('sha256').update(artifact.data).digest(),
      signature: signature.signature,
      ...(signature.key.$case === 'x509Certificate' ? { certificate: pemToDer(signature.key.certificate) } : { keyHint: signature.key.hint }),
      certificateChain: false,
    });
  }
}

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
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
  const bundle = await new MessageSignatureV03Builder({ signer, witnesses }).create({ data: Buffer.from(artifact) });
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
  // Our hint is the hex SHA-256 of the key's DER SPKI; cosign writes the same digest in base64.
  const hint = bundle.verificationMaterial.content.publicKey.hint;
  if (hint && hint !== id && hint !== Buffer.from(id, 'hex').toString('base64')) {
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
