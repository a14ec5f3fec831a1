// Compiles src/cpp to wasm/allocator.wasm with Debian's emscripten (emcc 3.1.6, clang 14).
//   node scripts/build-wasm.mjs            release build into wasm/allocator.wasm (committed)
//   node scripts/build-wasm.mjs --debug    assertions kept, into build/allocator.debug.wasm
//   node scripts/build-wasm.mjs --out F    release build into F (CI compares it with the committed file)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const sourceDir = join(packageDir, 'src', 'cpp');
const debug = process.argv.includes('--debug');
const outIndex = process.argv.indexOf('--out');
const out =
  outIndex > 0 ? process.argv[outIndex + 1] : join(packageDir, debug ? 'build/allocator.debug.wasm' : 'wasm/allocator.wasm');

const exportedFunctions = [
  'adakv_pool_create',
  'adakv_pool_destroy',
  'adakv_pool_stats',
  'adakv_pool_check',
  'adakv_sequence_add',
  'adakv_sequence_remove',
  'adakv_sequence_stats',
  'adakv_append',
  'adakv_compact',
  'adakv_length',
  'adakv_read_rows',
  'adakv_read_positions',
  'adakv_layer_blocks',
  'adakv_flatten',
  'adakv_attend',
  'adakv_select_adaptive',
  'malloc',
  'free',
];

const flags = [
  '-std=c++17',
  debug ? '-O1' : '-O3',
  // Release drops assert(); debug keeps them (the pool re-checks itself after every change).
  ...(debug ? ['-g'] : ['-DNDEBUG', '-g0']),
  '-msimd128', // WASM SIMD for the attention dot products
  '-fno-exceptions', // errors are status codes; nothing throws
  '-fno-rtti',
  '-sSTANDALONE_WASM', // a bare module: imports only proc_exit and emscripten_notify_memory_growth
  '--no-entry', // a library: _initialize instead of main
  '-sALLOW_MEMORY_GROWTH', // the pool grows the heap as blocks are added
  '-sMAXIMUM_MEMORY=4GB',
  '-sABORTING_MALLOC=0', // malloc returns null when the heap cannot grow; we report OUT_OF_MEMORY
  '-sINITIAL_MEMORY=1MB',
  '-sTOTAL_STACK=64KB', // no recursion; small scratch lives on the heap
  `-sEXPORTED_FUNCTIONS=${exportedFunctions.map((name) => `_${name}`).join(',')}`,
  // Build paths must not leak into the binary, so a rebuild anywhere is byte-identical.
  `-ffile-prefix-map=${packageDir}=.`,
];

const sources = readdirSync(sourceDir)
  .filter((file) => file.endsWith('.cpp'))
  .sort()
  .map((file) => relative(packageDir, join(sourceDir, file)));

mkdirSync(dirname(out), { recursive: true });
execFileSync('emcc', [...flags, ...sources, '-o', out], { cwd: packageDir, stdio: 'inherit' });
console.log(`built ${relative(packageDir, out)}${debug ? ' (debug)' : ''}`);
