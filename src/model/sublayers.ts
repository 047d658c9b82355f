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
 */
import type { Backend, Float } from '../backend/backend.js';
import { attentionBlockBackward, attentionBlockForward, type AttentionBlockCache, type AttentionBlockWeights } from '../attention/block.js';
import type { AttentionConfig, NumBuckets } from '../attention/config.js';
import type { AttnLayerType } from '../config/fields.js';
import { applyDropout } from '../nn/dropout.js';
import { attentionBlockAddForward } from '../attention/lean.js';
import {
  feedForwardAddForward,
  feedForwardBackward,
  feedForwardForward,
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

  forward(x: Float, out: Float, call: SublayerCall, replay: unknown, keep: boolean): { state: FeedForwardState; cache: FeedForwardCache } {
    let state = replay as FeedForwardState | null;
    if (!state) {
      // two dropout sites (after dense, after output), drawn only when dropout is active
      const seeds: FeedForwardSeeds = call.training && this.spec.dropout > 0 ? [call.rng.u32(), call.rng.u32()] : null;
      state = { seeds };
    }
    const cache = feedForwardForward(this.be, this.spec, this.weights, x, call.batch * call.seqLen, out, state.seeds, keep);
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

  /** y += G(x) in row blocks (evaluation: no dropout, so no seeds are drawn, as in `forward`). */
  addForward(x: Float, y: Float, call: SublayerCall): { state: FeedForwardState } {
    const seeds: FeedForwardSeeds = call.training && this.spec.dropout > 0 ? [call.rng.u32(), call.rng.u32()] : null;
    feedForwardAddForward(this.be, this.spec, this.weights, x, call.batch * call.seqLen, y, seeds);
    return { state: { seeds } };
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

  forward(
    x: Float,
    out: Float,
    call: SublayerCall,
    replay: unknown,
    keep: boolean,
  ): { state: AttentionState; cache: AttentionSublayerCache | null } {
    const be = this.be;
    const rows = call.batch * call.seqLen;
    const D = this.attnConfig.hidden_size;
    const prior = replay as AttentionState | null;
    const dropoutSeed = prior ? prior.dropoutSeed : call.training && this.dropout > 0 ? call.rng.u32() : null;
    const probsSeed = prior ? prior.probsSeed : call.training && this.probsDropout > 0 ? call.rng.u32() : null;
    const run = (): AttentionBlockCache => {
      const r = attentionBlockForward(be, this.attnConfig, this.kind, this.weights, x, {
        batch: call.batch,
        seqLen: call.seqLen,
        attentionMask: call.attentionMask,
        rng: call.rng,
        rotations: prior ? null : (call.rotations?.[this.layerIndex] ?? null),
        buckets: prior ? prior.buckets : null,
        paperExact: this.paperExact,
        dropout: probsSeed !== null ? { prob: this.probsDropout, seed: probsSeed } : null,
        ...(call.numHashes ? { numHashes: call.numHashes } : {}),
      });
      if (this.kind === 'lsh' && this.attnConfig.num_buckets == null && r.cache.numBuckets !== null) {
        // HF _set_num_buckets: the first hashing forward fixes num_buckets for this layer
        this.attnConfig = { ...this.attnConfig, num_buckets: r.cache.numBuckets };
      }
      out.set(r.out.subarray(0, rows * D));
      if (dropoutSeed !== null) applyDropout(out, rows, D, this.dropout, dropoutSeed); // ReformerSelfOutput dropout
      return r.cache;
    };
    if (keep) {
      const block = run();
      return { state: { buckets: block.buckets, dropoutSeed, probsSeed }, cache: { block, rows, dropoutSeed } };
    }
    // Not kept: run inside a scope so the block's temporaries die here; only the buckets survive.
    let buckets: Int32Array | null = null;
    be.scope(() => {
      const block = run();
      if (block.buckets && !prior) {
        buckets = block.buckets.slice(); // plain copy: the state must outlive the scope
      }
    });
    return { state: { buckets: prior ? prior.buckets : buckets, dropoutSeed, probsSeed }, cache: null };
  }

  /**
   * y += F(x) in evaluation mode, streamed (src/attention/lean.ts): local attention block by block,
   * LSH head by head; the buckets are kept in the state only if `call.captureBuckets` (default true).
   * Training calls (dropout) and paper-exact attention take the cached forward into a temporary.
   */
  addForward(x: Float, y: Float, call: SublayerCall): { state: AttentionState } {
    const be = this.be;
    const n = call.batch * call.seqLen * this.attnConfig.hidden_size;
    if (call.training || this.paperExact) {
      return be.scope(() => {
        const out = be.floats(n);
        const { state } = this.forward(x, out, call, null, false);
        be.add(y, y, out, n);
        return { state };
      });
    }
    const r = attentionBlockAddForward(be, this.attnConfig, this.kind, this.weights, x, y, {
      batch: call.batch,
      seqLen: call.seqLen,
      attentionMask: call.attentionMask,
      rng: call.rng,
      rotations: call.rotations?.[this.layerIndex] ?? null,
      captureBuckets: call.captureBuckets ?? true,
      ...(call.numHashes ? { numHashes: call.numHashes } : {}),
    });
    if (this.kind === 'lsh' && this.attnConfig.num_buckets == null && r.numBuckets !== null) {
      this.attnConfig = { ...this.attnConfig, num_buckets: r.numBuckets }; // HF _set_num_buckets
    }
    return { state: { buckets: r.buckets, dropoutSeed: null, probsSeed: null } };
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
