// Bring a HuggingFace Reformer in: wrap a `save_pretrained(..., safe_serialization=True)` folder
// (config.json + model.safetensors) as a reformer-ts run directory that every `reformer` command reads.
// Usage: node examples/hf-import.mjs <hf-folder> <run-dir>
//        reformer eval --checkpoint <run-dir> --data data/crime-and-punishment.txt
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReferenceBackend, lmFromCheckpoint } from 'reformer-ts';
import { saveCheckpoint } from 'reformer-ts/node';

const [hfDir, runDir] = process.argv.slice(2);
if (!hfDir || !runDir) throw new Error('usage: node examples/hf-import.mjs <hf-folder> <run-dir>');
const config = readFileSync(join(hfDir, 'config.json'), 'utf8');
const weights = readFileSync(join(hfDir, 'model.safetensors'));
// validates before writing: a causal ReformerModelWithLMHead config, every HF tensor name and shape, finite values
const lm = lmFromCheckpoint(new ReferenceBackend(), { config, safetensors: weights });
saveCheckpoint(join(runDir, 'checkpoint'), { config, weights }); // atomic folder with a manifest (no trainer state)
console.log(`imported ${lm.params.length.toLocaleString('en-US')} parameters (${lm.config.attn_layers.join('/')}) into ${runDir}`);
