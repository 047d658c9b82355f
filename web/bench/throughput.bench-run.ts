/**
 * `npm run bench:web`: the README's browser throughput table. The same measurement
 * (web/src/lib/throughput.ts: forward tokens/s of one 1024-token window, generation tokens/s of 32
 * new tokens after a 256-byte prompt, medians of 5 runs after a warm-up) on the shipped model, in
 * headless Chromium (the built page's compute worker) and in Node, each with all cores and with one
 * thread, the relaxed-SIMD build. The four configurations run `REFORMER_WEB_BENCH_ROUNDS` times
 * (default 3), interleaved, and the table gives the best and the median round of each (on a shared
 * machine the best is the closest to the unloaded speed). Prints a Markdown table with the CPU and
 * the load average, and writes test-results/web-throughput.json. Run it on a quiet machine
 * (node bench/wait-idle.mjs first).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { lmFromCheckpoint } from '../../src/model/checkpoint.js';
import { loadWasmBackend } from '../../src/node/wasm.js';
import type { BackendInfo } from '../src/lib/engine.js';
import { DEFAULT_THROUGHPUT, measureThroughput, type Throughput } from '../src/lib/throughput.js';
import { openBrowser, REPO } from '../test/browser.js';

interface Row {
  where: string;
  backend: string;
  threads: number;
  result: Throughput;
}

it('measures browser and Node throughput', async () => {
  const model = join(REPO, 'web', 'public', 'model');
  const files = { config: readFileSync(join(model, 'config.json')), safetensors: readFileSync(join(model, 'model.safetensors')) };
  const rounds = Number(process.env.REFORMER_WEB_BENCH_ROUNDS ?? 3);
  const load = [loadavg()[0]!];
  const rows: Row[] = [];
  const session = await openBrowser();
  try {
    const page = await session.newPage();
    await page.waitForFunction(() => window.reformerTest !== undefined, null, { timeout: 60_000 });
    await page.evaluate(() => window.reformerTest.ready);
    const version = session.context.browser()?.version() ?? 'Chromium';
    for (let round = 0; round < rounds; round++) {
      for (const threads of ['auto', 1] as const) {
        const r = (await page.evaluate(([t, req]) => window.reformerTest.throughput({ threads: t }, req), [
          threads,
          DEFAULT_THROUGHPUT,
        ] as const)) as {
          backend: BackendInfo;
          throughput: Throughput;
        };
        rows.push({ where: `Chromium ${version} (headless)`, backend: r.backend.name, threads: r.backend.threads, result: r.throughput });
      }
      for (const threads of [cpus().length, 1]) {
        const be = await loadWasmBackend({ threads });
        const lm = lmFromCheckpoint(be, files);
        rows.push({
          where: `Node ${process.version}`,
          backend: be.name,
          threads: be.threads,
          result: measureThroughput(lm, DEFAULT_THROUGHPUT),
        });
        be.close();
      }
      load.push(loadavg()[0]!);
    }
  } finally {
    await session.close();
  }
  const cpu = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores`;
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.where} | ${r.backend} | ${r.threads}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const fmt = (xs: number[], digits: number): string =>
    `${Math.max(...xs).toLocaleString('en', { maximumFractionDigits: digits })} (${median(xs).toLocaleString('en', { maximumFractionDigits: digits })})`;
  const lines = [
    `CPU: ${cpu}; 1-minute load average ${load.map((l) => l.toFixed(2)).join(' → ')} (before, after each round); ${rounds} rounds`,
    '',
    '| where | backend | threads | forward tokens/s: best (median) | generation new tokens/s: best (median) |',
    '| --- | --- | --- | --- | --- |',
    ...[...groups].map(
      ([key, rs]) =>
        `| ${key} | ${fmt(
          rs.map((r) => Math.round(r.result.forwardTokensPerSecond)),
          0,
        )} | ${fmt(
          rs.map((r) => r.result.generationTokensPerSecond),
          1,
        )} |`,
    ),
  ];
  console.log(lines.join('\n'));
  mkdirSync(join(REPO, 'test-results'), { recursive: true });
  writeFileSync(join(REPO, 'test-results', 'web-throughput.json'), `${JSON.stringify({ cpu, load, rows }, null, 2)}\n`);
});
