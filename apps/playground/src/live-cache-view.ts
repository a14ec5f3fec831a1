import { type CacheSample, cacheFrame } from './cache-frames.js';
import { liveCacheHeatmap } from './live-cache-chart.js';
import { liveCacheText } from './summaries.js';

/**
 * The live cache figure during one run. Samples arrive from the decoding loop; each is drawn at the
 * next animation frame, so drawing never holds up a token, and a sample that a newer one overtakes
 * before then is skipped (its evictions are still counted: a frame counts them since the frame drawn
 * before it). `finish` draws the newest sample at once, and that frame stays.
 */
export class LiveCacheView {
  private drawn: CacheSample | null = null;
  private latest: CacheSample | null = null;
  private pending = 0;
  private frames = 0;

  constructor(
    private readonly chart: HTMLElement,
    private readonly summary: HTMLElement,
    private readonly limit: number,
    private readonly steps: number,
  ) {
    chart.textContent = 'Waiting for the first tokens…';
    summary.textContent = '';
  }

  push(sample: CacheSample): void {
    this.latest = sample;
    if (!this.pending) this.pending = requestAnimationFrame(() => this.draw());
  }

  /** Draws the newest sample now (the end of the run, or where Stop left it). */
  finish(): void {
    cancelAnimationFrame(this.pending);
    if (!this.latest) this.chart.textContent = 'The run ended before its cache could be drawn.';
    this.draw();
  }

  private draw(): void {
    this.pending = 0;
    const sample = this.latest;
    if (!sample || sample === this.drawn) return;
    const frame = cacheFrame(this.drawn, sample);
    this.chart.innerHTML = liveCacheHeatmap(frame, this.limit, 'Entries each KV head holds while decoding');
    this.summary.textContent = liveCacheText(frame, this.limit, this.steps);
    this.drawn = sample;
    this.frames++;
    // What the end-to-end test reads of every frame.
    this.chart.dataset.frames = String(this.frames);
    this.chart.dataset.frame = JSON.stringify({ step: frame.step, layerMeans: frame.layerMeans, heldTotal: frame.heldTotal, evictedSoFar: frame.evictedSoFar });
  }
}
