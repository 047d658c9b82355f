/**
 * Every public function and class of `reformer-ts` (src/index.ts) and `reformer-ts/node`
 * (src/node/index.ts), called the way a JavaScript caller without a type checker might get it wrong
 * (arguments left out, null, empty objects, numbers where objects belong), either works or throws one
 * of our typed errors (`ReformerError`: ConfigError, ShapeError, UsageError, ...) naming what to pass.
 * Never a raw `TypeError: Cannot destructure property 'seqLen' of undefined`, never a hang.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ReformerError } from '../../src/errors.js';
import * as core from '../../src/index.js';
import * as node from '../../src/node/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Entry points that run a whole program or read process state, not argument checks. */
const SKIP = new Set(['main', 'runCli']);

/** The source file that declares each export of an entry module. */
function declaringFiles(entry: string): Map<string, string> {
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  const out = new Map<string, string>();
  for (const sym of checker.getExportsOfModule(moduleSymbol)) {
    const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    const decl = target.declarations?.[0];
    if (decl) out.set(sym.getName(), relative(root, decl.getSourceFile().fileName));
  }
  return out;
}

/** Wrong calls: nothing, undefined, nulls, empty objects, numbers and a boolean where other things belong. */
const JUNK: readonly unknown[][] = [[], [undefined], [null, null], [{}, {}], [7, 7, 7], [true, {}, 1]];

/**
 * Plausible first arguments (so that the checks of the later ones are reached too): token ids, bytes, a
 * backend, a model, a path inside a fresh temporary folder.
 */
function plausibleFirsts(): unknown[] {
  const backend = new core.ReferenceBackend();
  const text = 'It was a cold evening in early July. '.repeat(40);
  return [
    new core.ByteTokenizer().encode(text),
    new TextEncoder().encode(text),
    backend,
    new core.BigramLanguageModel(backend, { vocabSize: 258, seed: 1 }),
    join(mkdtempSync(join(tmpdir(), 'reformer-args-')), 'x'),
  ];
}

/** Every wrong call: the junk ones, and each plausible first argument followed by junk. */
function wrongCalls(): unknown[][] {
  const calls: unknown[][] = [...JUNK];
  for (const first of plausibleFirsts())
    for (const rest of [[], [undefined], [null], [{}], [7, 7], ['', true]]) calls.push([first, ...rest]);
  return calls;
}

/** An argument for the report. */
function show(a: unknown): string {
  if (ArrayBuffer.isView(a)) return a.constructor.name;
  if (a !== null && typeof a === 'object' && a.constructor !== Object) return a.constructor.name;
  return JSON.stringify(a) ?? 'undefined';
}

/** Calls `fn` (a constructor with `new`) with `args`; the error it throws, or null if it returned (after awaiting, first value drawn). */
async function thrown(fn: (...a: unknown[]) => unknown, args: unknown[]): Promise<unknown> {
  const isClass = /^class\b/.test(Function.prototype.toString.call(fn));
  try {
    const r = isClass ? new (fn as unknown as new (...a: unknown[]) => unknown)(...args) : fn(...args);
    if (r && typeof (r as Promise<unknown>).then === 'function') await r;
    if (r && typeof (r as Iterator<unknown>).next === 'function' && typeof (r as Iterable<unknown>)[Symbol.iterator] === 'function') {
      (r as Iterator<unknown>).next();
    }
    // something started that holds resources (a WASM backend with threads): let it go
    for (const m of ['close', 'dispose']) {
      const f = (r as Record<string, unknown> | null)?.[m];
      if (typeof f === 'function') (f as () => void).call(r);
    }
    return null;
  } catch (e) {
    return e;
  }
}

