/** HF conformance: run fixture cases through registered handlers and compare with HF's numbers. */
export { runConformance, formatConformanceReport, DEFAULT_CONFORMANCE_RTOL } from './runner.js';
export { ConformanceRegistry } from './registry.js';
export { createConformanceRegistry, BUILTIN_HANDLER_TABLES } from './builtin.js';
export { SkipCase } from './types.js';
export type {
  CaseReport,
  CaseStatus,
  ConformanceCaseInput,
  ConformanceCheck,
  ConformanceContext,
  ConformanceHandler,
  ConformanceOptions,
  ConformanceOutputs,
  ConformanceReference,
  ConformanceReport,
  FixtureJson,
  TensorComparison,
} from './types.js';
