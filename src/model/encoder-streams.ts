/**
 * Where one encoder call's residual streams live (issue 17; `options.hostStreams`,
 * backend/host-streams.ts): in the backend's memory (the arena path) or in plain JS arrays outside the
 * WASM arena (the host path). On the host path X1, X2, dY1, dY2, the embedding output and dEmbedding are
 * host arrays and every layer streams them through the arena in row blocks; both paths give the same
 * bits. Here: the check of the option, the choice of path for a call (memory/check.ts: 'auto' takes host
 * streams only when the arena estimate exceeds the backend's limit), the [rows, D] stream buffers of
 * either path, and the embeddings written into them.
 */
import type { Backend, Float } from '../backend/backend.js';
import { hostFloats, onBackend } from '../backend/host-streams.js';
import type { ReformerOptions } from '../config/options.js';
import type { ReformerConfig } from '../config/reformer-config.js';
import { ConfigError } from '../errors.js';
import type { EncoderInput } from './encoder-types.js';
import { checkBackendMemory } from './memory/check.js';

/**
 * Refuses `hostStreams: 'always'` without the reversible backward: the store-activations backward keeps
 * every layer's inputs in the backend's memory, so the streams cannot leave it.
 * @throws ConfigError (field `options.hostStreams`).
 */
export function checkHostStreamsOption(options: ReformerOptions): void {
  if (options.hostStreams === 'always' && !options.reversible)
    throw new ConfigError(
      'options.hostStreams',
      "'always' needs the reversible backward (options.reversible: true): store-activations keeps every layer in the backend's memory",
    );
}

/**
 * The path of one encoder call: true = host-resident streams. Always checks the call's estimated peak
 * first (model/memory/; a training call is estimated with its backward; `materializeOutput`: the call
 * holds the whole output [batch, seqLen, 2·hidden], as `forward` does) before anything is allocated.
 * `input.streams` ('arena' | 'host', chosen by a head with its own check) overrides the choice; otherwise
 * `options.hostStreams` decides ('auto': host only when the arena path does not fit).
 * @throws ResourceError (the estimate exceeds the backend's hard limit, WASM: 4 GiB, or the host budget
 * `options.hostMemoryBytes`), with the numbers and a way out.
 */
export function chooseHostStreams(
  be: Backend,
  cfg: ReformerConfig,
  options: ReformerOptions,
  input: EncoderInput,
  materializeOutput: boolean,
): boolean {
  const host = checkBackendMemory(be, cfg, {
    batch: input.batch,
    seqLen: input.seqLen,
    mode: input.training ? 'train' : 'forward',
    reversible: options.reversible,
    padding: input.attentionMask != null,
    ...(input.numHashes != null ? { numHashes: input.numHashes } : {}),
    head: false,
    materializeOutput,
    hostBlockRows: options.hostBlockRows,
    hostStreams: input.streams === 'host' ? 'always' : input.streams === 'arena' ? 'never' : options.hostStreams,
    ...(options.hostMemoryBytes !== null ? { hostBudgetBytes: options.hostMemoryBytes } : {}),
  }).hostStreams;
  return input.streams !== undefined && input.streams !== null ? input.streams === 'host' : host;
}

/** True if `stream` (a buffer of a run's streams, e.g. Y1) is host-resident: outside the backend's memory. */
export function isHostStream(be: Backend, stream: Float): boolean {
  return !onBackend(be, stream);
}

/**
 * A zeroed stream buffer of `n` elements (n = rows·D for [rows, D]) on the call's path: a host array
 * (`host`, never freed by `be.scope`) or a buffer of the backend in the caller's scope.
 */
export function streamFloats(be: Backend, host: boolean, n: number): Float {
  return host ? hostFloats(be, n) : be.floats(n);
}

/**
 * Allocates the two streams X1, X2 [rows, D] (n = rows·D elements) on the call's path and fills both
 * with the embedding output: `embed(e1, e2)` writes emb into e1 and e2 (backend buffers); on the host
 * path it runs on arena temporaries (freed here) that are then copied out. (HF: cat([emb, emb]) then chunk.)
 */
export function embeddingStreams(be: Backend, host: boolean, n: number, embed: (e1: Float, e2: Float) => void): { x1: Float; x2: Float } {
  const x1 = streamFloats(be, host, n); // [rows, D] attention stream
  const x2 = streamFloats(be, host, n); // [rows, D] hidden stream
  if (host) {
    // host-resident streams: the embeddings computed in the arena, then copied out
    be.scope(() => {
      const e1 = be.floats(n);
      embed(e1, be.floats(n));
      x1.set(e1);
      x2.set(e1);
    });
  } else {
    embed(x1, x2);
  }
  return { x1, x2 };
}
