// Compiles src/cpp (the block pool and the engine) to one .wasm per variant with Debian's emscripten
// (emcc 3.1.6, clang 14). Every variant exports the same C ABI; the TS wrapper picks one at load.
//   node scripts/build-wasm.mjs                   every release variant into wasm/ (committed)
//   node scripts/build-wasm.mjs --variant NAME    one variant (simd, threads, relaxed, relaxed-threads)
//   node scripts/build-wasm.mjs --out-dir DIR     every release variant into DIR (CI compares them)
//   node scripts/build-wasm.mjs --debug           assertions kept, single-thread SIMD, into build/allocator.debug.wasm
//   node scripts/build-wasm.mjs --profile         release code with function names, into build/allocator.profile.wasm
//   node scripts/build-wasm.mjs --out FILE        the simd variant into FILE
//
// Variants:
//   allocator.wasm                  SIMD128, single thread, its own memory (runs everywhere)
//   allocator.threads.wasm          SIMD128 + atomics, imports one shared memory that workers instantiate too
//   allocator.relaxed.wasm          + relaxed SIMD (fused multiply-add), single thread
//   allocator.relaxed-threads.wasm  + relaxed SIMD, threads
// clang 14 writes relaxed SIMD with the pre-standard opcodes (f32x4.fma is 0xfd 0xaf 0x01), which
// Node 20 and Chromium reject; the relaxed variants are therefore post-processed by
// scripts/relaxed-simd-opcodes.mjs into the standardized encoding (f32x4.relaxed_madd, 0xfd 0x85 0x02).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { standardizeRelaxedSimd } from './relaxed-simd-opcodes.mjs';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const argument = (name) => {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : undefined;
};
const debug = process.argv.includes('--debug');
// --profile: function names kept (for CPU profiles of the release code), into build/.
const profile = process.argv.includes('--profile');

const exportedFunctions = [
  // the block pool (src/cpp/adakv.h)
  'adakv_pool_create',
  'adakv_pool_create_format',
  'adakv_pool_destroy',
  'adakv_pool_stats',
  'adakv_pool_check',
  'adakv_sequence_add',
  'adakv_sequence_add_formats',
  'adakv_sequence_remove',
  'adakv_sequence_stats',
  'adakv_append',
  'adakv_append_heads',
  'adakv_compact',
  'adakv_length',
  'adakv_head_format',
  'adakv_read_rows',
  'adakv_read_positions',
  'adakv_layer_blocks',
  'adakv_flatten',
  'adakv_attend',
  'adakv_attend_causal',
  'adakv_select_adaptive',
  // the engine (src/cpp/engine/engine.h)
  'adakv_model_create',
  'adakv_model_destroy',
  'adakv_model_tensor',
  'adakv_model_ready',
  'adakv_model_screen',
  'adakv_model_stats',
  'adakv_prefill',
  'adakv_decode',
  'adakv_argmax',
  'adakv_threads_configure',
  'adakv_thread_stack_top',
  'adakv_thread_worker',
  'adakv_threads_stop',
  'adakv_threads_failed_flag',
  'adakv_threads_active',
  'adakv_threads_task_counts',
  'adakv_build_features',
  'adakv_kernel_matmul',
  'adakv_kernel_dequantize',
  'adakv_kernel_rmsnorm',
  'adakv_kernel_rope',
  'adakv_kernel_swiglu',
  'adakv_kernel_softmax',
  'adakv_kernel_quantize',
  'malloc',
  'free',
];

const common = [
  '-std=c++17',
  debug ? '-O1' : '-O3',
  // Release drops assert(); debug keeps them (the pool re-checks itself after every change).
  ...(debug ? ['-g'] : ['-DNDEBUG', '-g0']),
  ...(profile ? ['--profiling-funcs'] : []),
  '-msimd128', // WASM SIMD: every kernel works on 4-lane vectors (src/cpp/engine/simd.h)
  '-fno-exceptions', // errors are status codes; nothing throws
  '-fno-rtti',
  '-sSTANDALONE_WASM', // a bare module: imports only proc_exit and emscripten_notify_memory_growth
  '--no-entry', // a library: _initialize instead of main
  '-sALLOW_MEMORY_GROWTH', // the pool and the models grow the heap
  '-sMAXIMUM_MEMORY=4GB',
  '-sABORTING_MALLOC=0', // malloc returns null when the heap cannot grow; we report OUT_OF_MEMORY
  '-sINITIAL_MEMORY=1MB',
  '-sTOTAL_STACK=64KB', // no recursion; large scratch lives on the heap
  // Binaryen's -O3 inlines every function that has one caller, which merged all seven weight types'
  // matmul loops (and the attention tiles) into one huge function; V8 compiles that 1.5-2x slower
  // than the same loops kept in their own functions (measured here). LLVM has inlined what pays.
  '-sBINARYEN_EXTRA_PASSES=--one-caller-inline-max-function-size=500',
  // Build paths must not leak into the binary, so a rebuild anywhere is byte-identical.
  `-ffile-prefix-map=${packageDir}=.`,
];

