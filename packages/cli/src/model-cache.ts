import { DEFAULT_MODEL } from '@adakv/core/node';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type CachedFileState = 'verified' | 'missing' | 'truncated' | 'oversized' | 'modified';

export interface CachedFile {
  readonly name: string;
  readonly path: string;
  readonly expectedBytes: number;
  /** Bytes on disk; null when the file is missing. */
  readonly bytesOnDisk: number | null;
  readonly state: CachedFileState;
}

export const defaultModelFolder = (cacheDir: string): string => join(cacheDir, DEFAULT_MODEL.name);

/** Re-hashes each file of the default model in the cache, so `models list` and `verify` can say which one is wrong and how. */
export async function inspectDefaultModelCache(cacheDir: string): Promise<CachedFile[]> {
  const folder = defaultModelFolder(cacheDir);
  return Promise.all(
    Object.values(DEFAULT_MODEL.files).map(async (spec): Promise<CachedFile> => {
      const path = join(folder, spec.name);
      const expectedBytes = spec.end - spec.start;
      const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      });
      const file = { name: spec.name, path, expectedBytes, bytesOnDisk: bytes?.byteLength ?? null };
      if (!bytes) return { ...file, state: 'missing' };
      if (bytes.byteLength < expectedBytes) return { ...file, state: 'truncated' };
      if (bytes.byteLength > expectedBytes) return { ...file, state: 'oversized' };
      const digest = createHash('sha256').update(bytes).digest('hex');
      return { ...file, state: digest === spec.sha256 ? 'verified' : 'modified' };
    }),
  );
}

/** One phrase per state, for messages such as "tokenizer.bin is modified (sha256 mismatch)". */
export function describeState(file: CachedFile): string {
  switch (file.state) {
    case 'verified':
      return 'verified (sha256 matches)';
    case 'missing':
      return 'missing';
    case 'truncated':
      return `truncated (${file.bytesOnDisk} of ${file.expectedBytes} bytes)`;
    case 'oversized':
      return `too long (${file.bytesOnDisk} bytes, expected ${file.expectedBytes})`;
    case 'modified':
      return 'modified (sha256 mismatch)';
  }
}
