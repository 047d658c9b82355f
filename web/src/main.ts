/**
 * The page (main thread): wires the controls of index.html to the compute worker (web/src/client.ts)
 * and draws what it answers. Nothing heavy runs here, so the page never freezes.
 *
 * URL parameters (for comparisons): `?threads=1` (or a number), `?variant=simd`.
 * `window.reformerTest` runs the kernel checks, the LSH report of the novel excerpt and the throughput
 * measurement on a fresh worker with a given backend choice (the browser test and the throughput
 * script call it).
 */
import { EXCERPT } from 'virtual:novel-excerpt';
import type { AttentionQualityRow } from '../../src/index.js';
import { ComputeClient } from './client.js';
import type { BackendChoice } from './lib/engine.js';
import type { LshPicture, QueryView } from './lib/lsh-view.js';
import type { ThroughputRequest } from './lib/throughput.js';
import type { ModelInfo } from './protocol.js';
import { drawLossCurve, drawQualityReport } from './ui/charts.js';
import { byId, clearError, el, numberOf, showError } from './ui/dom.js';
import { drawChunks, drawQuery, drawStrips, drawTokens } from './ui/lsh.js';
import './style.css';

const MODEL_URL = new URL('model/', document.baseURI).href;
const REPORT_ROUNDS = [1, 2, 4, 8];

function choiceFromUrl(): BackendChoice {
  const q = new URLSearchParams(location.search);
  const threads = q.get('threads');
  const variant = q.get('variant');
  return {
    ...(threads ? { threads: threads === 'auto' ? 'auto' : Number(threads) } : {}),
    ...(variant === 'simd' || variant === 'relaxed-simd' ? { variant } : {}),
  };
}

const client = new ComputeClient();
let model: ModelInfo | null = null;
let picture: LshPicture | null = null;
let query: QueryView | null = null;
let report: AttentionQualityRow[] = [];
let reportKey = '';

// ------------------------------------------------------------------ model

function showModel(info: ModelInfo): void {
  model = info;
  byId('model-info').textContent =
    `${info.source}: ${info.parameters.toLocaleString('en')} parameters, layers ${info.layers.join('/')}, hidden ${info.hiddenSize}, ` +
    `${info.heads} heads, context ${info.maxContext} tokens, num_hashes ${info.numHashes}`;
  clearError(byId('model-info'));
  const layer = byId<HTMLSelectElement>('lsh-layer');
  layer.replaceChildren(...info.lshLayers.map((l) => Object.assign(el('option', '', String(l)), { value: String(l) })));
  const head = byId<HTMLSelectElement>('lsh-head');
  head.replaceChildren(...Array.from({ length: info.heads }, (_, h) => Object.assign(el('option', '', String(h)), { value: String(h) })));
}

async function loadShipped(): Promise<void> {
  try {
    showModel(await client.call({ kind: 'load-shipped', modelUrl: MODEL_URL }));
  } catch (e) {
    showError(byId('model-info'), e);
  }
}

async function loadPicked(files: FileList | null): Promise<void> {
  const target = byId('model-info');
  if (!files || files.length === 0) return;
  const list = Array.from({ length: files.length }, (_, i) => files.item(i)!);
  const find = (pred: (name: string) => boolean): File | undefined => list.find((f) => pred(f.name));
  const config = find((n) => n === 'config.json');
  const weights = find((n) => n.endsWith('.safetensors'));
  const later = find((n) => n.endsWith('.bin') || n === 'spiece.model');
  try {
    if (!config || !weights) {
      throw new Error(
        `pick config.json and model.safetensors together (got ${list.map((f) => f.name).join(', ')})` +
          (later ? `; ${later.name} is not read by the page yet: convert the weights to safetensors` : ''),
      );
    }
    target.textContent = `reading ${config.name} and ${weights.name}…`;
    const [c, w] = await Promise.all([config.arrayBuffer(), weights.arrayBuffer()]);
    showModel(
      await client.call({
        kind: 'load-files',
        name: `${weights.name} (${(w.byteLength / 1e6).toFixed(1)} MB)`,
        config: new Uint8Array(c),
        safetensors: new Uint8Array(w),
      }),
    );
    picture = null;
  } catch (e) {
    showError(target, e);
  }
}

// ------------------------------------------------------------------ generation

