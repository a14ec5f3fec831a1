export { type LayerSummary, windowAttention } from './window-attention.js';
export { retainedMass } from './retained-mass.js';
export { attentionOutputL1 } from './attention-output-l1.js';
export { type Concentration, type HeadConcentration, concentration } from './concentration.js';
export { type PlanBytes, kvBytes, planKvBytes } from './kv-bytes.js';
