/** Loads one HuggingFace fixture case (`<case>.json` + `<case>.safetensors`) from test/fixtures/hf-reformer. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, type SafetensorsFile } from '../../src/io/safetensors.js';

export const HF_FIXTURES_DIR = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'hf-reformer');

export interface FixtureCase {
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: fixture JSON is read field by field in each test
  json: any;
  tensors: SafetensorsFile;
}

export function loadFixture(name: string): FixtureCase {
  const json = JSON.parse(readFileSync(join(HF_FIXTURES_DIR, `${name}.json`), 'utf8'));
  const tensors = parseSafetensors(new Uint8Array(readFileSync(join(HF_FIXTURES_DIR, `${name}.safetensors`))));
  return { name, json, tensors };
}
