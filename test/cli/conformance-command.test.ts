/** `reformer conformance <dir>`: the HF fixture folder passes (exit 0); a failing case exits 1. */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, REPO } from './helpers.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'hf-reformer');

describe('reformer conformance', () => {
  it('passes the HF fixtures and reports per tensor', async () => {
    const r = await cli(['conformance', FIXTURES, '--filter', 'lsh']);
    expect(r.code).toBe(0);
    expect(r.stdout.text).toMatch(/^PASS {2}\S+ \[/m);
    expect(r.stdout.text).toMatch(/scaled error .* ok/);
    expect(r.stdout.lines().at(-1)).toMatch(/^[1-9]\d* passed, 0 failed, 0 skipped$/);
  });

  it('exits 1 when a case fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reformer-conf-'));
    copyFileSync(join(FIXTURES, 'axial_pos_8x8.json'), join(dir, 'axial_pos_8x8.json'));
    copyFileSync(join(FIXTURES, 'axial_pos_8x8.safetensors'), join(dir, 'axial_pos_8x8.safetensors'));
    writeFileSync(join(dir, 'broken.json'), '{"case": "broken"}');
    const r = await cli(['conformance', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout.text).toMatch(/^FAIL {2}broken/m);
    expect(r.stdout.lines().at(-1)).toBe('1 passed, 1 failed, 0 skipped');
  });
});
