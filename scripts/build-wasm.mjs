// Compiles assembly/ into the WASM builds listed in asconfig.json (plain SIMD and relaxed SIMD,
// each with a private or a shared imported memory). Run by `npm run build:wasm` (and so by `npm ci`).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const asc = join(dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js');
mkdirSync(join(root, 'build'), { recursive: true });
for (const target of ['simd', 'relaxed', 'simd-shared', 'relaxed-shared']) {
  execFileSync(process.execPath, [asc, 'assembly/index.ts', '--config', 'asconfig.json', '--target', target], {
    cwd: root,
    stdio: 'inherit',
  });
  console.log(`built ${target}`);
}
