/**
 * The two residual branches of a Reformer layer as `Sublayer`s of the reversible machinery:
 *
 * - `FeedForwardSublayer`: G = HF `ChunkReformerFeedForward` (src/nn/feed-forward.ts). Its random state
 *   is the pair of dropout seeds.
 * - `AttentionSublayer`: F = HF `ReformerAttention` (src/attention/block.ts: LayerNorm → LSH or local
 *   self-attention → output dense) followed by HF `ReformerSelfOutput`'s dropout (hidden_dropout_prob).
 *   Its random state is the LSH buckets of the forward (replayed in the reversible recompute: nothing
 *   is re-hashed), the output-dropout seed and the attention-probability dropout seed
 *   (`lsh_attention_probs_dropout_prob` / `local_attention_probs_dropout_prob`).
 *
 * Both have a fused `reverseBackward` for the reversible backward (replay, subtraction and backward piece
 * by piece, bit-identical to the unfused step): the feed-forward per row block, LSH attention per head
 * (src/attention/block-reverse.ts); local attention runs the unfused step inside its `reverseBackward`.
 *
 * Host-resident streams (backend/host-streams.ts; x, y, dOut, dx plain JS arrays outside the arena): the
 * feed-forward streams its row blocks; the attention forward copies x and y (with output dropout: x and
 * F(x)) into the arena for the block and adds back; its reversible step keeps F(x) replayed on the host
 * and copies dOut (the gradient operand of W_o's reduction over rows) into the arena. Same bits.
 */
import type { Backend, Float } from '../backend/backend.js';
import { hostFloats, onBackend, streamAdd, streamAxpy } from '../backend/host-streams.js';
import { attentionBlockAddForward, type AttentionBlockCache, type AttentionBlockWeights, type AttentionKeep } from '../attention/block.js';
import { attentionBlockBackward } from '../attention/block-backward.js';
import { attentionBlockReverseBackward } from '../attention/block-reverse.js';
import type { AttentionConfig } from '../attention/config.js';
import type { NumBuckets } from '../config/buckets.js';
import type { AttnLayerType } from '../config/fields.js';
import { applyDropout } from '../nn/dropout.js';
import {
  feedForwardAddForward,
  feedForwardBackward,
  feedForwardReverseBackward,
  type FeedForwardCache,
  type FeedForwardSeeds,
  type FeedForwardSpec,
  type FeedForwardWeights,
} from '../nn/feed-forward.js';
import type { Sublayer, SublayerCall } from './reversible.js';

/** Random state of one feed-forward call. */
interface FeedForwardState {
  readonly seeds: FeedForwardSeeds;
}

/** G(Y1) = ChunkReformerFeedForward(Y1). */
export class FeedForwardSublayer implements Sublayer {
  constructor(
    private readonly be: Backend,
    readonly spec: FeedForwardSpec,
    readonly weights: FeedForwardWeights,
    readonly grads: FeedForwardWeights,
  ) {}

  /** y += G(x) in row blocks (nn/feed-forward.ts); dropout seeds are drawn only in training with dropout. */
  addForward(
    x: Float,
    y: Float,
    call: SublayerCall,
    replay: unknown,
    keep: boolean,
  ): { state: FeedForwardState; cache: FeedForwardCache | null } {
    let state = replay as FeedForwardState | null;
    if (!state) {
      // two dropout sites (after dense, after output), drawn only when dropout is active
      const seeds: FeedForwardSeeds = call.training && this.spec.dropout > 0 ? [call.rng.u32(), call.rng.u32()] : null;
      state = { seeds };
    }
    const cache = feedForwardAddForward(this.be, this.spec, this.weights, x, call.batch * call.seqLen, y, state.seeds, keep);
    return { state, cache };
  }

  backward(cache: unknown, dOut: Float, dx: Float): void {
    feedForwardBackward(this.be, this.spec, this.weights, this.grads, cache as FeedForwardCache, dOut, dx);
  }

  /** Reversible backward step: X2 = Y2 − G(Y1), dY1 += ∂G/∂Y1ᵀ·dY2, block by block (no [rows, F] activations). */
  reverseBackward(x: Float, y: Float, dOut: Float, dx: Float, call: SublayerCall, state: unknown): void {
    const seeds = (state as FeedForwardState).seeds;
    feedForwardReverseBackward(this.be, this.spec, this.weights, this.grads, x, call.batch * call.seqLen, y, seeds, dOut, dx);
  }
}

