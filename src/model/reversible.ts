/**
 * Reversible residual layers (RevNet, Gomez et al. 2017; Reformer paper Sec. 3, Eq. 7–9; HF
 * `ReformerLayer` and `_ReversibleFunction`):
 *
 *   forward:   Y1 = X1 + F(X2)        (F = attention block)
 *              Y2 = X2 + G(Y1)        (G = chunked feed-forward)
 *   inverse:   X2 = Y2 − G(Y1)
 *              X1 = Y1 − F(X2)
 *
 * A reversible backward keeps only the LAST layer's outputs; going backward through layer l it
 * rebuilds the layer's inputs with the inverse while re-running F and G for their gradients
 * (HF `ReformerLayer.backward_pass`):
 *
 *   g = G(Y1)  (replaying G's dropout seeds);   X2 = Y2 − g;   dY1 += ∂G/∂Y1ᵀ·dY2
 *   f = F(X2)  (replaying F's buckets, seeds);  X1 = Y1 − f;   dX2  = dY2 + ∂F/∂X2ᵀ·dY1
 *   dX1 = dY1
 *
 * Nothing is re-hashed: each sub-layer's forward returns its random `state` (buckets/rotations,
 * dropout seeds), and a replaying forward reuses it exactly.
 *
 * Both branches fuse the replay, the subtraction and the backward (`Sublayer.reverseBackward`), so a
 * layer's whole cache never exists: G row block by row block (nn/feed-forward.ts), F = LSH attention one
 * head at a time (attention/block-reverse.ts: the LayerNorm output, one accumulated d(LayerNorm output)
 * and one head's replay and backward at a time; local attention still runs the unfused step inside).
 * The fused steps compute exactly the bits of the unfused `addForward(keep)` + subtraction + `backward`
 * (spec/model/reverse-attention.spec.ts for F).
 *
 * Modes:
 * - `reversible`: streams are updated in place; memory holds one layer's activations at a time plus
 *   each layer's (small) random state. Backward costs one extra forward per layer.
 * - `store`: every layer's inputs and sub-layer caches are kept (ordinary back-propagation); more
 *   memory, no recomputation, no inversion round-off. Same gradients up to that round-off.
 * - `inference`: in place, nothing kept (evaluation).
 * In every mode each branch adds its output straight into the other stream (`Sublayer.addForward`:
 * attention head by head, feed-forward row block by row block), so a forward holds the two streams plus
 * per-head / per-block temporaries and no [rows, D] buffer more, and every mode computes the same bits.
 *
 * Buffers: X1, X2, Y1, Y2 are [rows, D] with rows = batch·seqLen: backend buffers, or (host-resident
 * streams, issue 17) plain JS arrays outside the WASM arena, which the sub-layers stream through it in
 * row blocks (backend/host-streams.ts); the same bits either way.
 */
import type { Backend, Float } from '../backend/backend.js';
import { streamAxpy } from '../backend/host-streams.js';
import { UsageError } from '../errors.js';
import type { Rng } from '../util/rng.js';

/** Facts of one model call that every sub-layer sees. */
export interface SublayerCall {
  readonly batch: number;
  readonly seqLen: number;
  readonly training: boolean;
  /** [batch, seqLen], 1 = real token, 0 = padding; null = no mask. */
  readonly attentionMask: Int32Array | null;
  /** The call's generator: fresh randomness (rotations, dropout seeds) is drawn from it. */
  readonly rng: Rng;
  /** Injected LSH rotations per layer index (fixtures); a missing entry means "draw". */
  readonly rotations?: ReadonlyArray<Float | null | undefined> | null;
  /** Overrides `num_hashes` of every LSH layer for this call (HF `num_hashes` argument; paper Table 2). */
  readonly numHashes?: number | null;
  /**
   * Diagnostics (`reformer verify`): called with each layer's attention-branch input X2 [rows, D] just
   * before F runs on it (first forward only, not in a backward's recompute). The buffer is live model
   * state: copy what you keep, never modify it.
   */
  readonly onAttentionInput?: ((layer: number, x: Float) => void) | null;
  /**
   * Inference mode: keep each LSH layer's buckets in the returned states (HF `cap:buckets`; a plain
   * copy of [batch, heads, num_hashes, seqLen] ints per layer). Default true; the streaming LM loss
   * turns it off.
   */
  readonly captureBuckets?: boolean;
  /** Called after each layer of a forward (not a backward's recompute) with its outputs Y1, Y2 (numerics.ts: may throw). */
  readonly onLayerOutput?: ((layer: number, y1: Float, y2: Float) => void) | null;
  /**
   * Rows per block streamed between host-resident streams and the arena (backend/host-streams.ts;
   * `ReformerOptions.hostBlockRows`); undefined = HOST_BLOCK_ROWS. Never changes results.
   */
  readonly hostBlockRows?: number;
}

