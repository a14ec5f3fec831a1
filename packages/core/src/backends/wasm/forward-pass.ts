import type { Engine, WasmModel } from '@adakv/allocator-wasm';
import { OptionError } from '../../errors.js';
import type { PrefillOptions, PrefillOutput } from '../../model/forward.js';
import type { LayerObservation } from '../../model/observation.js';
import { checkLogits, checkPosition, checkPrefillInput, checkToken } from '../../model/forward-checks.js';
import type { Model } from '../../model/model.js';
import { refuseUnsupported } from '../unsupported.js';
import { argmax } from '../../model/sampler.js';
import type { KvStore } from '../../store.js';
import type { ForwardPass } from '../backend.js';
import { translated } from './paged-errors.js';
import { PagedStore } from './paged-store.js';

/** One upload of a model's weights per engine. */
const uploads = new WeakMap<Engine, WeakMap<Model, WasmModel>>();

function weightsOn(engine: Engine, model: Model): WasmModel {
  let models = uploads.get(engine);
  if (!models) uploads.set(engine, (models = new WeakMap()));
  let uploaded = models.get(model);
  if (!uploaded || uploaded.disposed) {
    // quantized weights as stored: the engine reads them in place (no f32 copy is ever made)
    uploaded = translated(() => engine.loadModel(model.config, model.storedWeights ?? model.weights));
    models.set(model, uploaded);
  }
  return uploaded;
}

/**
 * The forward pass in the engine's WebAssembly (C++ with SIMD, threads over shared memory): the
 * weights live in the same memory as the block pool, so K/V are appended to the sequence's blocks and
 * attention reads them in place, with no copy per step. Prefill is one call for the whole prompt, a
 * decode step one call for a whole batch (every weight row read once for all sequences).
 */
export class WasmForwardPass implements ForwardPass {
  private readonly uploaded: WasmModel;
  /** In the engine's memory, each tensor in its own format. */
  readonly weights: { readonly residentBytes: number; readonly parameters: number };

  constructor(private readonly engine: Engine, readonly model: Model) {
    refuseUnsupported(model, 'wasm');
    this.uploaded = weightsOn(engine, model);
    this.weights = { residentBytes: this.uploaded.residentWeightBytes, parameters: this.uploaded.parameterCount };
  }

  async prefill(tokens: ArrayLike<number>, store: KvStore, options: PrefillOptions = {}): Promise<PrefillOutput> {
    const paged = this.inEngine(store);
    const start = options.start ?? 0;
    const observe = options.observations ?? true;
    checkPrefillInput(this.model.config, tokens, paged, start);
    if (start > 0) return this.continuePrompt(tokens, paged, start, observe);
    const { logits, observations } = translated(() => this.uploaded.prefill(paged.blocks, paged.handle, tokens, { observations: observe || paged.recording }));
    const positions = Int32Array.from({ length: tokens.length }, (_, t) => t);
    paged.recordStep(positions);
    if (paged.recording) observations!.forEach((observation, layer) => paged.seedQueries(layer, observation.queries, positions));
    return { logits, observations: observe ? observations! : [] };
  }

  /**
   * A later chunk of a prompt, one engine decode step per token (each appends and attends in place
   * over the chunks before); its observations gathered from the steps' queries and the store's tail.
   */
  private async continuePrompt(tokens: ArrayLike<number>, paged: PagedStore, start: number, observe: boolean): Promise<PrefillOutput> {
    const { layers, kvHeads, queryHeads, headDim } = this.model.config;
    const n = tokens.length;
    const rowFloats = queryHeads * headDim;
    const queries = observe ? Array.from({ length: layers }, () => new Float32Array(n * rowFloats)) : [];
    let logits: Float32Array | undefined;
    for (let t = 0; t < n; t++) {
      const step = translated(() => this.uploaded.decodeBatch(paged.blocks, [{ sequence: paged.handle, token: tokens[t]!, position: start + t }], { queries: observe || paged.recording }));
      logits = step.logits!;
      paged.recordStep(Int32Array.of(start + t), paged.recording ? (layer) => step.queries!.subarray(layer * rowFloats, (layer + 1) * rowFloats) : undefined);
      queries.forEach((rows, layer) => rows.set(step.queries!.subarray(layer * rowFloats, (layer + 1) * rowFloats), t * rowFloats));
    }
    if (!observe) return { logits: logits!, observations: [] };
    const observations: LayerObservation[] = [];
    for (let layer = 0; layer < layers; layer++) {
      const keys = new Float32Array(n * kvHeads * headDim);
      const values = new Float32Array(n * kvHeads * headDim);
      for (let h = 0; h < kvHeads; h++) {
        const [k, v] = [await paged.keys(layer, h), await paged.values(layer, h)];
        const first = k.length / headDim - n;
        for (let t = 0; t < n; t++) {
          keys.set(k.subarray((first + t) * headDim, (first + t + 1) * headDim), (t * kvHeads + h) * headDim);
          values.set(v.subarray((first + t) * headDim, (first + t + 1) * headDim), (t * kvHeads + h) * headDim);
        }
      }
      observations.push({ queries: queries[layer]!, keys, values });
    }
    return { logits: logits!, observations };
  }

  async decode(token: number, position: number, store: KvStore): Promise<Float32Array> {
    return (await this.decodeBatch([token], [position], [store]))[0]!;
  }

  async decodeBatch(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<Float32Array[]> {
    const { logits } = this.step(tokens, positions, stores);
    const vocab = this.model.config.vocabSize;
    return tokens.map((_, i) => logits.subarray(i * vocab, (i + 1) * vocab));
  }

  async decodeGreedy(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): Promise<number[]> {
    return (await this.decodeBatch(tokens, positions, stores)).map((row, i) => argmax(checkLogits(row, positions[i]! + 1)));
  }

  /** One engine call for the batch; each recording store gets its step's queries. */
  private step(tokens: readonly number[], positions: readonly number[], stores: readonly KvStore[]): { logits: Float32Array } {
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
    const { logits, queries } = translated(() => this.uploaded.decodeBatch(pool, steps, { queries: recording }));
    if (recording) {
      const rowFloats = config.queryHeads * config.headDim;
      const layerFloats = tokens.length * rowFloats;
      paged.forEach((store, i) => {
        if (!store.recording) return;
        const offset = i * rowFloats;
        store.recordStep(Int32Array.of(positions[i]!), (layer) => queries!.subarray(layer * layerFloats + offset, layer * layerFloats + offset + rowFloats));
      });
    }
    return { logits: logits! };
  }

  private inEngine(store: KvStore): PagedStore {
    if (!(store instanceof PagedStore) || store.blocks.allocator !== this.engine.allocator) {
      throw new OptionError('The WebAssembly forward pass needs a store made by the same wasm backend (its K/V must live in the engine\'s memory).');
    }
    return store;
  }
}
