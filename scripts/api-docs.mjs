// The API reference: every export of `reformer-ts` (src/index.ts) and `reformer-ts/node`
// (src/node/index.ts) with its signature and doc comment, grouped by the file that declares it, read with
// the TypeScript compiler API (no other tool). Run by `npm run docs`; writes docs/api/README.md (or the
// path given as the first argument).
// Not part of the build or of CI. The hand-written guide with runnable examples is docs/API.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRIES = [
  { name: 'reformer-ts', file: join(root, 'src', 'index.ts'), about: 'the browser-safe core (bytes and memory, no file system)' },
  {
    name: 'reformer-ts/node',
    file: join(root, 'src', 'node', 'index.ts'),
    about: 'Node adapters: WASM from disk, checkpoint folders, data files, progress, the CLI',
  },
];

const program = ts.createProgram(
  ENTRIES.map((e) => e.file),
  {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  },
);
const checker = program.getTypeChecker();
const flags = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope;

/** Doc text of a symbol (its own comment, else the re-export's) and its @throws tags. */
function docOf(...symbols) {
  for (const s of symbols) {
    const text = ts.displayPartsToString(s.getDocumentationComment(checker)).trim();
    const tags = s
      .getJsDocTags(checker)
      .filter((t) => ['throws', 'param', 'returns'].includes(t.name))
      .map((t) => `@${t.name} ${ts.displayPartsToString(t.text ?? []).trim()}`);
    if (text || tags.length) return { text, tags };
  }
  return { text: '', tags: [] };
}

/** `  /** doc *\/` line of a member with a doc comment (collapsed to one line), else nothing. */
function memberDoc(m) {
  const sym = m.name ? checker.getSymbolAtLocation(m.name) : undefined;
  const text = sym
    ? ts
        .displayPartsToString(sym.getDocumentationComment(checker))
        .trim()
        .replace(/\s*\n\s*/g, ' ')
    : '';
  return text ? [`  /** ${text.replaceAll('*/', '*\\/')} */`] : [];
}

const isPublicMember = (m) =>
  !(ts.getCombinedModifierFlags(m) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) &&
  !(m.name && ts.isPrivateIdentifier(m.name)) &&
  !m.name?.getText().startsWith('_');

/** The signature lines of one export. */
function signatureOf(name, target) {
  const decl = target.declarations?.[0];
  if (!decl) return [`${name}`];
  if (target.flags & ts.SymbolFlags.Function) {
    const type = checker.getTypeOfSymbolAtLocation(target, decl);
    return type.getCallSignatures().map((s) => `function ${name}${checker.signatureToString(s, undefined, flags)}`);
  }
  if (target.flags & ts.SymbolFlags.Class && ts.isClassDeclaration(decl)) {
    const lines = [`class ${name}${decl.heritageClauses ? ` ${decl.heritageClauses.map((h) => h.getText()).join(' ')}` : ''}`];
    const classType = checker.getTypeOfSymbolAtLocation(target, decl);
    for (const s of classType.getConstructSignatures()) {
      if (s.declaration && !isPublicMember(s.declaration)) continue;
      lines.push(`  constructor${checker.signatureToString(s, undefined, flags).replace(/: [^:]+$/, '')}`);
    }
    for (const m of decl.members) {
      if (ts.isConstructorDeclaration(m) || !m.name || !isPublicMember(m)) continue;
      const sym = checker.getSymbolAtLocation(m.name);
      if (!sym) continue;
      const isStatic = ts.getCombinedModifierFlags(m) & ts.ModifierFlags.Static ? 'static ' : '';
      lines.push(...memberDoc(m));
      if (ts.isMethodDeclaration(m)) {
        const sigs = checker.getTypeOfSymbolAtLocation(sym, m).getCallSignatures();
        if (sigs[0]) lines.push(`  ${isStatic}${m.name.getText()}${checker.signatureToString(sigs[0], undefined, flags)}`);
      } else if (ts.isPropertyDeclaration(m) || ts.isGetAccessorDeclaration(m)) {
        const ro = ts.isGetAccessorDeclaration(m) || ts.getCombinedModifierFlags(m) & ts.ModifierFlags.Readonly ? 'readonly ' : '';
        lines.push(
          `  ${isStatic}${ro}${m.name.getText()}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(sym, m), undefined, flags)}`,
        );
      }
    }
    return lines;
  }
  if (target.flags & ts.SymbolFlags.Interface && ts.isInterfaceDeclaration(decl)) {
    const lines = [
      `interface ${name}${decl.typeParameters ? `<${decl.typeParameters.map((p) => p.getText()).join(', ')}>` : ''}${decl.heritageClauses ? ` ${decl.heritageClauses.map((h) => h.getText()).join(' ')}` : ''} {`,
    ];
    for (const m of decl.members) {
      lines.push(...memberDoc(m), `  ${m.getText().replace(/\s*\n\s*/g, ' ')}`);
    }
    lines.push('}');
    return lines;
  }
  if (target.flags & ts.SymbolFlags.TypeAlias && ts.isTypeAliasDeclaration(decl)) {
    return [
      `type ${name}${decl.typeParameters ? `<${decl.typeParameters.map((p) => p.getText()).join(', ')}>` : ''} = ${decl.type.getText().replace(/\s*\n\s*/g, ' ')}`,
    ];
  }
  if (target.flags & ts.SymbolFlags.Variable) {
    return [`const ${name}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(target, decl), undefined, flags)}`];
  }
  return [name];
}

const out = [
  '# API reference',
  '',
  'Generated by `npm run docs` (scripts/api-docs.mjs) from the doc comments of the sources: every export of',
  'the two package entry points with its signature, grouped by the file that declares it. Do not edit by',
  'hand. The guide with runnable examples is [docs/API.md](../API.md); the conventions (HF names, shapes,',
  'units, typed errors) are in the README and docs/ARCHITECTURE.md.',
  '',
];
for (const entry of ENTRIES) {
  const source = program.getSourceFile(entry.file);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  const byFile = new Map();
  for (const sym of checker.getExportsOfModule(moduleSymbol)) {
    const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    const decl = target.declarations?.[0];
    const file = decl ? relative(root, decl.getSourceFile().fileName) : '?';
    if (!byFile.has(file)) byFile.set(file, []);
    byFile.get(file).push({ name: sym.getName(), sym, target });
  }
  out.push(
    `## \`${entry.name}\``,
    '',
    `${entry.about[0].toUpperCase()}${entry.about.slice(1)}; ${[...byFile.values()].reduce((a, x) => a + x.length, 0)} exports.`,
    '',
  );
  for (const file of [...byFile.keys()].sort()) {
    out.push(`### ${file}`, '');
    for (const { name, sym, target } of byFile.get(file).sort((a, b) => a.name.localeCompare(b.name))) {
      const { text, tags } = docOf(target, sym);
      out.push(`#### \`${name}\``, '', '```ts', ...signatureOf(name, target), '```', '');
      if (text) out.push(text, '');
      if (tags.length) out.push(...tags.map((t) => `- ${t.replace(/\s*\n\s*/g, ' ')}`), '');
    }
  }
}
const target = process.argv[2] ?? join(root, 'docs', 'api', 'README.md');
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, `${out.join('\n').trimEnd()}\n`);
console.log(`wrote ${relative(root, target)} (${out.length} lines)`);