/**
 * A residual branch of a reversible layer, `y += f(x)` with x, y: [rows, D].
 * `replay` null draws fresh randomness and returns it as `state`; a non-null `replay` reproduces that
 * forward exactly. `keep` says whether a `cache` for `backward` is returned (allocated in the caller's
 * scope). Keeping never changes what is computed: evaluation, training and recompute give the same bits.
 */
export interface Sublayer {
  /** y += f(x) in place (x must not alias y). */
  addForward(x: Float, y: Float, call: SublayerCall, replay: unknown, keep: boolean): { state: unknown; cache: unknown };
  /** dx += ∂f/∂xᵀ·dOut; parameter gradients accumulate. `cache` comes from a `keep` forward on the same x. */
  backward(cache: unknown, dOut: Float, dx: Float): void;
  /**
   * Optional fused step of the reversible backward: replays f(x) with `state`, subtracts it from y in
   * place (y = x_other + f(x) becomes x_other) and back-propagates dOut (dx += ∂f/∂xᵀ·dOut, parameter
   * gradients accumulate), piece by piece so the whole cache never exists at once. Without it the
   * backward runs `addForward(keep)` into zeros, the subtraction and `backward`.
   */
  reverseBackward?(x: Float, y: Float, dOut: Float, dx: Float, call: SublayerCall, state: unknown): void;
}

/** One reversible layer: F (attention) and G (feed-forward). */
export interface ReversibleBlock {
  readonly f: Sublayer;
  readonly g: Sublayer;
}

export type ReversibleMode = 'reversible' | 'store' | 'inference';

/** What a training forward leaves for the backward. */
export interface ReversibleRecord {
  readonly mode: ReversibleMode;
  readonly call: SublayerCall;
  readonly n: number;
  /** random state of F and G per layer */
  readonly states: Array<{ f: unknown; g: unknown }>;
  /** store mode: caches per layer (they reference each layer's own input buffers) */
  readonly caches: Array<{ f: unknown; g: unknown }> | null;
  /** outputs of the last layer [rows, D] (reversible mode: overwritten by the backward) */
  readonly y1: Float;
  readonly y2: Float;
}

/**
 * Runs the layers on (X1, X2), each [rows, D] with n = rows·D elements: `Y1 = X1 + F(X2)`, then
 * `Y2 = X2 + G(Y1)`, each branch adding into its stream in place (`Sublayer.addForward`), in every mode,
 * so the evaluation forward and the training forward compute the same bits (with dropout 0).
 * `reversible` / `inference`: X1, X2 are overwritten with the outputs (returned as y1, y2); only the
 * sub-layers' random states are kept. `store`: fresh output buffers per layer; the inputs and the caches
 * are kept for the backward.
 */
export function reversibleForward(
  be: Backend,
  blocks: readonly ReversibleBlock[],
  x1: Float,
  x2: Float,
  n: number,
  call: SublayerCall,
  mode: ReversibleMode,
): ReversibleRecord {
  const states: Array<{ f: unknown; g: unknown }> = [];
  const keep = mode === 'store';
  const caches: Array<{ f: unknown; g: unknown }> | null = keep ? [] : null;
  let a = x1; // attention stream (X1 → Y1)
  let h = x2; // hidden stream (X2 → Y2)
  for (const [l, block] of blocks.entries()) {
    call.onAttentionInput?.(l, h);
    // Y1 = X1 + F(X2)
    const y1 = keep ? copyOf(be, a, n) : a;
    const fr = block.f.addForward(h, y1, call, null, keep);
    // Y2 = X2 + G(Y1)
    const y2 = keep ? copyOf(be, h, n) : h;
    const gr = block.g.addForward(y1, y2, call, null, keep);
    call.onLayerOutput?.(l, y1, y2);
    states.push({ f: fr.state, g: gr.state }); // small (buckets, seeds)
    if (caches) caches.push({ f: fr.cache, g: gr.cache });
    a = y1;
    h = y2;
  }
  return { mode, call, n, states, caches, y1: a, y2: h };
}

