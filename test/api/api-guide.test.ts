/**
 * docs/API.md stays true: every ```js block in it is a complete ES module, run here as a child process
 * from the repository root against the compiled package (`reformer-ts` and `reformer-ts/node` resolve
 * to dist/ through package.json "exports"); each must exit 0 with nothing on stderr (the examples state
 * their facts with `assert`). The guide names the main entry points of both exports, and the README
 * links it. The generated reference (scripts/api-docs.mjs) lists every export with its signature.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, requireDist } from '../cli/helpers.js';

const guide = readFileSync(join(REPO, 'docs', 'API.md'), 'utf8');

/** The ```js blocks of the guide, with the heading of their section. */
function examples(): { section: string; code: string }[] {
  const out: { section: string; code: string }[] = [];
  let section = '';
  const lines = guide.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    if (lines[i] === '```js') {
      const end = lines.indexOf('```', i + 1);
      out.push({ section, code: lines.slice(i + 1, end).join('\n') });
      i = end;
    }
  }
  return out;
}

describe('docs/API.md', () => {
  const blocks = examples();

  it('has an example for each section of the library', () => {
    expect(blocks.map((b) => b.section)).toEqual([
      'Configs and presets',
      'Backends',
      'The model: logits, loss, gradients',
      'Data: corpus, tokenizer, split',
      'Training',
      'Evaluation and generation',
      'Checkpoints',
      'Conformance runner',
      'Errors',
    ]);
  });

  for (const { section, code } of blocks) {
    it(`the "${section}" example runs`, () => {
      requireDist();
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
      expect(r.stderr, r.stderr).toBe('');
      expect(r.status).toBe(0);
    }, 130_000);
  }

  it('names the entry points the README used to list without signatures, each with its arguments', () => {
    for (const sig of [
      'new Trainer(model, data, options).run(hooks)',
      'splitTokens(tokens, { seqLen, validationFraction = 0.05 })',
      'lm.lossAndGrad(batch)',
      'evaluate(model, tokens, options?)',
      'generateTokens(model, prompt, options?)',
      'lmFromCheckpoint(backend, { config, safetensors })',
      'loadCheckpoint(dir, flag?, { inferenceOnly })',
      'new ReformerModelWithLMHead(backend, config, { seed })',
      'runConformance(cases, { backend, registry, filter })',
    ]) {
      expect(guide, sig).toContain(`\`${sig}\``);
    }
    expect(readFileSync(join(REPO, 'README.md'), 'utf8')).toContain('[docs/API.md](docs/API.md)');
  });
});

describe('the API reference generator (npm run docs)', () => {
  it('lists every export of both entry points with a signature', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'reformer-apidocs-')), 'README.md');
    const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'api-docs.mjs'), out], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const doc = readFileSync(out, 'utf8');
    const core = await import('../../src/index.js');
    const node = await import('../../src/node/index.js');
    for (const name of [...Object.keys(core), ...Object.keys(node)]) expect(doc, name).toContain(`#### \`${name}\``);
    expect(doc).toContain('function evaluate(model: CausalLanguageModel, tokens: Int32Array');
    expect(doc).toContain('function splitTokens(tokens: Int32Array');
    expect(doc).toMatch(/ {2}lossAndGrad\(batch: TokenBatch\): LossResult/);
  }, 130_000);
});
