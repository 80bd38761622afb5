// What is running, for the build_info metric and the status: the package version, the Node runtime and
// the commit. The commit comes from STELLA_COMMIT (set it when building an image, which has no .git),
// else from the checkout's .git (HEAD, a loose ref or packed-refs; linked worktrees too), else "unknown".
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../paths.js';

export interface BuildInfo {
  version: string;
  node: string;
  commit: string;
}

/** The commit checked out at `root`: HEAD, then a loose ref or packed-refs. In a linked worktree `.git` is
 * a file naming the worktree's git dir, which holds HEAD, while refs live in the common dir. */
export function gitCommit(root: string): string | undefined {
  try {
    let gitDir = join(root, '.git');
    if (statSync(gitDir).isFile()) {
      const linked = /^gitdir: (.+)$/m.exec(readFileSync(gitDir, 'utf8'))?.[1]?.trim();
      if (!linked) return undefined;
      gitDir = resolve(root, linked);
    }
    let commonDir = gitDir;
    try {
      commonDir = resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim());
    } catch {
      // a main checkout: refs are in its own git dir
    }
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    if (!ref) return /^[0-9a-f]{40}$/.test(head) ? head : undefined;
    try {
      return readFileSync(join(commonDir, ref), 'utf8').trim();
    } catch {
      const packed = readFileSync(join(commonDir, 'packed-refs'), 'utf8');
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
