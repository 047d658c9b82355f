/**
 * The demo page in a real browser (headless Chromium, web/test/browser.ts): it loads the backend it
 * should (relaxed SIMD, threads under cross-origin isolation), its kernel conformance subset, a
 * seeded generation give the same bits as Node (computed here, same builds) on every backend choice,
 * and so does the LSH-vs-exact report of the novel excerpt (up to the float64 oracle's last bit),
 * generation streams with tokens/s, LSH is drawn, live training runs and its checkpoint downloads as
 * an HF folder that Node loads, and the page works offline after the first visit.
 * A screenshot goes to test-results/web-page.png (a CI artefact).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Download, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lmFromCheckpoint } from '../../src/model/checkpoint.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import type { AttentionQualityRow } from '../../src/attention/quality.js';
import { type CheckResult, type GenerationCheck, runKernelChecks, seededGeneration } from '../src/lib/checks.js';
import { novelExcerpt } from '../src/lib/excerpt.js';
import { qualityByRounds } from '../src/lib/lsh-view.js';
import type { BackendChoice, BackendInfo } from '../src/lib/engine.js';
import { type BrowserSession, openBrowser, REPO, WEB_DIST } from './browser.js';

type PageChecks = { kernels: CheckResult[]; generation: GenerationCheck; backend: BackendInfo };

const MODEL = join(REPO, 'web', 'public', 'model');
const files = () => ({ config: readFileSync(join(MODEL, 'config.json')), safetensors: readFileSync(join(MODEL, 'model.safetensors')) });
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let session: BrowserSession;
let page: Page;

async function waitForText(id: string, pattern: RegExp, timeout = 120_000): Promise<string> {
  await page.waitForFunction(([i, src]) => new RegExp(src!).test(document.getElementById(i!)?.textContent ?? ''), [id, pattern.source], {
    timeout,
  });
  return (await page.textContent(`#${id}`)) ?? '';
}

beforeAll(async () => {
  // the page must carry the kernels Node uses here (web:build after build:wasm)
  const built = readdirSync(join(WEB_DIST, 'assets')).filter((f) => f.endsWith('.wasm'));
  for (const name of ['kernels.relaxed.shared', 'kernels.relaxed', 'kernels.simd.shared', 'kernels.simd']) {
    const asset = built.find((f) => f.startsWith(`${name}-`));
    expect(asset, `web/dist has no ${name} build: run npm run web:build`).toBeDefined();
    expect(sha(readFileSync(join(WEB_DIST, 'assets', asset!))), `web/dist/assets/${asset} is stale: run npm run web:build`).toBe(
      sha(readFileSync(join(REPO, 'build', `${name}.wasm`))),
    );
  }
  session = await openBrowser();
  page = await session.newPage();
  await page.waitForFunction(() => window.reformerTest !== undefined, null, { timeout: 60_000 });
  await page.evaluate(() => window.reformerTest.ready);
});

afterAll(async () => {
  if (session) await session.close();
});

describe('the page in headless Chromium', () => {
  it('picks relaxed SIMD and threads (cross-origin isolated), loads the shipped model and draws LSH', async () => {
    const backend = await page.textContent('#backend');
    expect(backend, session.log.join('\n')).toMatch(/relaxed SIMD, [2-9]\d* threads \(cross-origin isolated, \d+ cores\), shared memory/);
    expect(await page.textContent('#model-info')).toMatch(/114,434 parameters, layers local\/lsh/);
    const summary = await waitForText('lsh-summary', /mean recall \d/);
    expect(summary).toMatch(/1024 tokens, 2 heads, 32 buckets per round, chunks of 64/);
    // every token of the window is drawn, and a query view exists
    expect(await page.locator('#lsh-tokens span').count()).toBe(1024);
    await waitForText('lsh-query-label', /LSH attended \d+ keys/);
    // the report: one row per num_hashes, recall growing with the rounds (paper Table 2's trend)
    await page.waitForFunction(() => document.querySelectorAll('#lsh-report svg text').length > 8, null, { timeout: 120_000 });
    const recalls = (await page.locator('#lsh-report svg text').allTextContents()).filter((t) => /^0\.\d{3}$|^1\.000$/.test(t)).map(Number);
    expect(recalls).toHaveLength(4);
    expect(recalls[3]!).toBeGreaterThan(recalls[0]!);
    // changing num_hashes redraws the picture
    await page.selectOption('#lsh-rounds', '4');
    await waitForText('lsh-summary', /num_hashes 4: mean recall/);
    expect(await page.locator('#lsh-round option').count()).toBe(4);
  });

  it('kernel checks, a seeded generation and the LSH report equal Node bit for bit (relaxed/SIMD × threads/one thread)', async () => {
    const node = new Map<string, { kernels: CheckResult[]; generation: GenerationCheck }>();
    for (const variant of ['relaxed-simd', 'simd'] as const) {
      const be = loadWasmBackendSync({ variant, threads: 1 });
      node.set(variant, { kernels: runKernelChecks(be, 1), generation: seededGeneration(be, files()) });
    }
    const choices: BackendChoice[] = [
      { variant: 'relaxed-simd', threads: 'auto', parallel: { minWorkNs: 0 } },
      { variant: 'relaxed-simd', threads: 1 },
      { variant: 'simd', threads: 'auto', parallel: { minWorkNs: 0 } },
      { variant: 'simd', threads: 1 },
    ];
    for (const choice of choices) {
      const got = (await page.evaluate((c) => window.reformerTest.checks(c, 1), choice)) as PageChecks;
      const want = node.get(choice.variant as string)!;
      const label = `${got.backend.summary}`;
      expect(got.backend.variant, label).toBe(choice.variant);
      expect(got.backend.threads, label).toBe(choice.threads === 1 ? 1 : Math.min(16, got.backend.cores));
      expect(got.kernels.map((k) => k.name)).toEqual(want.kernels.map((k) => k.name));
      for (const k of got.kernels) expect(k, `${label}: ${k.name}`).toMatchObject({ pass: true });
      expect(
        got.kernels.map((k) => `${k.name}: ${k.hash}`),
        label,
      ).toEqual(want.kernels.map((k) => `${k.name}: ${k.hash}`));
      expect(got.generation, label).toEqual(want.generation);
    }
    // LSH vs exact attention on the novel excerpt (1024 tokens, up to 8 rounds: the memory grows while
    // the helper threads run): the same numbers as Node
    const bytes = new TextEncoder().encode(novelExcerpt(readFileSync(join(REPO, 'data', 'crime-and-punishment.txt'), 'utf8')));
    const rounds = [1, 2, 4, 8];
    const nodeRows = qualityByRounds(
      lmFromCheckpoint(loadWasmBackendSync({ variant: 'relaxed-simd', threads: 1 }), files()),
      bytes,
      1,
      0,
      rounds,
    );
    for (const threads of ['auto', 1] as const) {
      const got = (await page.evaluate(([t, r]) => window.reformerTest.lshReport({ variant: 'relaxed-simd', threads: t }, 1, 0, r), [
        threads,
        rounds,
      ] as const)) as {
        backend: BackendInfo;
        rows: AttentionQualityRow[];
      };
      // the attended keys come from the WASM hashing and sort alone: equal; the other numbers also go
      // through the float64 oracle's Math.exp, whose last bit may differ between V8 versions
      expect(
        got.rows.map((r) => r.meanAttendedKeys),
        got.backend.summary,
      ).toEqual(nodeRows.map((r) => r.meanAttendedKeys));
      got.rows.forEach((r, i) => {
        const want = nodeRows[i]!;
        for (const k of ['relativeRmsError', 'maxAbsError', 'meanMassRecall', 'minMassRecall'] as const) {
          expect(Math.abs(r[k] - want[k]), `${got.backend.summary}: num_hashes ${r.numHashes} ${k}`).toBeLessThanOrEqual(
            1e-12 * Math.abs(want[k]),
          );
        }
      });
    }
    expect(nodeRows[3]!.meanMassRecall).toBeGreaterThan(nodeRows[0]!.meanMassRecall);
    // the two builds differ somewhere (relaxed FMA), so equal hashes above are not trivially equal
    const r = node.get('relaxed-simd')!.kernels.map((k) => k.hash);
    const s = node.get('simd')!.kernels.map((k) => k.hash);
    expect(
      r.some((h, i) => h !== s[i]) || node.get('relaxed-simd')!.generation.logitsHash !== node.get('simd')!.generation.logitsHash,
    ).toBe(true);
  });

  it('streams generated tokens with tokens/s', async () => {
    await page.fill('#max-new', '120');
    await page.click('#generate');
    const stats = await waitForText('gen-stats', /^120 tokens · [\d.]+ tokens\/s · each token/);
    expect(Number(/([\d.]+) tokens\/s/.exec(stats)![1])).toBeGreaterThan(0);
    expect(((await page.textContent('#generated')) ?? '').length).toBeGreaterThan('Raskolnikov '.length);
  });

  it('trains a tiny model live and downloads an HF checkpoint folder that Node loads; screenshot', async () => {
    await page.fill('#train-steps', '12');
    await page.click('#train');
    const status = await waitForText('train-status', /^done: 12 steps/);
    expect(status).toMatch(/bits per byte/);
    expect(await page.locator('#train-curve svg path').count()).toBe(1);
    const downloads: Download[] = [];
    const both = new Promise<void>((resolve) => {
      page.on('download', (d) => {
        downloads.push(d);
        if (downloads.length === 2) resolve();
      });
    });
    await page.click('#train-download');
    await both;
    const saved: Record<string, Buffer> = {};
    for (const d of downloads) saved[d.suggestedFilename()] = readFileSync((await d.path())!);
    expect(Object.keys(saved).sort()).toEqual(['config.json', 'model.safetensors']);
    const lm = lmFromCheckpoint(new ReferenceBackend(), { config: saved['config.json']!, safetensors: saved['model.safetensors']! });
    expect(JSON.parse(saved['config.json']!.toString('utf8'))).toMatchObject({
      architectures: ['ReformerModelWithLMHead'],
      model_type: 'reformer',
    });
    expect(lm.config.max_position_embeddings).toBe(256);
    // the whole page after generation, LSH and training: the CI artefact
    mkdirSync(join(REPO, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(REPO, 'test-results', 'web-page.png'), fullPage: true });
  });

  it('works offline after the first load (service worker cache)', async () => {
    await waitForText('offline', /cached for offline use/);
    await session.context.setOffline(true);
    try {
      await page.reload();
      await page.waitForFunction(() => window.reformerTest !== undefined, null, { timeout: 60_000 });
      await page.evaluate(() => window.reformerTest.ready);
      expect(await page.textContent('#backend')).toMatch(/relaxed SIMD, [2-9]\d* threads/);
      expect(await page.textContent('#model-info')).toMatch(/114,434 parameters/);
    } finally {
      await session.context.setOffline(false);
    }
  });
});

describe('the page served without cross-origin isolation headers', () => {
  it('falls back to a private memory and one thread, and still equals Node bit for bit', async () => {
    const plain = await openBrowser({ isolation: false });
    try {
      const p = await plain.newPage();
      await p.waitForFunction(() => window.reformerTest !== undefined, null, { timeout: 60_000 });
      await p.evaluate(() => window.reformerTest.ready);
      expect(await p.textContent('#backend'), plain.log.join('\n')).toMatch(
        /relaxed SIMD, 1 thread \(not cross-origin isolated \(no COOP\/COEP headers\)\), private memory/,
      );
      const got = (await p.evaluate(() => window.reformerTest.checks({}, 1))) as PageChecks;
      expect(got.backend).toMatchObject({ sharedMemory: false, threads: 1, crossOriginIsolated: false, variant: 'relaxed-simd' });
      const be = loadWasmBackendSync({ variant: 'relaxed-simd', threads: 1 });
      expect(got.kernels.map((k) => `${k.name}: ${k.hash} ${k.pass}`)).toEqual(
        runKernelChecks(be, 1).map((k) => `${k.name}: ${k.hash} true`),
      );
      expect(got.generation).toEqual(seededGeneration(be, files()));
      // threads cannot be had here: the request is refused with the reason
      await expect(p.evaluate(() => window.reformerTest.checks({ threads: 2 }, 1))).rejects.toThrow(
        /not cross-origin isolated.*use 1 thread/,
      );
    } finally {
      await plain.close();
    }
  });
});
