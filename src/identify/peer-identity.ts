// What a verified client certificate says about its holder, read from the object node's TLS layer
// hands out (tls.PeerCertificate; grpc-js's sslPeerCertificate is the same object): the URI SANs
// (SPIFFE IDs) and the subject in a canonical form that a policy file can name.

/** The fields of tls.PeerCertificate the identifier reads. */
export interface PeerCertificateLike {
  subject?: Record<string, string | string[] | undefined>;
  /** "URI:spiffe://…, DNS:…"; values with special characters are JSON-quoted (node ≥ 17.4 / 16.14). */
  subjectaltname?: string;
  /** SHA-256 of the DER certificate, "AA:BB:…" (the cache key). */
  fingerprint256?: string;
}

export function asPeerCertificate(value: unknown): PeerCertificateLike | undefined {
  return typeof value === 'object' && value !== null ? (value as PeerCertificateLike) : undefined;
}

/**
 * The URI SANs of `subjectaltname`, in order. Node joins entries with ", " and JSON-quotes a value
 * that contains a comma, a quote or a control character, so a crafted SAN cannot smuggle in a
 * second entry (https://nodejs.org/api/tls.html#certificate-object, CVE-2021-44532).
 */
export function uriSans(subjectaltname: string | undefined): string[] {
  return sansOfType(subjectaltname, 'URI');
}

/** The SANs of one type ("URI", "DNS", "IP Address") of `subjectaltname`, in order; parsed as uriSans explains. */
export function sansOfType(subjectaltname: string | undefined, wanted: string): string[] {
  if (!subjectaltname) return [];
  const out: string[] = [];
  let i = 0;
  const s = subjectaltname;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const type = s.slice(i, colon);
    let value: string;
    let next: number;
    if (s[colon + 1] === '"') {
      // A JSON string: find its closing quote (skipping escapes), then parse it.
      let j = colon + 2;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(s.slice(colon + 1, j + 1)) as string;
      } catch {
        return out;
      }
      next = j + 1;
    } else {
      const comma = s.indexOf(', ', colon + 1);
      next = comma < 0 ? s.length : comma;
      value = s.slice(colon + 1, next);
    }
    if (type === wanted) out.push(value);
    i = s.startsWith(', ', next) ? next + 2 : next + 1;
  }
  return out;
}

/**
 * A subject as a canonical string: `K=V` pairs, sorted, joined with ",". From a certificate's subject
 * object, or from the text a policy file writes ("CN=app, O=Acme Corp"; a literal comma in a value is
 * written "\,"). Undefined when the text holds no K=V pair.
 */
export function canonicalSubject(subject: string | Record<string, string | string[] | undefined>): string | undefined {
  const pairs: string[] = [];
  if (typeof subject === 'string') {
    for (const part of subject.split(/(?<!\\),/)) {
      const eq = part.indexOf('=');
      if (eq <= 0) return undefined;
      const key = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim().replace(/\\,/g, ',');
      if (!/^[A-Za-z][A-Za-z0-9.]*$/.test(key) || value === '') return undefined;
      pairs.push(pairText(key, value));
    }
  } else {
    for (const [key, value] of Object.entries(subject)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) pairs.push(pairText(key, v));
    }
  }
  if (pairs.length === 0) return undefined;
  return pairs.sort().join(',');
}

function pairText(key: string, value: string): string {
  return `${key}=${value.replace(/\\/g, '\\\\').replace(/,/g, '\\,')}`;
}

/** The tenant of a SPIFFE ID of the form spiffe://<trustDomain>/tenant/<id>, else undefined. */
export function spiffeTenant(uri: string, trustDomain: string, tenantRe: RegExp): string | undefined {
  const prefix = `spiffe://${trustDomain}/tenant/`;
  if (!uri.startsWith(prefix)) return undefined;
  const id = uri.slice(prefix.length);
  return tenantRe.test(id) ? id : undefined;
}
