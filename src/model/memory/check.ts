/**
 * The refusal of a run that cannot fit: the estimate (estimate.ts) against a limit, with the numbers and
 * the ways out (a shorter sequence, a smaller batch, the reversible backward, evaluation, one thread);
 * likewise for the cache of cached decoding (decode.ts).
 */
import type { Backend } from '../../backend/backend.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { ResourceError } from '../../errors.js';
import { numberArg, stringArg } from '../../util/args.js';
import { chunkLengthRule } from '../lengths.js';
import { decodeCacheBytes } from './decode.js';
import type { HostStreamsOption } from '../../backend/host-streams.js';
import { estimateMemory, type MemoryEstimate, type MemoryEstimateOptions } from './estimate.js';

/** Formats bytes as GiB with two decimals (MiB below 1 GiB). */
export function formatBytes(bytes: number): string {
  const gib = bytes / 2 ** 30;
  return gib >= 1 ? `${gib.toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** The largest multiple of `step` ≤ `upTo` whose estimate fits `limit` (0 if none). */
function largestFitting(cfg: ReformerConfig, o: MemoryEstimateOptions, limit: number, step: number, upTo: number): number {
  let lo = 0;
  let hi = Math.floor(upTo / step);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (estimateMemory(cfg, { ...o, seqLen: mid * step }).bytes <= limit) lo = mid;
    else hi = mid - 1;
  }
  return lo * step;
}

/** What `checkBackendMemory` checks besides the estimate's options: where the streams may live. */
export interface BackendMemoryOptions extends Omit<MemoryEstimateOptions, 'threads' | 'hostStreams'> {
  /** `ReformerOptions.hostStreams`: 'never' (default here), 'always', or 'auto' (host only when the arena path does not fit). */
  readonly hostStreams?: HostStreamsOption;
  /** Host path: the most bytes WASM + host arrays may take together (`ReformerOptions.hostMemoryBytes`); undefined = no check. */
  readonly hostBudgetBytes?: number;
  /** How refusals name the limit (default: the backend's 32-bit WebAssembly memory). */
  readonly limitName?: string;
  /** How refusals name the host-streams setting (default `options.hostStreams`; the CLI: its flag). */
  readonly hostStreamsName?: string;
}

/**
 * `checkMemory` against a backend's hard limit (`Backend.maxBufferBytes`, 4 GiB for WASM), with the
 * backend's thread count, and the choice of where the residual streams live (issue 17): the arena, or
 * (`hostStreams` 'always', or 'auto' when the arena path's estimate exceeds the limit) host arrays,
 * whose WASM part must fit the limit and whose total must fit `hostBudgetBytes`. Nothing to check for a
 * backend without a limit (host streams there only with 'always': they are ordinary buffers). Used by
 * the models before they allocate anything.
 * @returns `hostStreams`: true when the run should keep its streams in host memory.
 * @throws ResourceError as `checkMemory` (for the path that would run: the arena path's numbers when
 *   host streams are off or cannot be used, else the host path's, naming the longest length that fits).
 */
export function checkBackendMemory(
  backend: Pick<Backend, 'name' | 'maxBufferBytes' | 'threads'>,
  cfg: ReformerConfig,
  options: BackendMemoryOptions,
): { hostStreams: boolean } {
  const { hostStreams: choice = 'never', hostBudgetBytes, limitName, hostStreamsName = 'options.hostStreams', ...rest } = options;
  const hostPossible = rest.mode === 'forward' || rest.reversible !== false;
  const limit = backend.maxBufferBytes;
  if (limit === undefined) return { hostStreams: choice === 'always' && hostPossible };
  const est = { ...rest, threads: backend.threads ?? 1 };
  const what = limitName ?? `the ${backend.name} backend's memory limit of one 32-bit WebAssembly memory`;
  if (choice === 'never' || !hostPossible) {
    checkMemory(cfg, est, limit, what);
    return { hostStreams: false };
  }
  if (choice === 'always') {
    checkHostMemory(cfg, { ...est, hostStreams: true }, limit, hostBudgetBytes, what);
    return { hostStreams: true };
  }
  if (estimateMemory(cfg, est).bytes <= limit) return { hostStreams: false };
  const host = { ...est, hostStreams: true };
  if (hostFits(estimateMemory(cfg, host), limit, hostBudgetBytes)) return { hostStreams: true };
  // neither fits: the arena path's refusal, with the longest length the host path takes on this machine
  const fitLen = hostFitLength(cfg, host, limit, hostBudgetBytes);
  try {
    checkMemory(cfg, est, limit, what);
  } catch (e) {
    if (!(e instanceof ResourceError)) throw e;
    throw new ResourceError(
      `${e.message}${fitLen > 0 ? `; with host-resident streams (${hostStreamsName}), a sequence length of at most ${fitLen} fits this machine` : ''}`,
    );
  }
  return { hostStreams: false };
}

function hostFits(e: MemoryEstimate, limitBytes: number, hostBudgetBytes: number | undefined): boolean {
  return e.bytes <= limitBytes && (hostBudgetBytes === undefined || e.bytes + e.hostBytes <= hostBudgetBytes);
}

/** The longest multiple of the chunk-length lcm ≤ options.seqLen whose host-path estimate fits (0 if none). */
function hostFitLength(
  cfg: ReformerConfig,
  options: MemoryEstimateOptions,
  limitBytes: number,
  hostBudgetBytes: number | undefined,
): number {
  const step = Math.max(1, chunkLengthRule(cfg).lcm);
  let lo = 0;
  let hi = Math.floor(options.seqLen / step);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (hostFits(estimateMemory(cfg, { ...options, seqLen: mid * step }), limitBytes, hostBudgetBytes)) lo = mid;
    else hi = mid - 1;
  }
  return lo * step;
}

