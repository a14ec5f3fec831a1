/**
 * OpenAI's `stop` for text that arrives piece by piece: `push` returns what can be shown now, up to
 * (and without) the first stop string, and holds back a tail that could still begin one, so that a
 * stream never shows part of a stop string it later removes. After a stop, everything is dropped.
 */
export class StopMatcher {
  private held = '';
  private stopped = false;
  private readonly stops: readonly string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((stop) => stop.length > 0);
  }

  get hasStopped(): boolean {
    return this.stopped;
  }

  /** The text that can be emitted after `piece`, and whether a stop string was completed. */
  push(piece: string): { text: string; stopped: boolean } {
    if (this.stopped) return { text: '', stopped: true };
    if (this.stops.length === 0) return { text: piece, stopped: false };
    const buffer = this.held + piece;
    let first = -1;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      this.stopped = true;
      this.held = '';
      return { text: buffer.slice(0, first), stopped: true };
    }
    // the longest end of the buffer that is the start of some stop string waits for more text
    let keep = 0;
    for (const stop of this.stops) {
      for (let length = Math.min(stop.length - 1, buffer.length); length > keep; length--) {
        if (buffer.endsWith(stop.slice(0, length))) {
          keep = length;
          break;
        }
      }
    }
    this.held = buffer.slice(buffer.length - keep);
    return { text: buffer.slice(0, buffer.length - keep), stopped: false };
  }

  /** What was held back, once no more text will come (nothing after a stop). */
  flush(): string {
    const rest = this.stopped ? '' : this.held;
    this.held = '';
    return rest;
  }
}