function copyOf(be: Backend, x: Float, n: number): Float {
  const y = be.floats(n);
  y.set(x.subarray(0, n));
  return y;
}

/**
 * Backward through all layers, from dY1, dY2 (the gradients at the last layer's outputs). Both are
 * overwritten: on return `dy1` holds dX1 and `dy2` holds dX2 (the gradients at the first layer's
 * inputs). Parameter gradients accumulate through the sub-layers.
 * In reversible mode the record's y1, y2 are overwritten with the rebuilt first-layer inputs.
 */
export function reversibleBackward(
  be: Backend,
  blocks: readonly ReversibleBlock[],
  record: ReversibleRecord,
  dy1: Float,
  dy2: Float,
): void {
  const { n, call, states, caches } = record;
  if (record.mode === 'inference')
    throw new UsageError('reversibleBackward: an inference forward keeps nothing to differentiate; run the forward in training mode');
  if (caches) {
    // store mode: ordinary back-propagation with the kept caches
    for (let l = blocks.length - 1; l >= 0; l--) {
      blocks[l]!.g.backward(caches[l]!.g, dy2, dy1); // Y2 = X2 + G(Y1): dY1 += ∂G/∂Y1ᵀ·dY2
      blocks[l]!.f.backward(caches[l]!.f, dy1, dy2); // Y1 = X1 + F(X2): dX2 = dY2 + ∂F/∂X2ᵀ·dY1
    }
    return;
  }
  const y1 = record.y1;
  const y2 = record.y2;
  for (let l = blocks.length - 1; l >= 0; l--) {
    const block = blocks[l]!;
    be.scope(() => {
      // g = G(Y1), replaying G's dropout seeds; X2 = Y2 − g; dY1 += ∂G/∂Y1ᵀ·dY2
      if (block.g.reverseBackward) {
        block.g.reverseBackward(y1, y2, dy2, dy1, call, states[l]!.g); // y2 now holds X2
        return;
      }
      const out = be.floats(n);
      const gr = block.g.addForward(y1, out, call, states[l]!.g, true);
      streamAxpy(be, y2, -1, out, n); // y2 now holds X2
      block.g.backward(gr.cache, dy2, dy1);
    });
    be.scope(() => {
      // f = F(X2), replaying F's buckets and seeds; X1 = Y1 − f; dX2 = dY2 + ∂F/∂X2ᵀ·dY1
      if (block.f.reverseBackward) {
        block.f.reverseBackward(y2, y1, dy1, dy2, call, states[l]!.f); // y1 now holds X1
        return;
      }
      const out = be.floats(n);
      const fr = block.f.addForward(y2, out, call, states[l]!.f, true);
      streamAxpy(be, y1, -1, out, n); // y1 now holds X1
      block.f.backward(fr.cache, dy1, dy2);
    });
  }
}

/**
 * The inverse alone (trax `reverse`): rebuilds the first layer's inputs from the last layer's outputs
 * of a reversible or store-mode training forward, replaying every sub-layer's random state, without
 * gradients. Overwrites `y1`, `y2` (which on return hold X1, X2 of layer 0). Paper Eq. 8, per layer
 * from the last: `X2 = Y2 − G(Y1)`, `X1 = Y1 − F(X2)`.
 */
export function reversibleInverse(be: Backend, blocks: readonly ReversibleBlock[], record: ReversibleRecord, y1: Float, y2: Float): void {
  const { n, call, states } = record;
  be.scope(() => {
    const out = be.floats(n);
    for (let l = blocks.length - 1; l >= 0; l--) {
      out.fill(0);
      blocks[l]!.g.addForward(y1, out, call, states[l]!.g, false);
      streamAxpy(be, y2, -1, out, n); // X2 = Y2 − G(Y1)
      out.fill(0);
      blocks[l]!.f.addForward(y2, out, call, states[l]!.f, false);
      streamAxpy(be, y1, -1, out, n); // X1 = Y1 − F(X2)
    }
  });
}
