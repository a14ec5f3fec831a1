import type { Engine, ModelLoadOptions, WasmModel } from '@adakv/allocator-wasm';
import { OptionError } from '../../errors.js';
import type { PrefillOptions, PrefillOutput } from '../../model/forward.js';
import { checkPosition, checkPrefillInput, checkToken, nonFiniteLogits } from '../../model/forward-checks.js';
import type { Model } from '../../model/model.js';
import type { KvStore } from '../../store.js';
import type { ForwardPass } from '../backend.js';
import { translated } from './paged-errors.js';
import { PagedStore } from './paged-store.js';

/** One upload of a model's weights per engine (a backend has its own engine, so one set of load options). */
const uploads = new WeakMap<Engine, WeakMap<Model, WasmModel>>();

function weightsOn(engine: Engine, model: Model, options: ModelLoadOptions): WasmModel {
  let models = uploads.get(engine);
  if (!models) uploads.set(engine, (models = new WeakMap()));
  let uploaded = models.get(model);
  if (!uploaded || uploaded.disposed) {
    // quantized weights as stored: the engine reads them in place (no f32 copy is ever made)
    uploaded = translated(() => engine.loadModel(model.config, model.storedWeights ?? model.weights, options));
    models.set(model, uploaded);
  }
  return uploaded;
}

/**
 * The forward pass in the engine's WebAssembly (C++ with SIMD, threads over shared memory): the
 * weights live in the same memory as the block pool, so K/V are appended to the sequence's blocks and
 * attention reads them in place, with no copy per step. LLaMA and Qwen 2 models (Q/K/V biases, NeoX
 * RoPE, any GQA group). Prefill is one call per prompt or per chunk of one (a chunk at `start` attends
 * in place over the blocks the chunks before it filled), a decode step one call for a whole batch
 * (every weight row read once for all sequences).
 */
export class WasmForwardPass implements ForwardPass {
  private readonly uploaded: WasmModel;
  /** In the engine's memory, each tensor in its own format. */
  readonly weights: { readonly residentBytes: number; readonly parameters: number; readonly screenBytes: number };

  constructor(private readonly engine: Engine, readonly model: Model, options: ModelLoadOptions = {}) {
    this.uploaded = weightsOn(engine, model, options);
    this.weights = { residentBytes: this.uploaded.residentWeightBytes, parameters: this.uploaded.parameterCount, screenBytes: this.uploaded.screenBytes };
  }

  async prefill(tokens: ArrayLike<number>, store: KvStore, options: PrefillOptions = {}): Promise<PrefillOutput> {
    const paged = this.inEngine(store);
    const start = options.start ?? 0;
    const observe = options.observations !== false;
    checkPrefillInput(this.model.config, tokens, paged, start);
    // one engine call for the prompt or the chunk (a chunk needs the store to hold exactly 0..start-1)
    const { logits, observations } = translated(() =>
      this.uploaded.prefill(paged.blocks, paged.handle, tokens, { start, observations: observe || paged.recording }));
    const positions = Int32Array.from({ length: tokens.length }, (_, t) => start + t);
    paged.recordStep(positions);
    // a recording store keeps the chunk's last query rows, where compression and eviction score from
    if (paged.recording) observations!.forEach((observation, layer) => paged.seedQueries(layer, observation.queries, positions));
    return { logits, observations: observe ? observations! : [] };
  }

  async decode(token: number, position: number, store: KvStore): Promise<Float32Array> {
    return (await this.decodeBatch([token], [position], [store]))[0]!;
  }

  async decodeBatch(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<Float32Array[]> {
    const { logits } = this.step(tokens, positions, stores, false);
    const vocab = this.model.config.vocabSize;
    return tokens.map((_, i) => logits!.subarray(i * vocab, (i + 1) * vocab));
  }

  /** The argmax in the engine, without the logits (through its classifier screen when it has one). */
  async decodeGreedy(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<number[]> {
    const { argmax } = this.step(tokens, positions, stores, true);
    return Array.from(argmax!, (token, i) => {
      if (token < 0) throw nonFiniteLogits(positions[i]! + 1);
      return token;
    });
  }

  /** One engine call for the batch; each recording store gets its step's queries. */
  private step(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[], greedy: boolean): { logits?: Float32Array; argmax?: Int32Array } {
    const { config } = this.model;
    if (tokens.length !== positions.length || tokens.length !== stores.length || tokens.length === 0) {
      throw new OptionError(`decode: ${tokens.length} tokens, ${positions.length} positions and ${stores.length} stores must match (at least one).`);
    }
    const paged = stores.map((store) => this.inEngine(store));
    const pool = paged[0]!.blocks;
    if (paged.some((store) => store.blocks !== pool)) {
      throw new OptionError('decode: the sequences of one batch must share one pool (stores of one backend, or of one scheduler pool).');
    }
    tokens.forEach((token) => checkToken(config, token));
    positions.forEach((position) => checkPosition(config, position));
    const recording = paged.some((store) => store.recording);
    const steps = paged.map((store, i) => ({ sequence: store.handle, token: tokens[i]!, position: positions[i]! }));
    const { logits, argmax, queries } = translated(() => this.uploaded.decodeBatch(pool, steps, { queries: recording, logits: !greedy, argmax: greedy }));
    if (recording) {
      const rowFloats = config.queryHeads * config.headDim;
      const layerFloats = tokens.length * rowFloats;
      paged.forEach((store, i) => {
        if (!store.recording) return;
        const offset = i * rowFloats;
        store.recordStep(Int32Array.of(positions[i]!), (layer) => queries!.subarray(layer * layerFloats + offset, layer * layerFloats + offset + rowFloats));
      });
    }
    return { logits, argmax };
  }

  private inEngine(store: KvStore): PagedStore {
    if (!(store instanceof PagedStore) || store.blocks.allocator !== this.engine.allocator) {
      throw new OptionError('The WebAssembly forward pass needs a store made by the same wasm backend (its K/V must live in the engine\'s memory).');
    }
    return store;
  }
}