/**
 * The host path's refusal: ResourceError if its WASM part exceeds `limitBytes` or WASM + host arrays
 * exceed `hostBudgetBytes` (when given), naming the longest sequence length that fits both.
 * @throws ResourceError as described; ConfigError for arguments `estimateMemory` refuses.
 */
export function checkHostMemory(
  cfg: ReformerConfig,
  options: MemoryEstimateOptions,
  limitBytes: number,
  hostBudgetBytes: number | undefined,
  what: string,
): MemoryEstimate {
  const est = estimateMemory(cfg, options);
  if (hostFits(est, limitBytes, hostBudgetBytes)) return est;
  const fitLen = hostFitLength(cfg, options, limitBytes, hostBudgetBytes);
  const kind = options.mode === 'train' ? 'a training step' : 'a forward';
  const budget = hostBudgetBytes !== undefined ? ` and ${formatBytes(hostBudgetBytes)} of host memory in all` : '';
  throw new ResourceError(
    `${kind} of batch ${options.batch} × ${options.seqLen} tokens with host-resident streams needs about ` +
      `${formatBytes(est.bytes)} of WASM memory (${est.bytes} bytes, peak at ${est.peakAt}) plus ${formatBytes(est.hostBytes)} ` +
      `of host arrays, more than ${what} (${formatBytes(limitBytes)})${budget}; ` +
      (fitLen > 0 ? `use a sequence length of at most ${fitLen} on this machine` : 'use a smaller model'),
  );
}

/**
 * Throws ResourceError if the estimated peak of this run exceeds `limitBytes` (`what` names the limit,
 * e.g. 'the 4 GiB WASM memory'), with the numbers and ways out: the longest sequence and the largest
 * batch that fit, evaluation mode, the reversible backward, fewer threads.
 * @throws ConfigError for arguments `estimateMemory` refuses, a `limitBytes` that is not a number or a
 *   `what` that is not a string.
 */
export function checkMemory(cfg: ReformerConfig, options: MemoryEstimateOptions, limitBytes: number, what: string): MemoryEstimate {
  numberArg('checkMemory', 'limitBytes', limitBytes);
  stringArg('checkMemory', 'what', what);
  const est = estimateMemory(cfg, options);
  if (est.bytes <= limitBytes) return est;
  const { lcm } = chunkLengthRule(cfg);
  const step = options.mode === 'train' ? lcm : Math.max(1, lcm);
  const ways: string[] = [];
  const fitLen = largestFitting(cfg, { ...options, batch: options.batch }, limitBytes, step, options.seqLen);
  if (fitLen > 0) {
    // training with axial position embeddings takes exactly product(axial_pos_shape) tokens
    const axial = options.mode === 'train' && cfg.axial_pos_embds ? ' (with axial_pos_shape changed to factors of it)' : '';
    ways.push(`a sequence length of at most ${fitLen}${axial}`);
  }
  if (options.batch > 1) {
    let b = options.batch - 1;
    while (b > 0 && estimateMemory(cfg, { ...options, batch: b }).bytes > limitBytes) b--;
    if (b > 0) ways.push(`a batch of at most ${b}`);
  }
  if (options.mode === 'train') {
    if (options.reversible === false && estimateMemory(cfg, { ...options, reversible: true }).bytes <= limitBytes)
      ways.push('the reversible backward (options.reversible: true)');
    const fwd = estimateMemory(cfg, { ...options, mode: 'forward' });
    if (fwd.bytes <= limitBytes) ways.push(`evaluation only (a forward needs ${formatBytes(fwd.bytes)})`);
  }
  if ((options.threads ?? 1) > 1 && estimateMemory(cfg, { ...options, threads: 1 }).bytes <= limitBytes) ways.push('one thread');
  const kind = options.mode === 'train' ? `a training step${options.reversible === false ? ' (store-activations)' : ''}` : 'a forward';
  throw new ResourceError(
    `${kind} of batch ${options.batch} × ${options.seqLen} tokens needs about ${formatBytes(est.bytes)} ` +
      `(${est.bytes} bytes, peak at ${est.peakAt}; parameters ${formatBytes(est.parameterBytes)}), more than ${what} ` +
      `(${formatBytes(limitBytes)}); ${ways.length > 0 ? `use ${ways.join(', or ')}` : 'use a smaller model'}`,
  );
}

/**
 * Refuses a cache of `positions` positions that exceeds `limitBytes` (ResourceError with the numbers,
 * the longest context that fits and the way out).
 */
export function checkDecodeCache(cfg: ReformerConfig, positions: number, limitBytes: number, f64 = false): void {
  const bytes = decodeCacheBytes(cfg, positions, f64);
  if (bytes <= limitBytes) return;
  const per = decodeCacheBytes(cfg, 1, f64) - decodeCacheBytes(cfg, 0, f64);
  const fit = per > 0 ? Math.max(0, Math.floor((limitBytes - decodeCacheBytes(cfg, 0, f64)) / per)) : 0;
  throw new ResourceError(
    `the decode cache for ${positions} positions needs about ${formatBytes(bytes)} (${bytes} bytes), more than its limit of ` +
      `${formatBytes(limitBytes)}; use a context of at most ${fit} tokens (window / maxLength), raise maxCacheBytes, or generate without the cache (useCache: false)`,
  );
}
