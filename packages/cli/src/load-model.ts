import { type Model, OptionError, type TextTokenizer, formatBytes } from '@adakv/core';
import { type DefaultModelProgress, loadDefaultModel, loadModelFile } from '@adakv/core/node';
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
  const progress = downloadProgress('Downloading stories15M (once)', io);
  const model = await loadDefaultModel({ onProgress: progress.onProgress }).finally(progress.done);
  if (!hasTokenizer(model)) throw new Error('the default model loaded without its tokenizer');
  return { model, name: 'stories15M' };
}

const hasTokenizer = (model: Model): model is ModelWithTokenizer => model.tokenizer !== undefined;

/**
 * The default model's download as a progress bar on stderr: received bytes of the total (`12.0 MiB of
 * 53.9 MiB`), redrawn in place on a terminal, a line per 10% elsewhere. Nothing shows when the model is
 * already cached.
 */
export function downloadProgress(label: string, io: CliIo): { onProgress: (event: DefaultModelProgress) => void; done: () => void } {
  const bar = new ProgressBar(label, io.stderr);
  return {
    onProgress: (event) => {
      if (event.phase !== 'download') return;
      const { receivedBytes, totalBytes } = event;
      bar.update(receivedBytes, totalBytes ?? 0, totalBytes ? `${formatBytes(receivedBytes)} of ${formatBytes(totalBytes)}` : formatBytes(receivedBytes));
    },
    done: () => bar.done(),
  };
}
