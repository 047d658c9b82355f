/**
 * The README's streaming example is a real file (examples/stream.mjs), shown verbatim in README.md and
 * run here as a child process against the compiled package, so the README stays true.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { saveCheckpoint } from '../../src/node/checkpoint.js';
import { reformerEngine } from '../../src/node/reformer-engine.js';
import { REPO, requireDist } from '../cli/helpers.js';

describe('README streaming example', () => {
  it('README.md shows examples/stream.mjs verbatim', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    expect(readme).toContain(readFileSync(join(REPO, 'examples', 'stream.mjs'), 'utf8').trimEnd());
  });

  it('stream.mjs streams a sample with the cache and reports tokens/s on stderr', () => {
    requireDist();
    const dir = join(mkdtempSync(join(tmpdir(), 'reformer-stream-')), 'run');
    const em = reformerEngine.create(new ReferenceBackend(), { preset: 'tiny', seed: 5 });
    saveCheckpoint(join(dir, 'checkpoint'), { config: em.configJson(), weights: em.weights() });
    const r = spawnSync(process.execPath, [join(REPO, 'examples', 'stream.mjs'), dir], { cwd: REPO, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^\d+ tokens in \d+\.\d\d s, \d+\.\d tokens\/s \((length|stop|eos)\)$/m);
    expect(r.stdout.length).toBeGreaterThan(0);
  });
});
