import { validateGeometry } from '@adakv/core';
import { formatBytes } from './format.js';

const status = document.querySelector('#status');
const g = validateGeometry({ layers: 6, queryHeads: 6, kvHeads: 6, headDim: 48 });
const fullCacheBytes = g.layers * g.kvHeads * g.headDim * 2 * 4 * 256;
if (status) status.textContent = `stories15M full cache at 256 tokens: ${formatBytes(fullCacheBytes)}`;
