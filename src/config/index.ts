/** Configuration: HF `ReformerConfig` (fields, defaults, validation), our options, CLI presets. */
export { ReformerConfig } from './reformer-config.js';
export { REFORMER_DEFAULTS } from './fields.js';
export type { AttnLayerType, HiddenAct, ReformerConfigFields, ReformerConfigInput } from './fields.js';
export { bucketCount, resolveNumBuckets, type NumBuckets } from './buckets.js';
export { DEFAULT_OPTIONS, resolveOptions } from './options.js';
export type { ReformerOptions } from './options.js';
export { DEFAULT_PRESET, PRESET_NAMES, preset } from './presets.js';
export { legacyConfigNotes } from './legacy-keys.js';
export type { Preset, PresetName } from './presets.js';
