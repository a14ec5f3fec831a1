export { type Spread, klDivergence, logSoftmax, negativeLogLikelihood, spread } from './distributions.js';
export { type FidelityOptions, type FidelityReport, type FidelityRow, evaluateFidelity } from './fidelity.js';
