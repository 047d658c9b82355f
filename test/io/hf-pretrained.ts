/** Paths and loaders of the pretrained-checkpoint fixtures (test/fixtures/hf-pretrained, README there). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, type SafetensorsFile } from '../../src/io/safetensors.js';

export const PRETRAINED_DIR = join(import.meta.dirname, '..', 'fixtures', 'hf-pretrained');

export const readFixture = (...parts: string[]): Uint8Array => new Uint8Array(readFileSync(join(PRETRAINED_DIR, ...parts)));

export interface PretrainedExpected {
  // biome-ignore lint/suspicious/noExplicitAny: fixture JSON is read field by field in each test
  json: any;
  tensors: SafetensorsFile;
}

export function pretrainedExpected(): PretrainedExpected {
  return {
    json: JSON.parse(readFileSync(join(PRETRAINED_DIR, 'expected.json'), 'utf8')),
    tensors: parseSafetensors(readFixture('expected.safetensors')),
  };
}
