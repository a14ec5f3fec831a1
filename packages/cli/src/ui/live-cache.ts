import type { ProgressStream } from './progress.js';

/** What one frame of the live view shows: each (layer, KV head)'s entries now, the position, the evictions so far. */
export interface CacheSnapshot {
  /** Entries each KV head of each layer holds: `[layer][head]`. */
  readonly lengths: readonly (readonly number[])[];
  /** Tokens the sequence has seen. */
  readonly position: number;
  /** Entries evicted so far by decode-time eviction. */
  readonly evicted: number;
  /** The end of the generated text, shown under the rows. */
  readonly text?: string;
}

const BARS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/**
 * The KV cache as decoding goes, one row per layer: a bar per KV head (its entries against the largest
 * any head holds), the layer's entries, and what eviction took from it since the previous frame (each
 * step adds one entry per head; what is missing beyond that was evicted). On a
 * terminal the frame is redrawn in place; elsewhere (logs, pipes) a frame is printed every `every`
 * calls and at the end.
 */
export class LiveCacheView {
  private previous: CacheSnapshot | null = null;
  private drawnLines = 0;
  private calls = 0;

  constructor(
    private readonly stream: ProgressStream,
    private readonly every = 16,
  ) {}

  /** The frame's lines for `snapshot` (what `update` draws), evictions counted since the last drawn frame. */
  frame(snapshot: CacheSnapshot): string[] {
    const { lengths, position, evicted } = snapshot;
    const largest = Math.max(1, ...lengths.flat());
    const entries = lengths.flat().reduce((sum, n) => sum + n, 0);
    const perHead = entries / Math.max(1, lengths.flat().length);
    const labelWidth = String(lengths.length - 1).length;
    const steps = this.previous ? position - this.previous.position : 0;
    const rows = lengths.map((heads, layer) => {
      const bars = heads.map((n) => BARS[Math.min(BARS.length - 1, Math.floor((n / largest) * BARS.length))]!).join('');
      const total = heads.reduce((sum, n) => sum + n, 0);
      const before = this.previous?.lengths[layer]?.reduce((sum, n) => sum + n, 0);
      const dropped = before === undefined ? 0 : before + steps * heads.length - total;
      return `layer ${String(layer).padStart(labelWidth)} ${bars} ${String(total).padStart(6)}${dropped > 0 ? `  -${dropped}` : ''}`;
    });
    const ratio = perHead > 0 ? position / perHead : 1;
    const header = `position ${position} · ${perHead.toFixed(1)} entries per head (${ratio.toFixed(1)}x smaller) · evicted ${evicted}`;
    const text = snapshot.text === undefined ? [] : [`… ${snapshot.text.replace(/\s+/g, ' ').slice(-70)}`];
    return [header, ...rows, ...text];
  }

  /** Draws the snapshot (redrawn in place on a terminal, every `every` calls elsewhere). */
  update(snapshot: CacheSnapshot): void {
    if (this.stream.isTTY) {
      const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
      const lines = this.draw(snapshot);
      this.stream.write(`${up}${lines.map((line) => `\r${line}\x1b[K`).join('\n')}\n`);
      this.drawnLines = lines.length;
    } else if (this.calls % this.every === 0) {
      this.stream.write(`${this.draw(snapshot).join('\n')}\n`);
    }
    this.calls++;
  }

  /** The last frame, for a log that only got every `every`-th one. */
  finish(snapshot: CacheSnapshot): void {
    if (!this.stream.isTTY && (this.calls - 1) % this.every !== 0) this.stream.write(`${this.draw(snapshot).join('\n')}\n`);
  }

  /** The frame, remembered as the one the next frame's evictions are counted from. */
  private draw(snapshot: CacheSnapshot): string[] {
    const lines = this.frame(snapshot);
    this.previous = { ...snapshot, lengths: snapshot.lengths.map((heads) => [...heads]) };
    return lines;
  }
}
