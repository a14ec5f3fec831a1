import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OptionError } from '../errors.js';
import { loadModel } from '../model/load.js';
import type { Model } from '../model/model.js';
import { isGguf } from '../model/load.js';
import { type EnsureDefaultModelOptions, ensureDefaultModel } from './default-model.js';

async function readModelFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new OptionError(
      code === 'ENOENT' ? `No ${what} at ${path}.` : `Cannot read the ${what} at ${path} (${code ?? String(error)}).`,
    );
  }
}

/**
 * Loads a model file: GGUF (tokenizer inside), or a llama2.c checkpoint with `tokenizerPath`, which
 * defaults to a `tokenizer.bin` next to the checkpoint when there is one.
 */
export async function loadModelFile(path: string, options: { tokenizerPath?: string; maxContext?: number } = {}): Promise<Model> {
  const bytes = await readModelFile(path, 'model file');
  if (isGguf(bytes)) {
    if (options.tokenizerPath) throw new OptionError('GGUF files carry their own tokenizer; drop the tokenizer path.');
    return loadModel(bytes, options.maxContext === undefined ? {} : { maxContext: options.maxContext });
  }
  const sibling = join(dirname(path), 'tokenizer.bin');
  const tokenizerPath =
    options.tokenizerPath ?? ((await stat(sibling).then((s) => s.isFile(), () => false)) ? sibling : undefined);
  const tokenizer = tokenizerPath ? await readModelFile(tokenizerPath, 'tokenizer file') : undefined;
  return loadModel(bytes, tokenizer ? { tokenizer } : {});
}

/** {@link ensureDefaultModel}, then loads stories15M with its tokenizer. */
export async function loadDefaultModel(options: EnsureDefaultModelOptions = {}): Promise<Model> {
  const files = await ensureDefaultModel(options);
  return loadModelFile(files.modelPath, { tokenizerPath: files.tokenizerPath });
}
