/**
 * The page's compute worker: everything that takes more than a frame runs here, never on the page's
 * main thread (which also may not block in `Atomics.wait`, as the WASM backend's threads need). It
 * owns the backend (web/src/lib/engine.ts), the current model and the live-training model, and
 * answers the requests of web/src/protocol.ts one at a time, in order; `stop` is handled at once
 * (generation checks it between tokens, training between steps).
 */
import relaxedPrivate from '../../../build/kernels.relaxed.wasm?url';
import relaxedShared from '../../../build/kernels.relaxed.shared.wasm?url';
import simdPrivate from '../../../build/kernels.simd.wasm?url';
import simdShared from '../../../build/kernels.simd.shared.wasm?url';
import { type Backend, lmFromCheckpoint, modelMaxContext, type ReformerModelWithLMHead, UsageError } from '../../../src/index.js';
import { runKernelChecks, seededGeneration } from '../lib/checks.js';
import { type BackendInfo, loadBrowserBackend } from '../lib/engine.js';
import { streamTokens } from '../lib/generation.js';
import { LshAnalysis, qualityByRounds } from '../lib/lsh-view.js';
import { measureThroughput } from '../lib/throughput.js';
import { checkpointFiles, trainLive } from '../lib/training.js';
import type { Event, FromWorker, ModelInfo, Request, ToWorker } from '../protocol.js';

