// Types of stories15m.mjs, for the tests that share it.
import type { EngineModelConfig, EngineModelWeights } from '../src/index.js';

export declare function peerFolder(): string;
export declare const PROMPT_TOKENS: number[];
export declare const ONCE_UPON_A_TIME: number[];
export declare function loadStories15M(): { config: EngineModelConfig; weights: EngineModelWeights };
export declare function argmax(values: ArrayLike<number>): number;
export interface Llama2Peer {
  run(tokens: number[], steps: number, options?: { keepLogits?: boolean }): { prefill: number; decode: number; tokens: number[]; logits: Float32Array[] };
}
export declare function loadPeer(): Promise<Llama2Peer>;
