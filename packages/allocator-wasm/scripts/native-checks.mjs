// Checks that need the C++ toolchains, run before the vitest suite by `npm test`:
//   1. reproducible wasm: rebuilds every variant (allocator.wasm, allocator.threads.wasm) with emcc and
//      fails if any differs from the committed file; then builds build/allocator.debug.wasm, which the
//      vitest property test also runs;
//   2. the native tests under -fsanitize=address,undefined: the pool's invariant test (400 random
//      operation sequences against a shadow model) and the engine test (every matmul kernel on random
//      blocks of every format, the forward pass against an f64 reference, typed errors);
//   3. a bounded libFuzzer run over operation sequences (FUZZ_SECONDS, default 20 in CI, 5 locally).
// A missing toolchain is a failure, never a skip (the root `npm test` installs them first).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(packageDir, 'build', 'native');
const inCi = process.env.CI === 'true';
const fuzzSeconds = Number(process.env.FUZZ_SECONDS ?? (inCi ? 20 : 5));
const sourceDirs = ['src/cpp', 'src/cpp/engine'];
const filesIn = (dir, suffix) => readdirSync(join(packageDir, dir)).filter((f) => f.endsWith(suffix)).sort().map((f) => `${dir}/${f}`);
// The native builds use every .cpp (simd.h's plain lanes, one thread); thread_stack.S is wasm-only.
const cppSources = sourceDirs.flatMap((dir) => filesIn(dir, '.cpp'));
mkdirSync(buildDir, { recursive: true });

function has(tool) {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

function requireTool(tool, purpose) {
  if (has(tool)) return true;
  console.error(`${tool} is missing, so ${purpose} cannot run: apt-get install emscripten clang libclang-rt-14-dev (the root npm test does it).`);
  process.exit(1);
}

function run(command, args) {
  execFileSync(command, args, { cwd: packageDir, stdio: 'inherit' });
}

// Rebuilds a native binary only when its sources or flags changed.
function buildNative(name, flags, extraSources) {
  const output = join(buildDir, name);
  const inputs = [...cppSources, ...sourceDirs.flatMap((dir) => filesIn(dir, '.h')), ...filesIn('test/native', '')];
  const hash = createHash('sha256').update(flags.join(' '));
  for (const input of inputs.sort()) hash.update(input).update(readFileSync(join(packageDir, input)));
  const digest = hash.digest('hex');
  const stamp = `${output}.sha256`;
  if (existsSync(output) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return output;
  run('clang++', [...flags, ...cppSources, ...extraSources, '-o', output]);
  writeFileSync(stamp, digest);
  return output;
}

if (requireTool('emcc', 'the reproducible-wasm check')) {
  const rebuiltDir = join(packageDir, 'build', 'rebuilt');
  run('node', ['scripts/build-wasm.mjs', '--out-dir', rebuiltDir]);
  const rebuilt = readdirSync(rebuiltDir).filter((f) => f.endsWith('.wasm')).sort();
  const committed = readdirSync(join(packageDir, 'wasm')).filter((f) => f.endsWith('.wasm')).sort();
  if (rebuilt.join() !== committed.join()) {
    console.error(`wasm/ holds ${committed.join(', ')} but the build makes ${rebuilt.join(', ')}: run \`npm run build:wasm\` and commit the result.`);
    process.exit(1);
  }
  for (const file of rebuilt) {
    if (!readFileSync(join(rebuiltDir, file)).equals(readFileSync(join(packageDir, 'wasm', file)))) {
      console.error(`wasm/${file} differs from a rebuild of src/cpp: run \`npm run build:wasm\` and commit the result.`);
      process.exit(1);
    }
  }
  console.log(`wasm/{${rebuilt.join(', ')}} match a rebuild from source`);
  // The debug build (assertions on: the pool re-checks itself after every change) for the vitest suite.
  run('node', ['scripts/build-wasm.mjs', '--debug']);
}

if (requireTool('clang++', 'the native sanitizer and fuzz checks')) {
  const common = ['-std=c++17', '-g', '-O1', '-fno-sanitize-recover=all', '-Wall', '-Wextra', '-Werror'];
  const invariants = buildNative('invariants', [...common, '-fsanitize=address,undefined'], ['test/native/invariants_test.cpp']);
  run(invariants, []);
  const engine = buildNative('engine', [...common, '-fsanitize=address,undefined'], ['test/native/engine_test.cpp']);
  run(engine, []);
  const fuzzer = buildNative('fuzz_operations', [...common, '-fsanitize=fuzzer,address,undefined'], ['test/native/fuzz_operations.cpp']);
  const corpus = join(buildDir, 'corpus');
  mkdirSync(corpus, { recursive: true });
  run(fuzzer, [`-max_total_time=${fuzzSeconds}`, '-max_len=4096', '-print_final_stats=1', corpus]);
  console.log(`libFuzzer ran ${fuzzSeconds} s over operation sequences without a failure`);
}
