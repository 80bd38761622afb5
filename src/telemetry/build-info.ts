// What is running, for the build_info metric and the status: the package version, the Node runtime and
// the commit. The commit comes from STELLA_COMMIT (set it when building an image, which has no .git),
// else from the checkout's .git (HEAD, a loose ref or packed-refs), else "unknown".
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

export interface BuildInfo {
  version: string;
  node: string;
  commit: string;
}

function gitCommit(root: string): string | undefined {
  try {
    const head = readFileSync(join(root, '.git', 'HEAD'), 'utf8').trim();
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    if (!ref) return /^[0-9a-f]{40}$/.test(head) ? head : undefined;
    try {
      return readFileSync(join(root, '.git', ref), 'utf8').trim();
    } catch {
      const packed = readFileSync(join(root, '.git', 'packed-refs'), 'utf8');
      return new RegExp(`^([0-9a-f]{40}) ${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm').exec(packed)?.[1];
    }
  } catch {
    return undefined;
  }
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  cached ??= {
    version: (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version,
    node: process.version,
    commit: (process.env.STELLA_COMMIT || gitCommit(packageRoot) || 'unknown').slice(0, 40),
  };
  return cached;
}
