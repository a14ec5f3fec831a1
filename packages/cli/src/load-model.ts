import type { Model } from '@adakv/core';
import { loadDefaultModel, loadModelFile } from '@adakv/core/node';
import type { CliIo } from './main.js';
import { ProgressBar } from './ui/progress.js';

/** The model named by `--model` / `--tokenizer`, or the default stories15M (downloaded once, with a progress bar). */
export async function loadModelForCli(flags: { model?: string; tokenizer?: string }, io: CliIo): Promise<{ model: Model; name: string }> {
  if (flags.model) {
    const model = await loadModelFile(flags.model, flags.tokenizer ? { tokenizerPath: flags.tokenizer } : {});
    return { model, name: flags.model.split(/[\\/]/).pop() ?? flags.model };
  }
  const bar = new ProgressBar('Downloading stories15M (once)', io.stderr);
  const model = await loadDefaultModel({
    onProgress: (event) => {
      if (event.phase === 'download') bar.update(event.receivedBytes, event.totalBytes ?? 0);
    },
  });
  bar.done();
  return { model, name: 'stories15M' };
}