async function generate(): Promise<void> {
  const out = byId('generated');
  const stats = byId('gen-stats');
  const go = byId<HTMLButtonElement>('generate');
  const stop = byId<HTMLButtonElement>('generate-stop');
  out.textContent = byId<HTMLInputElement>('prompt').value;
  clearError(stats);
  go.disabled = true;
  stop.disabled = false;
  try {
    const r = await client.call(
      {
        kind: 'generate',
        request: {
          prompt: byId<HTMLInputElement>('prompt').value,
          maxNewTokens: numberOf('max-new', 200),
          temperature: numberOf('temperature', 0.8),
          topK: numberOf('top-k', 40),
          seed: numberOf('gen-seed', 0),
        },
      },
      (e) => {
        if (e.kind !== 'token') return;
        out.append(e.text);
        stats.textContent = `${e.count} tokens · ${e.tokensPerSecond.toFixed(1)} tokens/s`;
      },
    );
    stats.textContent = `${r.tokens} tokens · ${r.tokensPerSecond.toFixed(1)} tokens/s${r.stopped ? ' (stopped)' : ''} · each token re-runs the model on the whole context (no cache yet)`;
  } catch (e) {
    showError(stats, e);
  } finally {
    go.disabled = false;
    stop.disabled = true;
  }
}

// ------------------------------------------------------------------ LSH

function selectedNumber(id: string): number {
  return Number(byId<HTMLSelectElement>(id).value);
}

function redrawLsh(): void {
  if (!picture) return;
  const head = selectedNumber('lsh-head');
  const round = Math.min(selectedNumber('lsh-round'), picture.numHashes - 1);
  drawStrips(byId('lsh-strips'), picture, head, round);
  drawTokens(byId('lsh-tokens'), picture, head, round, query?.position ?? null, (t) => void pickQuery(t));
  drawChunks(byId('lsh-chunks'), picture, head, round, query?.head === head ? query : null);
  byId('lsh-round-label').textContent = `(round ${round + 1} of ${picture.numHashes}, head ${head})`;
  if (query && query.head === head) {
    drawQuery(byId('lsh-query'), picture, query);
    byId('lsh-query-label').textContent =
      `position ${query.position} “${picture.labels[query.position] || '·'}”, head ${head}: LSH attended ${query.keys} keys holding ` +
      `${(100 * query.recall).toFixed(1)}% of the exact attention mass (orange: exact weights; green underline: attended by LSH; red: heavy keys LSH missed)`;
  }
  if (report.length) drawQualityReport(byId('lsh-report'), report, picture.numHashes);
}

async function pickQuery(t: number): Promise<void> {
  try {
    query = await client.call({ kind: 'lsh-query', head: selectedNumber('lsh-head'), position: t });
    redrawLsh();
  } catch (e) {
    showError(byId('lsh-summary'), e);
  }
}

