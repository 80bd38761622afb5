// What to watch so that a change to what a path *resolves to* is seen, not only a change inside the
// directory it resolved to when the watch began. fs.watch (inotify) follows symlinks once, at watch
// time: a deploy that swaps a symlink (`current -> .versions/0004-…`, src/deploy) or a Kubernetes volume
// (`..data -> ..2026_12_07…`) leaves the old watch on the old directory, which never changes again.
// The entries to watch are the symlinks met while resolving the path: replacing any of them (a rename
// over it, which is how both swap) re-points the path. Each is watched in its parent directory, by name.
import { lstatSync, readlinkSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';

export interface SymlinkEntry {
  /** The directory holding the symlink (itself fully resolved). */
  dir: string;
  /** The symlink's name in it. */
  name: string;
}

/** Symlink resolution depth, as the kernel's ELOOP limit. */
const MAX_HOPS = 40;

/** The symlinks met while resolving `path`, in order (empty when no component is a symlink). */
export function symlinksOf(path: string): SymlinkEntry[] {
  const out: SymlinkEntry[] = [];
  let todo = resolve(path).split(sep).filter(Boolean);
  let cur: string = sep;
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    const next = join(cur, part);
    let isLink = false;
    try {
      isLink = lstatSync(next).isSymbolicLink();
    } catch {
      // Does not exist (yet): nothing below it can be a symlink now.
      break;
    }
    if (!isLink) {
      cur = next;
      continue;
    }
    out.push({ dir: cur, name: part });
    if (++hops > MAX_HOPS) break;
    const target = readlinkSync(next);
    // `cur` has no symlinks left in it, so a lexical join of `..` is what the kernel does.
    const t = isAbsolute(target) ? target : join(cur, target);
    todo = [...t.split(sep).filter(Boolean), ...todo];
    cur = sep;
  }
  return out;
}
