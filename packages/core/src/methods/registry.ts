import { UnknownMethodError } from '../errors.js';
import { adaptive } from './ada-kv.js';
import { full } from './full.js';
import { h2o } from './h2o.js';
import { pyramidkv } from './pyramidkv.js';
import { snapkv } from './snapkv.js';
import { streamingllm } from './streamingllm.js';
import type { Method } from './types.js';

const registry: readonly Method[] = [full, streamingllm, h2o, snapkv, pyramidkv, adaptive(snapkv), adaptive(pyramidkv)];

/** Names of the registered methods, in display order. */
export const methodNames: readonly string[] = registry.map((m) => m.name);

export function listMethods(): readonly Method[] {
  return registry;
}

export function getMethod(name: string): Method {
  const method = registry.find((m) => m.name === name);
  if (!method) throw new UnknownMethodError(name, methodNames);
  return method;
}
