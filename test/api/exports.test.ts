/**
 * The public core API (src/index.ts, package export `reformer-ts`): every export is documented (a doc
 * comment on its declaration or on its re-export in src/index.ts), the barrel exports each module's main entry points
 * (the conformance runner included), and nothing it reaches imports `node:` (browser-safe). Uses the
 * TypeScript compiler API on the sources (no build needed).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const entry = join(root, 'src', 'index.ts');

/** The TypeScript program of src/index.ts and everything it imports. */
function coreProgram(): ts.Program {
  return ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
}

/** Names of the exports of src/index.ts whose declarations carry no doc comment. */
function undocumentedExports(): { names: string[]; count: number } {
  const program = coreProgram();
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry)!;
  const moduleSymbol = checker.getSymbolAtLocation(source)!;
  const exports = checker.getExportsOfModule(moduleSymbol);
  const names: string[] = [];
  for (const sym of exports) {
    // a doc comment on the re-export in src/index.ts, or on the declaration itself
    const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    const documented = [sym, target].some(
      (s) => ts.displayPartsToString(s.getDocumentationComment(checker)).trim() !== '' || s.getJsDocTags(checker).length > 0,
    );
    if (!documented) names.push(sym.getName());
  }
  return { names: names.sort(), count: exports.length };
}

describe('public API (src/index.ts)', () => {
  it('every export has a doc comment at its declaration', () => {
    const { names, count } = undocumentedExports();
    expect(count).toBeGreaterThan(100); // values and types
    expect(names, `undocumented exports: ${names.join(', ')}`).toEqual([]);
  }, 60_000);

  it('keeps internal helpers out of the barrel (kernels, allocator, dropout hashing, validators, trainer internals)', () => {
    for (const name of [
      'fmix32',
      'dropoutThreshold',
      'attentionDropoutCallSeed',
      'Arena',
      'KERNEL_NAMES',
      'splitRange',
      'MAX_KERNEL_ARGS',
      'DEFAULT_MIN_WORK_NS',
      'AttentionSublayer',
      'reversibleForward',
      'validateSampling',
      'validateTrainOptions',
      'encodeTrainerSnapshot',
      'unrecognisedConfigKeys',
      'checkPositionLength',
      'MAX_HEADER_BYTES',
      'isGzip',
      'newStats',
    ]) {
      expect(api, name).not.toHaveProperty(name);
    }
    // 106 before the task heads (3 classes, checkpoint factory, task trainer, label helpers, MLM masking) and
    // cached decoding (DecodeSession, decodeCacheBytes and its cap, streamGenerate, generateText, the repetition penalty)
    expect(Object.keys(api).length).toBeLessThan(128);
  });

  it('exports the entry points of every module', () => {
    for (const name of [
      // errors, config, backend, io
      'ConfigError',
      'ShapeError',
      'FormatError',
      'UsageError',
      'ResourceError',
      'NumericalError',
      'ReformerConfig',
      'preset',
      'ReferenceBackend',
      'WasmBackend',
      'instantiateWasmBackend',
      'parseSafetensors',
      'readPytorchCheckpoint',
      'readWeightsFile',
      'mergeShards',
      'SentencePieceTokenizer',
      'tokenizerForCheckpoint',
      'legacyConfigNotes',
      'serializeSafetensors',
      // attention, model
      'lshSelfAttentionForward',
      'localSelfAttentionForward',
      'attentionBlockForward',
      'exactSharedQkAttention',
      'attentionQualityReport',
      'ReformerModel',
      'ReformerModelWithLMHead',
      'lmFromCheckpoint',
      'lmCheckpointToBytes',
      // train
      'ByteTokenizer',
      'Trainer',
      'evaluate',
      'generateTokens',
      'AdamW',
      'Rng',
      // conformance (README "Conformance runner")
      'runConformance',
      'ConformanceRegistry',
      'createConformanceRegistry',
      'formatConformanceReport',
      'SkipCase',
    ]) {
      expect((api as Record<string, unknown>)[name], name).toBeDefined();
    }
  });

  it('runConformance from the core entry: another port registers its handler for a component and reuses the comparison rules', () => {
    const json = {
      case: 'double',
      component: 'MyPortDouble',
      config: {},
      tolerance: { checked_tensors: ['out:y'], rtol_recommended_vs_out: 1e-6 },
    };
    const safetensors = api.serializeSafetensors([
      { name: 'in:x', shape: [3], data: new Float32Array([1, 2, 3]) },
      { name: 'out:y', shape: [3], data: new Float32Array([2, 4, 6]) },
    ]);
    const handler: api.ConformanceHandler = (ctx) => ({ tensors: { 'out:y': ctx.floats('in:x').map((v) => 2 * v) } });
    const registry = new api.ConformanceRegistry().register('MyPortDouble', handler);
    const options: api.ConformanceOptions = { backend: new api.ReferenceBackend(), registry };
    const report: api.ConformanceReport = api.runConformance([{ json, safetensors }], options);
    expect(report.passed, api.formatConformanceReport(report)).toBe(1);
    expect(report.cases[0]!.comparisons[0]).toMatchObject({ name: 'out:y', kind: 'float', passed: true, required: true });
    // the built-in handlers are there too, and an extra table can be added to them
    expect(api.createConformanceRegistry({ MyPortDouble: handler }).components()).toContain('LSHSelfAttention');
  });

  it('the core is browser-safe: nothing reachable from src/index.ts imports a node: module', () => {
    const offenders: string[] = [];
    let files = 0;
    for (const sf of coreProgram().getSourceFiles()) {
      if (!sf.fileName.startsWith(join(root, 'src').replaceAll('\\', '/'))) continue;
      files++;
      if (sf.fileName.includes('/src/node/')) offenders.push(`${sf.fileName} (a Node adapter)`);
      for (const st of sf.statements) {
        const spec =
          (ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)
            ? st.moduleSpecifier.text
            : null;
        if (spec?.startsWith('node:')) offenders.push(`${sf.fileName}: ${spec}`);
      }
    }
    expect(files).toBeGreaterThan(50);
    expect(offenders).toEqual([]);
  }, 60_000);
});
