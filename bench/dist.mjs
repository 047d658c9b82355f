// The built library (dist/src) for the benchmark scripts, which run against what `npm run build` made.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src');
if (!existsSync(join(dist, 'node', 'wasm.js'))) {
  console.error('bench: dist/ is missing; run `npm run build` first (the benchmark runs against the built library)');
  process.exit(2);
}

/** Imports a module of the built library by its path under dist/src, e.g. `fromDist('node/wasm.js')`. */
export function fromDist(path) {
  return import(join(dist, ...path.split('/')));
}
