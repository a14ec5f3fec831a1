// Checks that need the C++ toolchains, run before the vitest suite by `npm test`:
//   1. reproducible wasm: rebuilds allocator.wasm with emcc and fails if it differs from the committed file;
//   2. the native invariant test under -fsanitize=address,undefined;
//      and builds build/allocator.debug.wasm, which the vitest property test also runs;
//   3. a bounded libFuzzer run over operation sequences (FUZZ_SECONDS, default 20 in CI, 5 locally).
// With CI=true a missing toolchain is a failure; locally it is reported and that check is skipped.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(packageDir, 'build', 'native');
const inCi = process.env.CI === 'true';
const fuzzSeconds = Number(process.env.FUZZ_SECONDS ?? (inCi ? 20 : 5));
const cppSources = readdirSync(join(packageDir, 'src/cpp')).filter((f) => f.endsWith('.cpp')).sort().map((f) => `src/cpp/${f}`);
mkdirSync(buildDir, { recursive: true });

function has(tool) {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

function requireTool(tool, purpose) {
  if (has(tool)) return true;
  if (inCi) {
    console.error(`CI: ${tool} is missing, so ${purpose} cannot run (apt-get install emscripten clang libclang-rt-14-dev).`);
    process.exit(1);
  }
  console.warn(`skipped: ${purpose} (${tool} not installed; CI=true makes this a failure)`);
  return false;
}

function run(command, args) {
  execFileSync(command, args, { cwd: packageDir, stdio: 'inherit' });
}

// Rebuilds a native binary only when its sources or flags changed.
function buildNative(name, flags, extraSources) {
  const output = join(buildDir, name);
  const inputs = [...cppSources, ...readdirSync(join(packageDir, 'src/cpp')).filter((f) => f.endsWith('.h')).map((f) => `src/cpp/${f}`),
    ...readdirSync(join(packageDir, 'test/native')).map((f) => `test/native/${f}`)];
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
  const rebuilt = join(packageDir, 'build', 'allocator.rebuilt.wasm');
  run('node', ['scripts/build-wasm.mjs', '--out', rebuilt]);
  if (!readFileSync(rebuilt).equals(readFileSync(join(packageDir, 'wasm/allocator.wasm')))) {
    console.error('wasm/allocator.wasm differs from a rebuild of src/cpp: run `npm run build:wasm` and commit the result.');
    process.exit(1);
  }
  console.log('wasm/allocator.wasm matches a rebuild from source');
  // The debug build (assertions on: the pool re-checks itself after every change) for the vitest suite.
  run('node', ['scripts/build-wasm.mjs', '--debug']);
}

if (requireTool('clang++', 'the native sanitizer and fuzz checks')) {
  const common = ['-std=c++17', '-g', '-O1', '-fno-sanitize-recover=all', '-Wall', '-Wextra', '-Werror'];
  const invariants = buildNative('invariants', [...common, '-fsanitize=address,undefined'], ['test/native/invariants_test.cpp']);
  run(invariants, []);
  const fuzzer = buildNative('fuzz_operations', [...common, '-fsanitize=fuzzer,address,undefined'], ['test/native/fuzz_operations.cpp']);
  const corpus = join(buildDir, 'corpus');
  mkdirSync(corpus, { recursive: true });
  run(fuzzer, [`-max_total_time=${fuzzSeconds}`, '-max_len=4096', '-print_final_stats=1', corpus]);
  console.log(`libFuzzer ran ${fuzzSeconds} s over operation sequences without a failure`);
}
