import { type Model, OptionError, type TextTokenizer } from '@adakv/core';
import { loadDefaultModel, loadModelFile } from '@adakv/core/node';
import type { CliIo } from './io.js';
import { ProgressBar } from './ui/progress.js';

/** A model every command can feed text to. */
export type ModelWithTokenizer = Model & { readonly tokenizer: TextTokenizer };

/** The model named by `--model` / `--tokenizer`, or the default stories15M (downloaded once, with a progress bar). */
export async function loadModelForCli(flags: { model?: string; tokenizer?: string }, io: CliIo): Promise<{ model: ModelWithTokenizer; name: string }> {
  if (flags.model) {
    const model = await loadModelFile(flags.model, flags.tokenizer ? { tokenizerPath: flags.tokenizer } : {});
    // every command turns text into tokens, so a checkpoint without its tokenizer is a usage mistake
    if (!hasTokenizer(model)) {
      throw new OptionError(`${flags.model} has no tokenizer: pass --tokenizer FILE (the model's tokenizer.bin), or put tokenizer.bin next to it.`);
    }
    return { model, name: flags.model.split(/[\\/]/).pop() ?? flags.model };
  }
  const bar = new ProgressBar('Downloading stories15M (once)', io.stderr);
  const model = await loadDefaultModel({
    onProgress: (event) => {
      if (event.phase === 'download') bar.update(event.receivedBytes, event.totalBytes ?? 0);
    },
  });
  bar.done();
  if (!hasTokenizer(model)) throw new Error('the default model loaded without its tokenizer');
  return { model, name: 'stories15M' };
}

const hasTokenizer = (model: Model): model is ModelWithTokenizer => model.tokenizer !== undefined;
