// Which certificates are peers: `cluster.tls.peerNames` lists the identities a replica accepts from
// another one, as server (its peer client checks the answering listener) and as client (the peer
// listener checks the caller). `spiffe://…` entries match URI SANs (SPIFFE X.509-SVIDs), other entries
// DNS SANs; `*` stands for any run of characters other than "/" and ".", so
// `spiffe://stella.local/peer/*` admits every replica of a trust domain and `*.stella-gateway-peers.ns.svc`
// every pod behind a headless Service, but nothing longer.
import { sansOfType, type PeerCertificateLike } from '../identify/peer-identity.js';

export type PeerNameMatcher = (cert: PeerCertificateLike | undefined) => string | undefined;

function patternRe(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/.]+');
  return new RegExp(`^${body}$`, pattern.startsWith('spiffe://') ? '' : 'i');
}

/** The first of the certificate's identities that `patterns` accept, or undefined. */
export function createPeerNameMatcher(patterns: readonly string[]): PeerNameMatcher {
  const uri = patterns.filter((p) => p.startsWith('spiffe://')).map(patternRe);
  const dns = patterns.filter((p) => !p.startsWith('spiffe://')).map(patternRe);
  return (cert) => {
    if (!cert) return undefined;
    if (uri.length > 0) for (const u of sansOfType(cert.subjectaltname, 'URI')) if (uri.some((re) => re.test(u))) return u;
    if (dns.length > 0) for (const d of sansOfType(cert.subjectaltname, 'DNS')) if (dns.some((re) => re.test(d))) return d;
    return undefined;
  };
}
