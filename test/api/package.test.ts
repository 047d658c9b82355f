/**
 * The published package works outside the repository: every package that the shipped code (src/, which
 * compiles to dist/src) imports is a runtime dependency, not a devDependency (a missing one breaks
 * `import 'reformer-ts/node'` and the `reformer` bin after `npm install reformer-ts-<version>.tgz`), and
 * the files the package ships include what the bin and the exports need.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../cli/helpers.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  files: string[];
  exports: Record<string, { import?: string }>;
  bin: Record<string, string>;
};

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('package.json', () => {
  it('every bare import of src/ is a runtime dependency, pinned exactly', () => {
    const imported = new Set<string>();
    for (const file of sources(join(REPO, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^'.][^']*)'/gm)) {
        const spec = m[1]!;
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    expect([...imported].sort()).toEqual(['cli-progress', 'commander', 'pbf', 'pngjs', 'tinybench', 'vega']);
    for (const name of imported) {
      expect(pkg.dependencies[name], `${name} must be in "dependencies"`).toMatch(/^\d+\.\d+\.\d+$/);
      expect(pkg.devDependencies[name], `${name} must not be a devDependency only`).toBeUndefined();
    }
  });

  it('ships the bin, the compiled exports and the WASM builds', () => {
    expect(pkg.files).toEqual(expect.arrayContaining(['bin', 'dist/src', 'build/*.wasm']));
    expect(pkg.bin.reformer).toBe('./bin/reformer.js');
    expect(pkg.exports['.']!.import).toBe('./dist/src/index.js');
    expect(pkg.exports['./node']!.import).toBe('./dist/src/node/index.js');
  });
});