describe('public functions validate their arguments with typed errors', () => {
  for (const [label, mod, entry] of [
    ['reformer-ts', core, join(root, 'src', 'index.ts')],
    ['reformer-ts/node', node, join(root, 'src', 'node', 'index.ts')],
  ] as const) {
    it(`${label}: wrong or missing arguments throw a ReformerError, never a raw TypeError`, async () => {
      const files = declaringFiles(entry);
      const bad: string[] = [];
      let checked = 0;
      const calls = wrongCalls();
      for (const [name, value] of Object.entries(mod)) {
        if (typeof value !== 'function' || SKIP.has(name)) continue;
        const file = files.get(name) ?? '?';
        checked++;
        for (const args of calls) {
          const e = await thrown(value as (...a: unknown[]) => unknown, args);
          if (e !== null && !(e instanceof ReformerError)) {
            bad.push(`${name}(${args.map(show).join(', ')}) [${file}]: ${(e as Error).name}: ${(e as Error).message}`);
          }
        }
      }
      expect(checked).toBeGreaterThan(label === 'reformer-ts' ? 40 : 30);
      expect(bad, bad.join('\n')).toEqual([]);
    }, 120_000);
  }

  it('the messages name the function, the argument and what to pass', async () => {
    const e = (await thrown(core.evaluate as (...a: unknown[]) => unknown, [])) as Error;
    expect(e).toBeInstanceOf(core.ConfigError);
    expect(e.message).toMatch(/^model: evaluate needs a CausalLanguageModel \(e\.g\. new ReformerModelWithLMHead\(backend, config\)/);
    const s = (await thrown(core.splitTokens as (...a: unknown[]) => unknown, [new Int32Array(10)])) as Error;
    expect(s).toBeInstanceOf(core.ConfigError);
    expect(s.message).toBe(
      'options: splitTokens needs an options object such as { seqLen: 1024, validationFraction: 0.05 }, got undefined',
    );
    const p = (await thrown(node.loadCheckpoint as (...a: unknown[]) => unknown, [])) as Error;
    expect(p).toBeInstanceOf(core.UsageError);
    expect(p.message).toBe('loadCheckpoint: path must be a non-empty path string, got undefined');
  });

  it('the model, attention and config entry points name what to pass', async () => {
    const be = new core.ReferenceBackend();
    const call = (fn: unknown, args: unknown[]) => thrown(fn as (...a: unknown[]) => unknown, args) as Promise<Error>;
    const a = await call(core.attentionBlockForward, [be]);
    expect(a).toBeInstanceOf(core.ConfigError);
    expect(a.message).toMatch(/^config: attentionBlockForward needs an AttentionConfig \(a ReformerConfig, or attentionConfig/);
    const c = await call(core.lshAttentionBackward, [be, {}]);
    expect(c).toBeInstanceOf(core.ShapeError);
    expect(c.message).toMatch(
      /^lshAttentionBackward: cache\.batch must be a positive integer \(cache must be the cache of lshAttentionForward\)/,
    );
    const m = await call(core.ReformerModelWithLMHead, [undefined, new core.ReformerConfig({})]);
    expect(m).toBeInstanceOf(core.ConfigError);
    expect(m.message).toMatch(/^backend: ReformerModelWithLMHead needs a compute backend \(new ReferenceBackend\(\)/);
    const d = await call(core.DecodeSession, [new core.BigramLanguageModel(be, { vocabSize: 258, seed: 1 })]);
    expect(d).toBeInstanceOf(core.ConfigError);
    expect(d.message).toMatch(/^model: new DecodeSession\(model\) needs a ReformerModelWithLMHead/);
    // config.json keys that are not Reformer fields must be JSON data (kept verbatim, frozen, written back)
    const x = await call(core.ReformerConfig, [{ my_table: { rows: new Float32Array(2) } }]);
    expect(x).toBeInstanceOf(core.ConfigError);
    expect(x.message).toBe('my_table: must be JSON data (a config.json value), got a typed array');
    expect(await call(core.ReformerConfig, [{ my_table: { rows: [1, 2], name: null } }])).toBeNull();
  });
});
