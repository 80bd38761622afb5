// zstd in node:zlib, feature-detected (never version-sniffed): zlib.zstdCompress / zstdDecompressSync
// exist from Node 22.15 and 23.8 (https://nodejs.org/api/zlib.html#zlibzstdcompressbuffer-options-callback).
// On Node 20 (this package's floor, and CI) they are absent: the tee then writes brotli frames, and
// readers report a zstd frame as unreadable here, naming the Node version that reads it.
import * as zlib from 'node:zlib';

/** The Node versions whose node:zlib has zstd (for messages). */
export const ZSTD_NODE_VERSIONS = 'Node >= 22.15 (or >= 23.8)';

/** The zstd part of node:zlib (not in the Node 20 type definitions this package builds against). */
export interface ZstdZlib {
  zstdCompress(buf: Buffer, options: { chunkSize?: number; params?: Record<number, number> }, cb: (err: Error | null, out: Buffer) => void): void;
  zstdCompressSync(buf: Buffer, options?: { chunkSize?: number; params?: Record<number, number> }): Buffer;
  zstdDecompressSync(buf: Buffer, options?: { maxOutputLength?: number }): Buffer;
  constants: { ZSTD_c_compressionLevel: number };
}

/** node:zlib's zstd when this Node has it, else undefined. `zlibModule` is for tests (a Node without zstd). */
export function zstdZlib(zlibModule: object = zlib): ZstdZlib | undefined {
  const z = zlibModule as Partial<ZstdZlib>;
  const ok =
    typeof z.zstdCompress === 'function' &&
    typeof z.zstdDecompressSync === 'function' &&
    typeof z.zstdCompressSync === 'function' &&
    typeof z.constants?.ZSTD_c_compressionLevel === 'number';
  return ok ? (z as ZstdZlib) : undefined;
}

export const zstdAvailable = (): boolean => zstdZlib() !== undefined;

/** Why a zstd frame cannot be read here: names the codec and the Node version needed. */
export function zstdUnavailableMessage(): string {
  return `frame codec zstd needs node:zlib zstd (${ZSTD_NODE_VERSIONS}); this is Node ${process.versions.node}: read this segment with a newer Node`;
}
