import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The repository root (where package.json lives), found from this file so the same code works
 * from src/ (ts-jest/swc) and from lib/ (compiled).
 */
export function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}
