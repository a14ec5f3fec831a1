// moduleResolution node10 (no exports maps): the subpath resolves through core's node/ stub folder.
import { DEMO_PROMPT, type Model } from '@adakv/core';
import { defaultCacheDir, loadDefaultModel } from '@adakv/core/node';
import type { GpuContext } from '@adakv/gpu';

export const where: string = defaultCacheDir();
export const load: () => Promise<Model> = loadDefaultModel;
export const prompt: string = DEMO_PROMPT;
export const device = (gpu: GpuContext): GPUDevice => gpu.device;
