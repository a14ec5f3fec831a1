export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * A progress bar for long work. On a terminal it redraws one line in place; elsewhere (CI logs, pipes)
 * it prints a line at most every 10% so logs stay short.
 */
export class ProgressBar {
  private lastDecile = -1;
  private finished = false;

  constructor(
    private readonly label: string,
    private readonly stream: ProgressStream = process.stderr,
  ) {}

  update(done: number, total: number, detail = ''): void {
    if (this.finished) return;
    const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
    const percent = Math.floor(fraction * 100);
    if (this.stream.isTTY) {
      const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - this.label.length - detail.length - 12));
      const filled = Math.round(fraction * width);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      this.stream.write(`\r${this.label} ${bar} ${String(percent).padStart(3)}% ${detail}\x1b[K`);
    } else {
      const decile = Math.floor(percent / 10);
      if (decile === this.lastDecile) return;
      this.lastDecile = decile;
      this.stream.write(`${this.label} ${percent}%${detail ? ` ${detail}` : ''}\n`);
    }
  }

  done(message?: string): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream.isTTY) this.stream.write(`\r\x1b[K${message ? `${message}\n` : ''}`);
    else if (message) this.stream.write(`${message}\n`);
  }
}