async function runLsh(): Promise<void> {
  const summary = byId('lsh-summary');
  const button = byId<HTMLButtonElement>('lsh-run');
  if (!model) return showError(summary, new Error('load a model first'));
  const text = byId<HTMLTextAreaElement>('lsh-text').value;
  const layer = selectedNumber('lsh-layer');
  const numHashes = selectedNumber('lsh-rounds');
  const seed = numberOf('lsh-seed', 0);
  clearError(summary);
  summary.textContent = `hashing with ${numHashes} round(s)…`;
  button.disabled = true;
  try {
    const previous = query;
    picture = await client.call({ kind: 'lsh', text, request: { layer, numHashes, seed } });
    const rounds = byId<HTMLSelectElement>('lsh-round');
    const shown = Math.min(selectedNumber('lsh-round'), numHashes - 1);
    rounds.replaceChildren(
      ...Array.from({ length: numHashes }, (_, n) => Object.assign(el('option', '', String(n + 1)), { value: String(n) })),
    );
    rounds.value = String(Math.max(0, shown));
    const q = picture.quality;
    summary.textContent =
      `layer ${layer}: ${picture.seqLen} tokens, ${picture.heads} heads, ${picture.numBuckets} buckets per round, chunks of ${picture.chunkLength} ` +
      `(a query sees its chunk and ${picture.chunksBefore} before), num_hashes ${numHashes}: mean recall ${q.meanMassRecall.toFixed(3)}, ` +
      `output error ${q.relativeRmsError.toFixed(4)}, ${q.meanAttendedKeys.toFixed(0)} keys per query of ${picture.seqLen}`;
    query = null;
    const key = `${text.length}:${text.slice(0, 64)}:${layer}:${seed}`;
    if (key !== reportKey) {
      report = [];
      byId('lsh-report').textContent = 'computing the report for num_hashes 1, 2, 4, 8…';
    }
    redrawLsh();
    const at =
      previous && previous.position < picture.seqLen ? previous.position : Math.min(picture.seqLen - 1, Math.floor(picture.seqLen * 0.7));
    await pickQuery(at);
    if (key !== reportKey) {
      report = await client.call({ kind: 'lsh-report', text, layer, seed, numHashesList: REPORT_ROUNDS });
      reportKey = key;
      redrawLsh();
    }
  } catch (e) {
    showError(summary, e);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ training

async function train(): Promise<void> {
  const status = byId('train-status');
  const progress = byId<HTMLProgressElement>('train-progress');
  const buttons = { go: byId<HTMLButtonElement>('train'), stop: byId<HTMLButtonElement>('train-stop') };
  const steps = Math.round(numberOf('train-steps', 300));
  const points: { step: number; bpb: number }[] = [];
  const validation: { step: number; bpb: number }[] = [];
  let drawn = 0;
  const draw = (): void => {
    drawLossCurve(byId('train-curve'), points, validation, steps);
    drawn = points.length;
  };
  clearError(status);
  buttons.go.disabled = true;
  buttons.stop.disabled = false;
  progress.value = 0;
  status.textContent = 'starting…';
  try {
    const r = await client.call(
      {
        kind: 'train',
        request: {
          text: byId<HTMLTextAreaElement>('train-text').value,
          steps,
          lr: numberOf('train-lr', 0.003),
          seed: numberOf('train-seed', 1),
        },
      },
      (e) => {
        if (e.kind === 'step') {
          points.push({ step: e.info.step, bpb: e.info.bitsPerByte });
          progress.value = e.info.step / steps;
          status.textContent = `step ${e.info.step}/${steps} · ${e.info.bitsPerByte.toFixed(3)} bits per byte · ${Math.round(e.info.tokensPerSecond).toLocaleString('en')} tokens/s`;
          if (points.length - drawn >= 5) requestAnimationFrame(draw);
        } else if (e.kind === 'validation') {
          validation.push({ step: e.info.step, bpb: e.info.bitsPerByte });
        }
      },
    );
    draw();
    status.textContent =
      `done: ${r.step} steps (${r.stoppedBy === 'stop-request' ? 'stopped' : r.stoppedBy === 'time' ? 'time budget' : 'all steps'}), last batch ${r.bitsPerByte?.toFixed(3) ?? '–'} bits per byte` +
      (r.validation
        ? `, validation ${r.validation.bitsPerByte.toFixed(3)} on the last 10% of the text`
        : ' (text too short for a validation split)');
    byId<HTMLButtonElement>('train-download').disabled = false;
    byId<HTMLButtonElement>('train-use').disabled = false;
  } catch (e) {
    showError(status, e);
  } finally {
    buttons.go.disabled = false;
    buttons.stop.disabled = true;
  }
}

function saveFile(name: string, bytes: Uint8Array, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = el('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function download(): Promise<void> {
  try {
    const files = await client.call({ kind: 'download' });
    saveFile('config.json', files.config, 'application/json');
    saveFile('model.safetensors', files.safetensors, 'application/octet-stream');
  } catch (e) {
    showError(byId('train-status'), e);
  }
}

// ------------------------------------------------------------------ checks

async function runChecks(): Promise<void> {
  const out = byId('checks-out');
  out.textContent = 'running…';
  try {
    const r = await client.call({ kind: 'checks', seed: 1, modelUrl: MODEL_URL }, (e) => {
      if (e.kind === 'progress') out.textContent = e.text;
    });
    const table = el('table');
    table.append(Object.assign(el('tr'), { innerHTML: '<th>case</th><th>rel. error</th><th>tolerance</th><th>hash</th><th></th>' }));
    for (const k of r.kernels) {
      const tr = el('tr');
      tr.append(
        el('td', '', k.name),
        el('td', '', k.relError.toExponential(2)),
        el('td', '', k.tolerance.toExponential(0)),
        el('td', '', k.hash),
      );
      tr.append(el('td', k.pass ? 'pass' : 'fail', k.pass ? 'pass' : `FAIL${k.intMismatches ? ` (${k.intMismatches} ints differ)` : ''}`));
      table.append(tr);
    }
    const gen = el(
      'p',
      'muted',
      `seeded generation (${r.backend.name}): ids ${r.generation.ids.join(' ')} · logits hash ${r.generation.logitsHash}`,
    );
    out.replaceChildren(table, gen);
  } catch (e) {
    showError(out, e);
  }
}

// ------------------------------------------------------------------ test hooks

declare global {
  interface Window {
    reformerTest: {
      checks(choice: BackendChoice, seed?: number): Promise<unknown>;
      throughput(choice: BackendChoice, request: ThroughputRequest): Promise<unknown>;
      lshReport(choice: BackendChoice, layer: number, seed: number, numHashesList: number[]): Promise<unknown>;
      ready: Promise<void>;
    };
  }
}

async function withFreshWorker<T>(choice: BackendChoice, fn: (c: ComputeClient) => Promise<T>): Promise<T> {
  const c = new ComputeClient();
  try {
    const backend = await c.call({ kind: 'init', choice });
    return { backend, ...(await fn(c)) } as T;
  } finally {
    c.terminate();
  }
}

// ------------------------------------------------------------------ start

function wire(): void {
  byId('load-shipped').onclick = () => void loadShipped();
  byId<HTMLInputElement>('pick-files').onchange = (e) => void loadPicked((e.target as HTMLInputElement).files);
  byId<HTMLInputElement>('pick-folder').onchange = (e) => void loadPicked((e.target as HTMLInputElement).files);
  byId('generate').onclick = () => void generate();
  byId('generate-stop').onclick = () => void client.call({ kind: 'stop' });
  byId('lsh-novel').onclick = () => {
    byId<HTMLTextAreaElement>('lsh-text').value = EXCERPT;
    void runLsh();
  };
  byId('lsh-run').onclick = () => void runLsh();
  byId('lsh-rounds').onchange = () => void runLsh();
  byId('lsh-layer').onchange = () => void runLsh();
  byId('lsh-head').onchange = () => {
    if (query) void pickQuery(query.position);
    else redrawLsh();
  };
  byId('lsh-round').onchange = () => redrawLsh();
  byId('train-novel').onclick = () => {
    byId<HTMLTextAreaElement>('train-text').value = EXCERPT;
  };
  byId('train').onclick = () => void train();
  byId('train-stop').onclick = () => void client.call({ kind: 'stop' });
  byId('train-download').onclick = () => void download();
  byId('train-use').onclick = async () => {
    try {
      showModel(await client.call({ kind: 'use-trained' }));
      picture = null;
    } catch (e) {
      showError(byId('model-info'), e);
    }
  };
  byId('checks-run').onclick = () => void runChecks();
}

async function start(): Promise<void> {
  wire();
  byId<HTMLTextAreaElement>('lsh-text').value = EXCERPT;
  byId<HTMLTextAreaElement>('train-text').value = EXCERPT;
  const status = byId('backend');
  try {
    const info = await client.call({ kind: 'init', choice: choiceFromUrl() });
    status.textContent = `Backend: ${info.summary}`;
  } catch (e) {
    showError(status, e);
    return;
  }
  await loadShipped();
  if (model) await runLsh();
}

function registerServiceWorker(): void {
  const line = byId('offline');
  if (!import.meta.env.PROD) {
    line.textContent = 'development server: no offline cache';
    return;
  }
  if (!('serviceWorker' in navigator)) {
    line.textContent = 'this browser has no service workers: no offline cache';
    return;
  }
  navigator.serviceWorker
    .register('./sw.js')
    .then(async () => {
      await navigator.serviceWorker.ready;
      line.textContent = 'cached for offline use';
    })
    .catch((e: Error) => {
      line.textContent = `no offline cache: ${e.message}`;
    });
}

const ready = start();
window.reformerTest = {
  checks: (choice, seed = 1) => withFreshWorker(choice, (c) => c.call({ kind: 'checks', seed, modelUrl: MODEL_URL })),
  throughput: (choice, request) =>
    withFreshWorker(choice, async (c) => ({ throughput: await c.call({ kind: 'throughput', request, modelUrl: MODEL_URL }) })),
  lshReport: (choice, layer, seed, numHashesList) =>
    withFreshWorker(choice, async (c) => {
      await c.call({ kind: 'load-shipped', modelUrl: MODEL_URL });
      return { rows: await c.call({ kind: 'lsh-report', text: EXCERPT, layer, seed, numHashesList }) };
    }),
  ready,
};
registerServiceWorker();
