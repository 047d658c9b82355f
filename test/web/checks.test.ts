/**
 * The page's kernel conformance subset (web/src/lib/checks.ts) in Node: every case passes on both WASM
 * builds, one thread and several give the same hashes, and a backend with one wrong kernel fails the
 * cases that use it (so the browser test, which compares the browser's hashes with these, can fail).
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { CHECK_NAMES, runKernelChecks } from '../../web/src/lib/checks.js';

describe('web kernel checks', () => {
  it('pass on both WASM builds, with the same hashes on 1 and 2 threads', () => {
    for (const variant of ['simd', 'relaxed-simd'] as const) {
      const one = loadWasmBackendSync({ variant, threads: 1 });
      const two = loadWasmBackendSync({ variant, threads: 2, parallel: { minWorkNs: 0 } });
      const a = runKernelChecks(one);
      const b = runKernelChecks(two);
      two.close();
      expect(a.map((r) => r.name)).toEqual(CHECK_NAMES);
      for (const r of a) expect(r, `${variant}: ${r.name}`).toMatchObject({ pass: true });
      expect(b.map((r) => r.hash)).toEqual(a.map((r) => r.hash));
    }
  });

  it('fail where a kernel is wrong', () => {
    const be = new ReferenceBackend();
    const softmax = be.softmaxRows.bind(be);
    be.softmaxRows = (p) => {
      softmax(p);
      p.p[(p.pOffset ?? 0) + 1] = p.p[(p.pOffset ?? 0) + 1]! + 1e-3; // one probability off by 0.001
    };
    const failed = runKernelChecks(be)
      .filter((r) => !r.pass)
      .map((r) => r.name);
    expect(failed).toContain('softmax rows 13×50 with masked scores');
    expect(failed).not.toContain('gemm 37×45 · (29×45)ᵀ, accumulate');
  });
});
