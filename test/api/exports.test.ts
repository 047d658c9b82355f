/**
 * The public core API (src/index.ts, package export `reformer-ts`): every export is documented (a doc
 * comment on its declaration or on its re-export in src/index.ts), and the barrel exports each module's main entry points. Uses the
 * TypeScript compiler API on the sources (no build needed).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Names of the exports of src/index.ts whose declarations carry no doc comment. */
function undocumentedExports(): { names: string[]; count: number } {
  const entry = join(root, 'src', 'index.ts');
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
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
    expect(count).toBeGreaterThan(150);
    expect(names, `undocumented exports: ${names.join(', ')}`).toEqual([]);
  }, 60_000);

  it('exports the entry points of every module', () => {
    for (const name of [
      // errors, config, backend, io
      'ConfigError', 'ShapeError', 'FormatError', 'UsageError', 'ResourceError', 'NumericalError',
      'ReformerConfig', 'preset', 'ReferenceBackend', 'WasmBackend', 'instantiateWasmBackend', 'parseSafetensors', 'serializeSafetensors',
      // attention, model
      'lshSelfAttentionForward', 'localSelfAttentionForward', 'attentionBlockForward', 'exactSharedQkAttention', 'attentionQualityReport',
      'ReformerModel', 'ReformerModelWithLMHead', 'lmFromCheckpoint', 'lmCheckpointToBytes',
      // train
      'ByteTokenizer', 'Trainer', 'evaluate', 'generateTokens', 'AdamW', 'Rng',
    ]) {
      expect((api as Record<string, unknown>)[name], name).toBeDefined();
    }
  });
});
