/**
 * Handlers by fixture `component` (the HF module a case exercises).
 *
 * Registering a new component (e.g. from src/model/):
 *
 * ```ts
 * // src/model/conformance.ts
 * import type { ConformanceHandler } from '../conformance/types.js';
 * export const modelConformanceHandlers: Record<string, ConformanceHandler> = {
 *   ChunkReformerFeedForward: (ctx) => {
 *     const x = ctx.floats('in:hidden_states');          // a buffer of ctx.be
 *     ...                                                 // run our implementation
 *     return { tensors: { 'out:chunk0': y0, 'out:chunked': y1 } };   // fixture names, fixture layout
 *   },
 * };
 * ```
 *
 * then add the table to `BUILTIN_HANDLER_TABLES` in ./builtin.ts (so `reformer conformance` and the
 * fixture test pick it up), or pass `createConformanceRegistry(modelConformanceHandlers)` /
 * `registry.registerAll(...)` explicitly. The runner compares every `tolerance.checked_tensors` entry
 * (it must be returned) and every other returned tensor that the fixture holds.
 */
import { UsageError } from '../errors.js';
import type { ConformanceHandler } from './types.js';

/**
 * Handlers by fixture `component` (see the file header): `register(component, handler)`,
 * `registerAll(table)`, `get`, `has`, `components()`. Pass one to `runConformance(cases, { registry })`.
 */
export class ConformanceRegistry {
  private readonly handlers = new Map<string, ConformanceHandler>();

  /**
   * Registers `handler` for `component`.
   * @throws UsageError if the component already has a handler (pass `replace: true` to override).
   */
  register(component: string, handler: ConformanceHandler, options: { replace?: boolean } = {}): this {
    if (typeof component !== 'string' || component === '') {
      throw new UsageError(`conformance registry: component must be a non-empty string, got ${String(component)}`);
    }
    if (typeof handler !== 'function') {
      throw new UsageError(`conformance registry: handler for ${component} must be a function (ctx) => outputs`);
    }
    if (this.handlers.has(component) && !options.replace) {
      throw new UsageError(`conformance registry: ${component} already has a handler; pass { replace: true } to override it`);
    }
    this.handlers.set(component, handler);
    return this;
  }

  /** Registers every entry of a `{ component: handler }` table. */
  registerAll(table: Readonly<Record<string, ConformanceHandler>>, options: { replace?: boolean } = {}): this {
    for (const [component, handler] of Object.entries(table)) this.register(component, handler, options);
    return this;
  }

  get(component: string): ConformanceHandler | undefined {
    return this.handlers.get(component);
  }

  has(component: string): boolean {
    return this.handlers.has(component);
  }

  /** Registered component names, sorted. */
  components(): string[] {
    return [...this.handlers.keys()].sort();
  }
}