const threadFlags = [
  '-matomics', // real atomic instructions and memory.atomic.wait32/notify (src/cpp/engine/threads.cpp)
  '-mbulk-memory', // required with shared memory (passive data segments, memory.init)
  '-sIMPORTED_MEMORY', // env.memory comes from JS: one WebAssembly.Memory for the main thread and every worker
  // Shared memory without emscripten's pthreads (-pthread is refused with STANDALONE_WASM). The data
  // segments become passive and a start function initialises them once, guarded by an atomic flag,
  // so every worker instance may run it.
  '-Wl,--shared-memory',
  // Emscripten's prebuilt single-thread libc (malloc, memcpy) is compiled without atomics, which
  // wasm-ld would otherwise refuse to link into shared memory. Only the main thread calls malloc;
  // workers run the kernels, which never allocate.
  '-Wl,--no-check-features',
];
// Sets a worker instance's __stack_pointer to its own stack region.
const threadSources = ['src/cpp/engine/thread_stack.S'];
const threadExports = ['adakv_thread_set_stack'];
// simd::madd becomes a fused multiply-add (src/cpp/engine/simd.h); the opcodes are standardized after linking.
const relaxedFlags = ['-mrelaxed-simd'];

const variants = {
  simd: { file: 'allocator.wasm', flags: [], extraSources: [], extraExports: [] },
  threads: { file: 'allocator.threads.wasm', flags: threadFlags, extraSources: threadSources, extraExports: threadExports },
  relaxed: { file: 'allocator.relaxed.wasm', flags: relaxedFlags, extraSources: [], extraExports: [], relaxed: true },
  'relaxed-threads': {
    file: 'allocator.relaxed-threads.wasm',
    flags: [...relaxedFlags, ...threadFlags],
    extraSources: threadSources,
    extraExports: threadExports,
    relaxed: true,
  },
};

const sources = ['src/cpp', 'src/cpp/engine']
  .flatMap((dir) => readdirSync(join(packageDir, dir)).filter((file) => file.endsWith('.cpp')).map((file) => `${dir}/${file}`))
  .sort();

function build(variant, out) {
  const { flags, extraSources, extraExports, relaxed } = variants[variant];
  const exports = [...exportedFunctions, ...extraExports].map((name) => `_${name}`).join(',');
  mkdirSync(dirname(out), { recursive: true });
  execFileSync('emcc', [...common, ...flags, `-sEXPORTED_FUNCTIONS=${exports}`, ...sources, ...extraSources, '-o', out], {
    cwd: packageDir,
    stdio: 'inherit',
  });
  let note = debug ? ' (debug)' : '';
  if (relaxed) {
    const { bytes, rewritten } = standardizeRelaxedSimd(readFileSync(out));
    if (rewritten === 0) throw new Error(`${out}: no f32x4.fma to standardize; was it built with -mrelaxed-simd?`);
    writeFileSync(out, bytes);
    note += ` (${rewritten} f32x4.fma rewritten to f32x4.relaxed_madd)`;
  }
  console.log(`built ${relative(packageDir, out)}${note}`);
}

if (debug) {
  build('simd', join(packageDir, 'build/allocator.debug.wasm'));
} else if (profile) {
  build('simd', join(packageDir, 'build/allocator.profile.wasm'));
} else if (argument('--out')) {
  build('simd', argument('--out'));
} else {
  const outDir = argument('--out-dir') ?? join(packageDir, 'wasm');
  const only = argument('--variant');
  if (only && !variants[only]) throw new Error(`unknown variant ${only}: one of ${Object.keys(variants).join(', ')}`);
  for (const name of only ? [only] : Object.keys(variants)) build(name, join(outDir, variants[name].file));
}
