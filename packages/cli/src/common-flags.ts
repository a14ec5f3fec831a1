import { BACKEND_CHOICES, KV_FORMATS, OptionError, methodNames } from '@adakv/core';
import { type Command, Option } from 'commander';
import { integer, number } from './options.js';

/** `--model` / `--tokenizer`: any supported model instead of the default. */
export function modelFlags(command: Command): Command {
  return command
    .option('--model <file|name>', 'a .gguf or llama2.c .bin file, or the name of a cached model (`adakv models list`), instead of the default stories15M')
    .option('--tokenizer <file>', 'tokenizer.bin for a llama2.c model');
}

/** `--window` / `--alpha`: the method options every command shares. */
export function methodOptionFlags(command: Command): Command {
  return command
    .option('--window <tokens>', 'observation window: the last prompt tokens, always kept, whose queries score the rest', integer(1), 16)
    .option('--alpha <a>', "Ada-KV safeguard: each head's guaranteed share (1 = uniform)", number(0, 1), 0.2);
}

export const methodOption = () => new Option('--method <name>', 'compression method').choices(methodNames).default('ada-snapkv');
export const threadsOption = () =>
  new Option('--threads <n>', 'threads the wasm engine runs the model on (default: the available cores; results do not depend on it)').argParser(integer(1, 64));

export const kvFormatOption = (what: string) =>
  new Option('--kv-format <format>', `how ${what} stores K/V: f32, f16, or int8 / int4 (KIVI-style scales; wasm and webgpu)`).choices(KV_FORMATS);

export const backendOption = () =>
  new Option('--backend <name>', 'where the model and its KV cache run: wasm, webgpu, reference, or auto (WebGPU on a hardware adapter, else wasm)').choices(BACKEND_CHOICES).default('wasm');

export const fullPrecisionWindowOption = () =>
  new Option(
    '--full-precision-window',
    "with --kv-bytes: keep the protected window in f32 (int8/int4 heads hold it in a residual block counted in the budget); the window must be shorter than a block, so a --window left at its default becomes one less than the store's block size",
  );

/** Refuses `--full-precision-window` without `--kv-bytes`: it shapes a byte budget's plan only. */
export function checkFullPrecisionWindow(flags: { fullPrecisionWindow?: boolean; kvBytes?: unknown }): void {
  if (flags.fullPrecisionWindow && flags.kvBytes === undefined) throw new OptionError('--full-precision-window applies to a byte budget: give --kv-bytes too.');
}

/**
 * The window a byte budget runs with: the `--window` given, or with `--full-precision-window` and the
 * default window, at most one less than the store's block size (an int8/int4 head holds it in one
 * block's f32 rows).
 */
export function byteBudgetWindow(flags: { window: number; fullPrecisionWindow?: boolean }, windowIsDefault: boolean, blockSize: number): number {
  // blocks of one row (the reference backend) hold f32 only: any window is already at full precision
  return flags.fullPrecisionWindow && windowIsDefault && blockSize > 1 ? Math.min(flags.window, blockSize - 1) : flags.window;
}