interface WorkerScope {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;

const BUILD_URLS: Record<string, string> = {
  'kernels.relaxed.wasm': relaxedPrivate,
  'kernels.relaxed.shared.wasm': relaxedShared,
  'kernels.simd.wasm': simdPrivate,
  'kernels.simd.shared.wasm': simdShared,
};

async function fetchBytes(url: string, what: string): Promise<Uint8Array<ArrayBuffer>> {
  const response = await fetch(url);
  if (!response.ok) throw new UsageError(`could not load ${what} (${url}): HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function fetchBuild(file: string): Promise<Uint8Array<ArrayBuffer>> {
  const url = BUILD_URLS[file];
  if (!url) throw new UsageError(`no kernel build named ${file}`);
  return fetchBytes(url, `the WASM kernels ${file}`);
}

let backend: Backend | null = null;
let backendInfo: BackendInfo | null = null;
let model: ReformerModelWithLMHead | null = null;
let shippedFiles: { config: Uint8Array; safetensors: Uint8Array } | null = null;
let trained: { model: ReformerModelWithLMHead; step: number } | null = null;
let analysis: LshAnalysis | null = null;
let stopRequested = false;

function needBackend(): Backend {
  if (!backend) throw new UsageError('the backend is not loaded yet (send init first)');
  return backend;
}

function needModel(): ReformerModelWithLMHead {
  if (!model) throw new UsageError('no model is loaded: open the shipped model or pick a checkpoint first');
  return model;
}

function describe(lm: ReformerModelWithLMHead, source: string): ModelInfo {
  const c = lm.config;
  return {
    source,
    parameters: lm.params.length,
    layers: [...c.attn_layers],
    hiddenSize: c.hidden_size,
    heads: c.num_attention_heads,
    maxContext: modelMaxContext(lm) ?? c.max_position_embeddings,
    lshLayers: c.attn_layers.flatMap((t, i) => (t === 'lsh' ? [i] : [])),
    numHashes: c.num_hashes,
  };
}

function setModel(lm: ReformerModelWithLMHead, source: string): ModelInfo {
  model = lm;
  analysis = null;
  return describe(lm, source);
}

/** Lets queued messages (a `stop`) in between two tokens, without the 4 ms clamp of setTimeout. */
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

async function shippedModelFiles(base: string): Promise<{ config: Uint8Array; safetensors: Uint8Array }> {
  shippedFiles ??= {
    config: await fetchBytes(new URL('config.json', base).href, 'the shipped model config.json'),
    safetensors: await fetchBytes(new URL('model.safetensors', base).href, 'the shipped model.safetensors'),
  };
  return shippedFiles;
}

async function handle(request: Request, emit: (event: Event) => void): Promise<unknown> {
  switch (request.kind) {
    case 'init': {
      if (backend) throw new UsageError('the backend is already loaded (one per worker)');
      emit({ kind: 'progress', text: 'loading the WASM kernels', fraction: null });
      const r = await loadBrowserBackend(fetchBuild, request.choice);
      backend = r.backend;
      backendInfo = r.info;
      return r.info;
    }
    case 'load-shipped': {
      const files = await shippedModelFiles(request.modelUrl);
      return setModel(lmFromCheckpoint(needBackend(), files), 'shipped model (trained with reformer train, preset tiny)');
    }
    case 'load-files':
      return setModel(lmFromCheckpoint(needBackend(), { config: request.config, safetensors: request.safetensors }), request.name);
    case 'use-trained': {
      if (!trained) throw new UsageError('no model was trained on this page yet');
      return setModel(trained.model, `trained on this page (${trained.step} steps)`);
    }
    case 'generate': {
      const lm = needModel();
      stopRequested = false;
      let text = '';
      let count = 0;
      let tokensPerSecond = 0;
      for (const t of streamTokens(lm, request.request)) {
        text += t.text;
        count = t.count;
        tokensPerSecond = t.tokensPerSecond;
        emit({ kind: 'token', text: t.text, count: t.count, tokensPerSecond: t.tokensPerSecond });
        await yieldToEvents();
        if (stopRequested) return { tokens: count, tokensPerSecond, text, stopped: true };
      }
      return { tokens: count, tokensPerSecond, text, stopped: false };
    }
    case 'lsh': {
      const lm = needModel();
      const bytes = new TextEncoder().encode(request.text);
      emit({ kind: 'progress', text: `LSH with ${request.request.numHashes} hash round(s)`, fraction: null });
      analysis = new LshAnalysis(lm, bytes, request.request);
      return analysis.picture;
    }
    case 'lsh-report': {
      const lm = needModel();
      const bytes = new TextEncoder().encode(request.text);
      return qualityByRounds(lm, bytes, request.layer, request.seed, request.numHashesList);
    }
    case 'lsh-query': {
      if (!analysis) throw new UsageError('no LSH picture yet: run the LSH analysis first');
      return analysis.query(request.head, request.position);
    }
    case 'train': {
      stopRequested = false;
      const steps = request.request.steps;
      const r = await trainLive(needBackend(), request.request, {
        onStep: (info) => {
          emit({ kind: 'step', info });
          if (info.step % 5 === 0 || info.step === steps)
            emit({ kind: 'progress', text: `step ${info.step} of ${steps}`, fraction: info.step / steps });
        },
        onValidation: (info) => emit({ kind: 'validation', info }),
        shouldStop: () => stopRequested,
      });
      trained = { model: r.model, step: r.result.step };
      return {
        step: r.result.step,
        stoppedBy: r.result.stoppedBy,
        bitsPerByte: r.result.lastStep?.bitsPerByte ?? null,
        validation: r.result.lastValidation,
      };
    }
    case 'download': {
      if (!trained) throw new UsageError('no model was trained on this page yet');
      const files = checkpointFiles(trained.model, trained.step);
      return { config: files.config, safetensors: files.safetensors };
    }
    case 'checks': {
      const be = needBackend();
      const kernels = runKernelChecks(be, request.seed, (done, total, name) =>
        emit({ kind: 'progress', text: `kernel check ${done}/${total}: ${name}`, fraction: done / total }),
      );
      const generation = seededGeneration(be, await shippedModelFiles(request.modelUrl));
      return { kernels, generation, backend: backendInfo! };
    }
    case 'throughput': {
      const lm = lmFromCheckpoint(needBackend(), await shippedModelFiles(request.modelUrl));
      return measureThroughput(lm, request.request);
    }
    case 'stop':
      stopRequested = true;
      return { stopped: true };
  }
}

let queue: Promise<void> = Promise.resolve();

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const { id, request } = event.data;
  const emit = (e: Event): void => scope.postMessage({ id, type: 'event', event: e });
  const run = async (): Promise<void> => {
    try {
      const result = await handle(request, emit);
      scope.postMessage({ id, type: 'result', result });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      scope.postMessage({ id, type: 'error', name: err.name, message: err.message });
    }
  };
  if (request.kind === 'stop') void run();
  else queue = queue.then(run);
};
