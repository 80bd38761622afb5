// IP literals for egress.allow, parsed here rather than with node:net (isIP, BlockList): the config
// loader must not load the network stack (test/module-boundaries.test.ts), and matching a prefix is a
// byte comparison.

function ipv4Bytes(s: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((n) => n <= 255) ? Uint8Array.from(parts) : undefined;
}

function ipv6Bytes(s: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (const [i, g] of items.entries()) {
      if (i === items.length - 1 && g.includes('.')) {
        const v4 = ipv4Bytes(g);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(g)) out.push(parseInt(g, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** 4 or 6 for an IP literal (IPv6 without brackets or zone), 0 otherwise (a host name). */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (ipv4Bytes(s)) return 4;
  if (s.includes(':') && ipv6Bytes(s)) return 6;
  return 0;
}

/** The address's bytes (4 or 16), or undefined when it is not an IP literal. */
export function ipBytes(s: string): Uint8Array | undefined {
  return ipv4Bytes(s) ?? (s.includes(':') ? ipv6Bytes(s) : undefined);
}

/** True when the first `prefix` bits of `addr` and `net` (same length) are equal. */
export function inPrefix(addr: Uint8Array, net: Uint8Array, prefix: number): boolean {
  if (addr.length !== net.length) return false;
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== net[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[full]! & mask) === (net[full]! & mask);
}
