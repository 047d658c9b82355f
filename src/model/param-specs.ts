/**
 * The encoder's parameters under HF's `state_dict()` names, with shapes and HF's initialisation
 * (`ReformerPreTrainedModel._init_weights`).
 */
import type { ReformerConfig } from '../config/reformer-config.js';
import { stringArg } from '../util/args.js';
import type { ParamSpec } from './parameters.js';
import { requireReformerConfig } from './validate-inputs.js';

/**
 * HF parameter names of the encoder (prefix '' for `ReformerModel`, 'reformer.' inside the LM).
 * @throws ConfigError unless `config` is a `ReformerConfig` or `prefix` a string.
 */
export function reformerParamSpecs(config: ReformerConfig, prefix = ''): ParamSpec[] {
  requireReformerConfig(config, 'reformerParamSpecs');
  stringArg('reformerParamSpecs', 'prefix', prefix);
  const D = config.hidden_size;
  const all = config.num_attention_heads * config.attention_head_size;
  const F = config.feed_forward_size;
  const normal = { kind: 'normal', std: config.initializer_range } as const;
  const ones = { kind: 'ones' } as const;
  const zeros = { kind: 'zeros' } as const;
  const specs: ParamSpec[] = [{ name: `${prefix}embeddings.word_embeddings.weight`, shape: [config.vocab_size, D], init: normal }];
  if (config.axial_pos_embds) {
    const k = config.axial_pos_shape.length;
    config.axial_pos_shape.forEach((n, axis) => {
      const shape = Array<number>(k).fill(1);
      shape[axis] = n;
      specs.push({
        name: `${prefix}embeddings.position_embeddings.weights.${axis}`,
        shape: [...shape, config.axial_pos_embds_dim[axis]!],
        init: { kind: 'normal', std: config.axial_norm_std },
      });
    });
  } else {
    specs.push({
      name: `${prefix}embeddings.position_embeddings.embedding.weight`,
      shape: [config.max_position_embeddings, D],
      init: normal,
    });
  }
  config.attn_layers.forEach((type, i) => {
    const p = `${prefix}encoder.layers.${i}.`;
    specs.push({ name: `${p}attention.layer_norm.weight`, shape: [D], init: ones });
    specs.push({ name: `${p}attention.layer_norm.bias`, shape: [D], init: zeros });
    const proj = type === 'lsh' ? ['query_key', 'value'] : ['query', 'key', 'value'];
    for (const w of proj) specs.push({ name: `${p}attention.self_attention.${w}.weight`, shape: [all, D], init: normal });
    specs.push({ name: `${p}attention.output.dense.weight`, shape: [D, all], init: normal });
    specs.push({ name: `${p}feed_forward.layer_norm.weight`, shape: [D], init: ones });
    specs.push({ name: `${p}feed_forward.layer_norm.bias`, shape: [D], init: zeros });
    specs.push({ name: `${p}feed_forward.dense.dense.weight`, shape: [F, D], init: normal });
    specs.push({ name: `${p}feed_forward.dense.dense.bias`, shape: [F], init: zeros });
    specs.push({ name: `${p}feed_forward.output.dense.weight`, shape: [D, F], init: normal });
    specs.push({ name: `${p}feed_forward.output.dense.bias`, shape: [D], init: zeros });
  });
  specs.push({ name: `${prefix}encoder.layer_norm.weight`, shape: [2 * D], init: ones });
  specs.push({ name: `${prefix}encoder.layer_norm.bias`, shape: [2 * D], init: zeros });
  return specs;
}
