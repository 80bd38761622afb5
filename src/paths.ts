// Where the package's own files (proto/, policies/) live, for code compiled to dist/ or run from src/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the package root (a folder with package.json and proto/) above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const packageRoot = findPackageRoot();
export const protoDir = join(packageRoot, 'proto');
export const defaultPoliciesDir = join(packageRoot, 'policies');
