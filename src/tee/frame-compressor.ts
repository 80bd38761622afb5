// Compressing the tee's frames: each batch a lane writes is packed into one buffer and compressed as
// one frame (format 2 of ./segment-format.ts) on the libuv thread pool, never on the event loop.
import { brotliCompress, constants as zc, deflateRaw } from 'node:zlib';
import type { ForensicConfig } from '../config/sections/forensic.js';
import type { FrameCodec } from './segment-format.js';
import type { ZstdZlib } from './zstd-support.js';

/** The largest batch one writev carries. */
export const BATCH_BYTES = 4 * 1024 * 1024;

export interface FrameCompressor {
  /** A packing buffer of at least `size` bytes (reused). */
  takePack(size: number): Buffer;
  /** Gives a packing buffer back once its frame is written (or given up). */
  givePack(b: Buffer): void;
  /** Compresses one frame (codec none: the input itself). */
  compress(raw: Buffer): Promise<Buffer>;
}

export function createFrameCompressor(options: { codec: FrameCodec; zstd: ZstdZlib | undefined; zstdLevel: number; segment: ForensicConfig['segment'] }): FrameCompressor {
  const { codec, zstd, zstdLevel, segment } = options;
  // Packing buffers, reused: a fresh multi-MiB buffer per batch costs page faults and GC work every time.
  // At most two are kept (lanes of different tenants pack at once), each at most twice BATCH_BYTES.
  const packPool: Buffer[] = [];

  function takePack(size: number): Buffer {
    const i = packPool.findIndex((b) => b.length >= size);
    if (i >= 0) return packPool.splice(i, 1)[0]!;
    return Buffer.allocUnsafeSlow(Math.max(size, 256 * 1024));
  }

  function givePack(b: Buffer): void {
    if (packPool.length < 2 && b.length <= 2 * BATCH_BYTES) packPool.push(b);
  }

  function compress(raw: Buffer): Promise<Buffer> {
    if (codec === 'none') return Promise.resolve(raw);
    // Output chunks sized to the expected output: zlib's 16 KiB default costs measurably more per byte.
    const chunkSize = Math.min(1 << 20, Math.max(16 * 1024, raw.length >>> 1));
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, out: Buffer) => (err ? reject(err) : resolve(out));
      if (codec === 'deflate') deflateRaw(raw, { level: segment.gzipLevel, chunkSize }, done);
      else if (codec === 'zstd') zstd!.zstdCompress(raw, { chunkSize, params: { [zstd!.constants.ZSTD_c_compressionLevel]: zstdLevel } }, done);
      // Quality 0 is brotli's fastest (measured on the bench's spans: cheaper per byte than deflate
      // level 1, lz4-napi or snappy, and a better ratio; README "Forensic archive").
      else brotliCompress(raw, { chunkSize, params: { [zc.BROTLI_PARAM_QUALITY]: 0, [zc.BROTLI_PARAM_SIZE_HINT]: raw.length } }, done);
    });
  }

  return { takePack, givePack, compress };
}
