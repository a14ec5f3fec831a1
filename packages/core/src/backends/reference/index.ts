import { OptionError } from '../../errors.js';
import type { CacheGeometry } from '../../geometry.js';
import { Transformer } from '../../model/forward.js';
import type { Model } from '../../model/model.js';
import type { KvStore } from '../../store.js';
import { ReferenceStore } from './reference-store.js';
import { type KvFormat, type StoreOptions, checkKvFormat, headFormatsOf } from '../kv-format.js';
import type { Backend, ForwardPass, KvPool } from '../backend.js';
import { compressOnCpu, evictLayerOnCpu, planOnCpu, scoreLayerOnCpu } from '../cpu-planning.js';

/**
 * The reference backend: plain TypeScript arrays, the CPU forward pass and the CPU planner. Obviously
 * correct and slow; every other backend is held to it.
 */
export class ReferenceBackend implements Backend {
  /** Which backend this is. */
  readonly name = 'reference' as const;
  readonly description = 'TypeScript reference (plain arrays; the twin every fast path is checked against)';
  readonly kvFormats = ['f32'] as const;
  readonly mixedKvFormats = false;
  /** Entries are not paged: a head holds exactly its rows. */
  readonly storeBlockSize = 1;

  /** One f32 row of K and of V. */
  blockBytes(format: KvFormat, headDim: number): number {
    checkKvFormat(format, this.kvFormats, 'reference');
    return 8 * headDim;
  }

  createStore(geometry: CacheGeometry, options: StoreOptions = {}): KvStore {
    headFormatsOf(geometry, options, this.kvFormats, 'reference');
    return new ReferenceStore(geometry);
  }

  owns(store: KvStore): boolean {
    return store instanceof ReferenceStore;
  }

  createPool(): KvPool {
    throw new OptionError('The reference backend has no paged pool; serve many sequences on the wasm or webgpu backend.');
  }

  forwardPass(model: Model): ForwardPass {
    return new Transformer(model);
  }

  readonly plan = planOnCpu;
  readonly compress = compressOnCpu;
  readonly evictLayer = evictLayerOnCpu;
  readonly scoreLayer = scoreLayerOnCpu;

  dispose(): void {}
}
