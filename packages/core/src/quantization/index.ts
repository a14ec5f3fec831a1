export { type HeadRows, type QuantizeHeadRowsOptions, quantizeHeadRows } from './quantize-head-rows.js';
export { bytesPerBlock, heldBytes } from './held-bytes.js';
export { storedHalf } from './half.js';
export { type HeadKv, readHeadKv, storeKeptRows } from './store-kept-rows.js';
export { type HeldOutReference, heldOutReference, keptOutputL1 } from './quantized-attention-l1.js';
export { parseByteFraction, parseKvBytes } from './parse-kv-bytes.js';
export { type ByteFraction, type BytePlan, type BytePlanCandidate, type BytePlanInput, DEFAULT_BYTE_METHOD, planForBytes } from './plan-for-bytes.js';
export { type KvByteBudget, type StoreForBytes, storeForBytes } from './store-for-bytes.js';
