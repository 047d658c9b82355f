/**
 * Choosing the optimizer of a run (`TrainOptions.optimizer`, `reformer train --optimizer`): its name,
 * its options object, and the instance for a model (AdamW, optimizer.ts; Adafactor, adafactor.ts).
 */
import { ConfigError } from '../errors.js';
import type { CausalLanguageModel } from '../model/language-model.js';
import { describeValue } from '../util/args.js';
import { Adafactor, type AdafactorConfig, type AdafactorOptions } from './adafactor.js';
import { AdamW, type AdamWConfig, type AdamWOptions, type Optimizer, type OptimizerName } from './optimizer.js';

/** Which optimizer and its hyper-parameters: AdamW when `name` is absent. */
export type OptimizerOptions = ({ name?: 'adamw' } & AdamWOptions) | ({ name: 'adafactor' } & AdafactorOptions);

/** A resolved optimizer config as stored in `trainer_state.json` (no `name`: AdamW, as written before Adafactor). */
export type StoredOptimizerConfig = ({ name?: 'adamw' } & AdamWConfig) | ({ name: 'adafactor' } & AdafactorConfig);

/** The optimizers `TrainOptions.optimizer.name` (and `reformer train --optimizer`) accept. */
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adamw', 'adafactor'];

/** For messages: `AdamW`, `Adafactor`. */
export const OPTIMIZER_LABELS: Record<OptimizerName, string> = { adamw: 'AdamW', adafactor: 'Adafactor' };

/**
 * The optimizer's name in options (an object or the name alone) or a stored config (absent: `adamw`).
 * @throws ConfigError('optimizer') for another name.
 */
export function optimizerName(o: string | { readonly name?: unknown } | null | undefined): OptimizerName {
  const name = typeof o === 'string' ? o : (o?.name ?? 'adamw');
  if (!OPTIMIZER_NAMES.includes(name as OptimizerName)) {
    throw new ConfigError(
      'optimizer',
      `name must be one of ${OPTIMIZER_NAMES.map((x) => `"${x}"`).join(', ')}, got ${JSON.stringify(name)}`,
    );
  }
  return name as OptimizerName;
}

/**
 * `TrainOptions.optimizer` as an options object: absent → `{}` (AdamW), a name → `{ name }`.
 * @throws ConfigError('optimizer') for an unknown name or a value that is neither a name nor an object.
 */
function optimizerOptions(options: OptimizerName | OptimizerOptions | undefined): OptimizerOptions {
  if (options === undefined) return {};
  if (typeof options === 'string') return { name: optimizerName(options) } as OptimizerOptions;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    const got = options === null ? 'null' : Array.isArray(options) ? 'an array' : `${typeof options} ${String(options)}`;
    throw new ConfigError(
      'optimizer',
      `must be an optimizer name (${OPTIMIZER_NAMES.map((x) => `"${x}"`).join(' or ')}) or an object { name, ...hyper-parameters } such as { name: 'adafactor', beta1: 0.9 }, got ${got}`,
    );
  }
  return options;
}

/**
 * The optimizer of `options` for `model`: AdamW over the flat buffer, or Adafactor over the model's
 * tensors (`paramTensors`; one 1-D tensor if the model does not describe them).
 * @param options `{ name?, ...hyper-parameters }`, or just the name (`'adamw'`, `'adafactor'`: its defaults).
 * @throws ConfigError naming an unknown optimizer, a value that is neither a name nor an object, an
 *   option of the other optimizer, or a value out of range.
 */
export function createOptimizer(
  model: Pick<CausalLanguageModel, 'backend' | 'params' | 'paramTensors'>,
  optimizer: OptimizerName | OptimizerOptions = {},
): Optimizer {
  if (model === null || typeof model !== 'object' || !(model.backend !== null && typeof model.backend === 'object')) {
    throw new ConfigError('model', `createOptimizer needs a model (a ReformerModelWithLMHead or a task head), got ${describeValue(model)}`);
  }
  const options = optimizerOptions(optimizer);
  const name = optimizerName(options);
  // the constructors refuse keys that are not theirs (an option of the other optimizer, a typo)
  const { name: _name, ...rest } = options;
  if (name === 'adafactor') return new Adafactor(model.backend, model.paramTensors ?? model.params.length, rest as AdafactorOptions);
  return new AdamW(model.backend, model.params.length, rest as AdamWOptions);
}
