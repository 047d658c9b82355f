/**
 * Messages between the page (main thread, web/src/client.ts) and the compute worker
 * (web/src/worker/compute.worker.ts). Every request carries an id; the worker answers with any number
 * of `progress` / `token` / `step` events for that id, then one `result` or `error`. Everything is
 * plain data (structured clone); typed arrays travel as copies.
 */
import type { AttentionQualityRow, StepInfo, ValidationInfo } from '../../src/index.js';
import type { CheckResult, GenerationCheck } from './lib/checks.js';
import type { BackendChoice, BackendInfo } from './lib/engine.js';
import type { GenerateRequest } from './lib/generation.js';
import type { LshPicture, LshRequest, QueryView } from './lib/lsh-view.js';
import type { TrainRequest } from './lib/training.js';
import type { Throughput, ThroughputRequest } from './lib/throughput.js';

/** A model summary for the page. `modelUrl` fields: the folder of the shipped model's files (ending in '/'). */
export interface ModelInfo {
  readonly source: string;
  readonly parameters: number;
  readonly layers: readonly string[];
  readonly hiddenSize: number;
  readonly heads: number;
  readonly maxContext: number;
  /** Indices of the LSH layers. */
  readonly lshLayers: readonly number[];
  readonly numHashes: number;
}

export type Request =
  | { kind: 'init'; choice: BackendChoice }
  | { kind: 'load-shipped'; modelUrl: string }
  | { kind: 'load-files'; name: string; config: Uint8Array; safetensors: Uint8Array }
  | { kind: 'use-trained' }
  | { kind: 'generate'; request: GenerateRequest }
  | { kind: 'lsh'; text: string; request: LshRequest }
  | { kind: 'lsh-report'; text: string; layer: number; seed: number; numHashesList: number[] }
  | { kind: 'lsh-query'; head: number; position: number }
  | { kind: 'train'; request: TrainRequest }
  | { kind: 'download' }
  | { kind: 'checks'; seed: number; modelUrl: string }
  | { kind: 'throughput'; request: ThroughputRequest; modelUrl: string }
  | { kind: 'stop' };

/** What each request kind resolves to. */
export interface Results {
  init: BackendInfo;
  'load-shipped': ModelInfo;
  'load-files': ModelInfo;
  'use-trained': ModelInfo;
  generate: { tokens: number; tokensPerSecond: number; text: string; stopped: boolean };
  lsh: LshPicture;
  'lsh-report': AttentionQualityRow[];
  'lsh-query': QueryView;
  train: { step: number; stoppedBy: string; bitsPerByte: number | null; validation: ValidationInfo | null };
  download: { config: Uint8Array; safetensors: Uint8Array };
  checks: { kernels: CheckResult[]; generation: GenerationCheck; backend: BackendInfo };
  throughput: Throughput;
  stop: { stopped: boolean };
}

export type Event =
  | { kind: 'progress'; text: string; fraction: number | null }
  | { kind: 'token'; text: string; count: number; tokensPerSecond: number }
  | { kind: 'step'; info: StepInfo }
  | { kind: 'validation'; info: ValidationInfo };

export type ToWorker = { id: number; request: Request };
export type FromWorker =
  | { id: number; type: 'event'; event: Event }
  | { id: number; type: 'result'; result: unknown }
  | { id: number; type: 'error'; name: string; message: string };
