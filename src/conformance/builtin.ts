/**
 * The handler tables every default registry starts with. To make a new component part of
 * `reformer conformance` and of the fixture test, append its table here (see ./registry.ts).
 */
import { attentionConformanceHandlers } from './attention-handlers.js';
import { optionsArg } from '../util/args.js';
import { modelConformanceHandlers } from '../model/conformance.js';
import { headConformanceHandlers } from '../model/heads/conformance.js';
import { ConformanceRegistry } from './registry.js';
import type { ConformanceHandler } from './types.js';

/** The built-in handler tables (attention components, model components, task heads), in registration order. */
export const BUILTIN_HANDLER_TABLES: ReadonlyArray<Readonly<Record<string, ConformanceHandler>>> = [
  attentionConformanceHandlers, // LSHSelfAttention, LocalSelfAttention, ReformerAttention
  modelConformanceHandlers, // ChunkReformerFeedForward, Axial/PositionEmbeddings, ReformerLayer, ReformerModel, ReformerModelWithLMHead
  headConformanceHandlers, // ReformerForMaskedLM, ReformerForSequenceClassification, ReformerForQuestionAnswering
];

/**
 * A registry with the built-in handlers, plus `extra` tables (an extra entry replaces a built-in
 * one of the same component).
 */
export function createConformanceRegistry(...extra: ReadonlyArray<Readonly<Record<string, ConformanceHandler>>>): ConformanceRegistry {
  extra.forEach((table, i) => {
    optionsArg(`createConformanceRegistry: table ${i}`, table, '{ MyComponent: (ctx) => ({ tensors: {} }) }', false);
  });
  const registry = new ConformanceRegistry();
  for (const table of BUILTIN_HANDLER_TABLES) registry.registerAll(table);
  for (const table of extra) registry.registerAll(table, { replace: true });
  return registry;
}