/** Random state of one attention call. */
export interface AttentionState {
  /** LSH offset buckets [batch, heads, numHashes, seqLen] of the first forward; null for local / short sequences. */
  readonly buckets: Int32Array | null;
  /** Seed of the output dropout (ReformerSelfOutput), null when inactive. */
  readonly dropoutSeed: number | null;
  /** Seed of the attention-probability dropout (the layer's mask, see backend/ops/attention/dropout.ts), null when inactive. */
  readonly probsSeed: number | null;
}

interface AttentionSublayerCache {
  readonly block: AttentionBlockCache;
  readonly rows: number;
  readonly dropoutSeed: number | null;
}

/**
 * F(X2) = Dropout(ReformerAttention(X2)) for layer `layerIndex` of type `kind`.
 * `num_buckets: null` is resolved at this layer's first hashing forward and kept (HF
 * `_set_num_buckets`); `resolvedNumBuckets` exposes it for config.json.
 */
export class AttentionSublayer implements Sublayer {
  private attnConfig: AttentionConfig;

  constructor(
    private readonly be: Backend,
    config: AttentionConfig,
    readonly kind: AttnLayerType,
    readonly layerIndex: number,
    readonly weights: AttentionBlockWeights,
    readonly grads: AttentionBlockWeights,
    /** hidden_dropout_prob (applied after output.dense in training) */
    private readonly dropout: number,
    private readonly paperExact: boolean,
    /** `lsh_attention_probs_dropout_prob` or `local_attention_probs_dropout_prob` of this layer's kind (training only) */
    private readonly probsDropout = 0,
  ) {
    this.attnConfig = { ...config };
  }

  /** `num_buckets` this layer uses (null until resolved, or for local layers). */
  get resolvedNumBuckets(): NumBuckets | null {
    return this.kind === 'lsh' ? (this.attnConfig.num_buckets ?? null) : null;
  }

  /**
   * y += F(x) (src/attention/block.ts: local attention block by block, LSH head by head). What is kept
   * never changes the result: the cache (`keep`), or the LSH buckets (a replay never keeps them again;
   * otherwise kept in training, and in evaluation unless `call.captureBuckets` is false).
   */
  addForward(
    x: Float,
    y: Float,
    call: SublayerCall,
    replay: unknown,
    keep: boolean,
  ): { state: AttentionState; cache: AttentionSublayerCache | null } {
    const be = this.be;
    const rows = call.batch * call.seqLen;
    const n = rows * this.attnConfig.hidden_size;
    const prior = replay as AttentionState | null;
    const dropoutSeed = prior ? prior.dropoutSeed : call.training && this.dropout > 0 ? call.rng.u32() : null;
    const probsSeed = prior ? prior.probsSeed : call.training && this.probsDropout > 0 ? call.rng.u32() : null;
    const mode: AttentionKeep = keep
      ? 'cache'
      : !prior && this.kind === 'lsh' && (call.training || call.captureBuckets !== false)
        ? 'buckets'
        : 'none';
    const run = (xb: Float, target: Float) =>
      attentionBlockAddForward(
        be,
        this.attnConfig,
        this.kind,
        this.weights,
        xb,
        target,
        {
          batch: call.batch,
          seqLen: call.seqLen,
          attentionMask: call.attentionMask,
          rng: call.rng,
          rotations: prior ? null : (call.rotations?.[this.layerIndex] ?? null),
          buckets: prior ? prior.buckets : null,
          paperExact: this.paperExact,
          dropout: probsSeed !== null ? { prob: this.probsDropout, seed: probsSeed } : null,
          ...(call.numHashes ? { numHashes: call.numHashes } : {}),
          ...(call.hostBlockRows ? { hostBlockRows: call.hostBlockRows } : {}),
        },
        mode,
      );
    const forward = (): ReturnType<typeof run> => {
      // host-resident streams: the block reads x and updates y (or F aside) by row blocks, the same calls
      if (dropoutSeed === null) return run(x, y);
      // ReformerSelfOutput dropout acts on F(x) as a whole: compute it aside, mask it, add it
      const f = onBackend(be, y) ? be.floats(n) : hostFloats(be, n);
      const res = run(x, f);
      applyDropout(f, rows, this.attnConfig.hidden_size, this.dropout, dropoutSeed);
      streamAdd(be, y, y, f, n);
      return res;
    };
    // with a cache everything stays in the caller's scope; without, only the (plain) buckets survive
    const r = keep ? forward() : be.scope(forward);
    if (this.kind === 'lsh' && this.attnConfig.num_buckets == null && r.numBuckets !== null) {
      // HF _set_num_buckets: the first hashing forward fixes num_buckets for this layer
      this.attnConfig = { ...this.attnConfig, num_buckets: r.numBuckets };
    }
    const state: AttentionState = { buckets: prior ? prior.buckets : r.buckets, dropoutSeed, probsSeed };
    return { state, cache: keep ? { block: r.cache!, rows, dropoutSeed } : null };
  }

