// Compiles assembly/ into the WASM builds listed in asconfig.json (plain SIMD and relaxed SIMD, each
// with a private or a shared imported memory), and writes src/backend/wasm/kernels.generated.ts (the
// TypeScript types of the kernel exports) from the compiler's bindings. Run by `npm run build:wasm`
// (and so by `npm ci` through `prepare`).
//
// Skips the work when nothing it reads has changed since the last build (a SHA-256 of assembly/,
// asconfig.json, these scripts and the compiler version, kept in build/.wasm-stamp) and every output
// exists. `--force` (or REFORMER_FORCE_BUILD=1) rebuilds anyway.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeKernelTypes } from './kernel-bindings.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const ascPackage = dirname(require.resolve('assemblyscript/package.json'));
const asc = join(ascPackage, 'bin', 'asc.js');
const TARGETS = ['simd', 'relaxed', 'simd-shared', 'relaxed-shared'];
const OUTPUTS = ['kernels.simd.wasm', 'kernels.relaxed.wasm', 'kernels.simd.shared.wasm', 'kernels.relaxed.shared.wasm'];
const GENERATED = join(root, 'src', 'backend', 'wasm', 'kernels.generated.ts');
const STAMP = join(root, 'build', '.wasm-stamp');

function filesUnder(dir) {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? filesUnder(p) : [p];
    })
    .sort();
}

/** Hash of everything the build reads. */
function inputsHash() {
  const h = createHash('sha256');
  const inputs = [
    ...filesUnder(join(root, 'assembly')),
    join(root, 'asconfig.json'),
    join(root, 'scripts', 'build-wasm.mjs'),
    join(root, 'scripts', 'kernel-bindings.mjs'),
  ];
  for (const f of inputs) h.update(relative(root, f)).update('\0').update(readFileSync(f)).update('\0');
  h.update(JSON.parse(readFileSync(join(ascPackage, 'package.json'), 'utf8')).version);
  return h.digest('hex');
}

const force = process.argv.includes('--force') || process.env.REFORMER_FORCE_BUILD === '1';
const hash = inputsHash();
const upToDate =
  !force &&
  existsSync(STAMP) &&
  readFileSync(STAMP, 'utf8').trim() === hash &&
  existsSync(GENERATED) &&
  OUTPUTS.every((f) => existsSync(join(root, 'build', f)));
if (upToDate) {
  console.log('wasm kernels up to date (assembly/ unchanged since the last build; --force rebuilds)');
} else {
  mkdirSync(join(root, 'build'), { recursive: true });
  rmSync(STAMP, { force: true });
  for (const target of TARGETS) {
    // the plain SIMD build also writes the compiler's bindings (kernels.simd.js / .d.ts) for the types
    const extra = target === 'simd' ? ['--bindings', 'raw'] : [];
    execFileSync(process.execPath, [asc, 'assembly/index.ts', '--config', 'asconfig.json', '--target', target, ...extra], {
      cwd: root,
      stdio: 'inherit',
    });
    console.log(`built ${target}`);
  }
  const dts = join(root, 'build', 'kernels.simd.d.ts');
  const changed = writeKernelTypes(dts, GENERATED);
  rmSync(dts, { force: true });
  rmSync(join(root, 'build', 'kernels.simd.js'), { force: true });
  console.log(`${relative(root, GENERATED)} ${changed ? 'written' : 'unchanged'}`);
  writeFileSync(STAMP, `${hash}\n`);
}
