// `npm test` runs this first. Some suites need Debian packages a fresh machine lacks: emscripten
// (the reproducible allocator.wasm), clang with its sanitizer runtime (native checks and fuzzing),
// Chromium (browser suites, and its SwiftShader Vulkan driver for WebGPU through Dawn) and libvulkan1.
// Missing ones are installed when we run as root with apt-get; otherwise we stop at once with the
// one command that installs them. No suite is ever skipped for want of a package.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const chromium = process.env.ADAKV_CHROMIUM ?? '/usr/bin/chromium';

const succeeds = (command, args) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
const output = (command, args) => spawnSync(command, args, { encoding: 'utf8' }).stdout?.trim() ?? '';

function hasSanitizerRuntime() {
  const dir = output('clang', ['-print-runtime-dir']);
  return dir !== '' && existsSync(dir) && readdirSync(dir).some((file) => file.includes('asan'));
}

function hasVulkanLoader() {
  return /libvulkan\.so\.1\b/.test(output('ldconfig', ['-p'])) || existsSync('/usr/lib/x86_64-linux-gnu/libvulkan.so.1');
}

function hasVulkanDriver() {
  const icd = process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json';
  return icd.split(':').every((file) => existsSync(file));
}

/** Debian package -> whether what the suites use from it is present. */
const requirements = [
  ['emscripten', () => succeeds('emcc', ['--version'])],
  ['clang', () => succeeds('clang++', ['--version'])],
  ['libclang-rt-14-dev', hasSanitizerRuntime],
  ['chromium', () => existsSync(chromium) && hasVulkanDriver()],
  ['libvulkan1', hasVulkanLoader],
];

const missing = () => requirements.filter(([, present]) => !present()).map(([name]) => name);
const absent = missing();
if (absent.length === 0) process.exit(0);

const install = `apt-get update && apt-get install -y --no-install-recommends ${absent.join(' ')}`;
const sudoInstall = `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${absent.join(' ')}`;
const canInstall = process.getuid?.() === 0 && succeeds('apt-get', ['--version']);
if (!canInstall) {
  console.error(`The test suites need these system packages: ${absent.join(', ')}. Install them, then run npm test again:\n  ${sudoInstall}`);
  process.exit(1);
}
console.log(`Installing the system packages the test suites need: ${absent.join(', ')} ...`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...absent]]) {
  const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (result.status !== 0) {
    console.error(`apt-get ${args.join(' ')} failed (exit ${result.status}); run it by hand:\n  ${install}`);
    process.exit(1);
  }
}
const still = missing();
if (still.length > 0) {
  console.error(`Installed, but still missing what the suites use from: ${still.join(', ')}. Check ${join('scripts', 'ensure-system-packages.mjs')}.`);
  process.exit(1);
}
console.log('System packages installed.');
