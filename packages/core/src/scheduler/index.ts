export { Scheduler, type SchedulerOptions } from './scheduler.js';
export { type CompletionRequest, type GeneratedTokenEvent, resolveRequest } from './request.js';
export type { CompletionHandle, CompletionResult, FinishReason } from './sequence.js';
export type { SchedulerTotals, StepMetrics } from './metrics.js';
