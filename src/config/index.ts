/** Configuration: HF `ReformerConfig` (fields, defaults, validation), our options, CLI presets. */
export {
  ReformerConfig,
  REFORMER_DEFAULTS,
  REFORMER_FIELD_NAMES,
  checkSequenceLength,
  checkCausalLM,
  resolveNumBuckets,
  bucketCount,
} from './reformer-config.js';
export type { AttnLayerType, HiddenAct, NumBuckets, ReformerConfigFields, ReformerConfigInput } from './reformer-config.js';
export { DEFAULT_OPTIONS, resolveOptions } from './options.js';
export type { ReformerOptions } from './options.js';
export { DEFAULT_PRESET, PRESET_NAMES, preset } from './presets.js';
export { LEGACY_CONFIG_KEYS, isLegacyConfigKey, legacyConfigNotes } from './legacy-keys.js';
export type { Preset, PresetName } from './presets.js';