  /**
   * Reversible backward step (fused): X1 = Y1 − F(X2) in place of y, dX2 += ∂F/∂X2ᵀ·dY1, the block's
   * gradients accumulate (src/attention/block-reverse.ts). LSH replays and back-propagates one head at a
   * time, so the whole block cache (every head's projections, sort, per-round outputs and lse, the
   * attention output) never exists; the results are bit-identical to `addForward(keep)` into zeros,
   * the subtraction and `backward`, output dropout (ReformerSelfOutput) and attention-probability dropout
   * replayed from `state`. Local attention replays its block forward, then back-propagates head by head.
   * Host-resident x, y, dOut and dx are streamed by row blocks (backend/host-streams.ts).
   * @param x [rows, D] X2; y [rows, D] Y1 → X1; dOut [rows, D] dY1; dx [rows, D] dY2 → dX2.
   */
  reverseBackward(x: Float, y: Float, dOut: Float, dx: Float, call: SublayerCall, state: unknown): void {
    const be = this.be;
    const st = state as AttentionState;
    const rows = call.batch * call.seqLen;
    const D = this.attnConfig.hidden_size;
    const n = rows * D;
    const host = !onBackend(be, y);
    be.scope(() => {
      let g = dOut;
      if (st.dropoutSeed !== null) {
        // out = Dropout(block(x))  ⇒  dblock = mask ⊙ dOut (beside dOut, host-resident with it)
        g = onBackend(be, dOut) ? be.floats(n) : hostFloats(be, n);
        g.set(dOut.subarray(0, n));
        applyDropout(g, rows, D, this.dropout, st.dropoutSeed);
      }
      const f = host ? hostFloats(be, n) : be.floats(n); // F(x) replayed into zeros
      attentionBlockReverseBackward(be, this.attnConfig, this.kind, this.weights, this.grads, x, f, g, dx, {
        batch: call.batch,
        seqLen: call.seqLen,
        attentionMask: call.attentionMask,
        rng: call.rng,
        rotations: null,
        buckets: st.buckets,
        paperExact: this.paperExact,
        dropout: st.probsSeed !== null ? { prob: this.probsDropout, seed: st.probsSeed } : null,
        ...(call.numHashes ? { numHashes: call.numHashes } : {}),
        ...(call.hostBlockRows ? { hostBlockRows: call.hostBlockRows } : {}),
      });
      if (st.dropoutSeed !== null) {
        applyDropout(f, rows, D, this.dropout, st.dropoutSeed);
        // addForward adds the masked F into zeros (0 + f turns −0 into +0): the same here, block by block
        const zeros = be.floats(Math.min(n, 4096));
        for (let i = 0; i < n; i += zeros.length) {
          const m = Math.min(zeros.length, n - i);
          const fb = f.subarray(i, i + m);
          streamAdd(be, fb, zeros.subarray(0, m), fb, m);
        }
      }
      streamAxpy(be, y, -1, f, n); // y now holds X1
    });
  }

  backward(cache: unknown, dOut: Float, dx: Float): void {
    const c = cache as AttentionSublayerCache;
    const be = this.be;
    const D = this.attnConfig.hidden_size;
    be.scope(() => {
      let g = dOut;
      if (c.dropoutSeed !== null) {
        // out = Dropout(block(x))  ⇒  dblock = mask ⊙ dOut
        g = be.floats(c.rows * D);
        g.set(dOut.subarray(0, c.rows * D));
        applyDropout(g, c.rows, D, this.dropout, c.dropoutSeed);
      }
      attentionBlockBackward(be, this.weights, this.grads, c.block, g, dx);
    });
  }
}
