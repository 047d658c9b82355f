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

  it('a --filter that matches no case is a usage error naming the filter and listing cases and components (exit 2), not "0 passed"', async () => {
    const r = await cli(['conformance', FIXTURES, '--filter', 'zzz']);
    expect(r.code).toBe(2);
    expect(r.stdout.text).toBe('');
    expect(r.stderr.lines()).toHaveLength(1);
    expect(r.stderr.text.trim()).toMatch(
      /^reformer: --filter "zzz": matches no case name or component of the \d+ cases in .*hf-reformer \(cases: axial_pos_8x8, [a-z0-9_]+, [a-z0-9_]+, [a-z0-9_]+, \.\.\.; components: .*LSHSelfAttention.*ReformerModelWithLMHead\); pass a part of one of them, or leave --filter out to run all$/,
    );
    // a component name matches as well as a case name
    const byComponent = await cli(['conformance', FIXTURES, '--filter', 'AxialPositionEmbeddings']);
    expect(byComponent.code).toBe(0);
    expect(byComponent.stdout.lines().at(-1)).toBe('1 passed, 0 failed, 0 skipped');
  });
});
