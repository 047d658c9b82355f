/**
 * Live training on the page: a tiny byte-level Reformer LM trained on pasted text with the library's
 * `Trainer` (AdamW, warm-up then cosine decay, validation on the last 10% when the text is long
 * enough), step by step with the loss reported to the caller; the result is an HF checkpoint folder
 * as bytes (`lmCheckpointToBytes`: config.json + model.safetensors) that `lmFromCheckpoint` and
 * transformers' `ReformerModelWithLMHead.from_pretrained` load.
 *
 * The model is the `tiny` preset (2 layers local/LSH, hidden 64) at 256 tokens (axial 16 × 16, chunks
 * of 32, 16 buckets: 2·L/chunk as the paper suggests), so that a step takes tens of milliseconds.
 */
import {
  ByteTokenizer,
  type CheckpointFiles,
  ConfigError,
  lmCheckpointToBytes,
  preset,
  type ReformerConfig,
  ReformerModelWithLMHead,
  splitTokens,
  type Backend,
  type StepInfo,
  Trainer,
  type TrainResult,
  type ValidationInfo,
} from '../../../src/index.js';

/** Shape of the live-training runs. */
export const LIVE_TRAINING = Object.freeze({ seqLen: 256, batch: 4, validationFraction: 0.1, evalEvery: 50, evalWindows: 4 });

/** The live-training model's config. */
export function liveTrainingConfig(): ReformerConfig {
  return preset('tiny', {
    axial_pos_shape: [16, 16],
    max_position_embeddings: LIVE_TRAINING.seqLen,
    lsh_attn_chunk_length: 32,
    local_attn_chunk_length: 32,
    num_buckets: 16,
  }).config;
}

export interface TrainRequest {
  text: string;
  /** Steps of `LIVE_TRAINING.batch` × `seqLen` tokens (1 … 100000). */
  steps: number;
  /** Peak learning rate. */
  lr: number;
  /** Initialisation and batch-sampler seed. */
  seed: number;
}

export interface TrainCallbacks {
  onStep?(info: StepInfo): void | Promise<void>;
  onValidation?(info: ValidationInfo): void | Promise<void>;
  /** Checked between steps. */
  shouldStop?(): boolean;
}

/**
 * Trains a fresh model on `request.text`.
 * @throws ConfigError for text shorter than one window plus one byte, or bad steps / lr
 */
export async function trainLive(
  backend: Backend,
  request: TrainRequest,
  callbacks: TrainCallbacks = {},
): Promise<{ model: ReformerModelWithLMHead; result: TrainResult; validation: boolean }> {
  const { seqLen, batch } = LIVE_TRAINING;
  if (!Number.isSafeInteger(request.steps) || request.steps < 1 || request.steps > 100_000) {
    throw new ConfigError('steps', `must be an integer in [1, 100000], got ${request.steps}`);
  }
  if (!(request.lr > 0 && request.lr < 1)) throw new ConfigError('lr', `must be in (0, 1), got ${request.lr}`);
  const tokens = new ByteTokenizer().encode(request.text);
  if (tokens.length < seqLen + 1) {
    throw new ConfigError('text', `holds ${tokens.length} bytes; training windows are ${seqLen} bytes: paste at least ${seqLen + 1}`);
  }
  const validation =
    tokens.length * LIVE_TRAINING.validationFraction >= seqLen && tokens.length * (1 - LIVE_TRAINING.validationFraction) >= seqLen;
  const data = splitTokens(tokens, { validationFraction: validation ? LIVE_TRAINING.validationFraction : 0, seqLen });
  const model = new ReformerModelWithLMHead(backend, liveTrainingConfig(), { seed: request.seed });
  const trainer = new Trainer(model, data, {
    batch,
    seqLen,
    steps: request.steps,
    lr: request.lr,
    warmupSteps: Math.min(30, Math.floor(request.steps / 10)),
    seed: request.seed,
    evalEvery: validation ? LIVE_TRAINING.evalEvery : 0,
    evalWindows: LIVE_TRAINING.evalWindows,
  });
  const result = await trainer.run({
    ...(callbacks.onStep ? { onStep: callbacks.onStep } : {}),
    ...(callbacks.onValidation ? { onValidation: callbacks.onValidation } : {}),
    ...(callbacks.shouldStop ? { shouldStop: callbacks.shouldStop } : {}),
  });
  return { model, result, validation };
}

/** The HF checkpoint folder of a model, as bytes. */
export function checkpointFiles(model: ReformerModelWithLMHead, step: number): CheckpointFiles {
  return lmCheckpointToBytes(model, { metadata: { 'reformer_ts.trained_in': 'browser', 'reformer_ts.step': String(step) } });
}
