// Sizes and durations as people write them in YAML and flags: `16MiB`, `512KiB`, `1GB`; `200ms`, `30s`,
// `1m30s`, `1h`. Plain numbers are bytes and milliseconds. Parsers return undefined on bad input; the
// caller owns the message (it knows the path).

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Bytes from a non-negative integer or a string such as `16MiB`, `1.5GB`, `512 KiB` (units are case-insensitive). */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(value.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds from a non-negative number (ms) or a string of one or more `<number><unit>` parts,
 * units ms, s, m, h, d (as in Go's time.ParseDuration, minus the sub-millisecond units): `250ms`, `1m30s`.
 * A bare numeric string is milliseconds.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(s)) return Math.round(Number(s));
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(s)) return undefined;
  let ms = 0;
  for (const part of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(part[1]) * DURATION_UNITS[part[2]!]!;
  ms = Math.round(ms);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** `16MiB`, `1.5GiB`, `300B`: for summaries and messages. */
export function formatSize(bytes: number): string {
  const units: [string, number][] = [['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]];
  for (const [name, size] of units) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(2))}${name}`;
  }
  return `${bytes}B`;
}

/** `250ms`, `30s`, `5m`, `1.5h`: for summaries and messages. */
export function formatDuration(ms: number): string {
  if (ms >= 3_600_000) return `${Number((ms / 3_600_000).toFixed(2))}h`;
  if (ms >= 60_000) return `${Number((ms / 60_000).toFixed(2))}m`;
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(2))}s`;
  return `${ms}ms`;
}
