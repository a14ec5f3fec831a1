/** Where a command writes: the process's streams, or captured ones in tests. */
export interface CliIo {
  /** Where results go. */
  stdout: NodeJS.WritableStream & {
    /** Whether it is a terminal (the progress bar redraws in place, and colours, only then). */
    isTTY?: boolean;
    /** The terminal's width in characters (sizes the progress bar). */
    columns?: number;
  };
  /** Where progress, notices and errors go. */
  stderr: NodeJS.WritableStream & {
    /** Whether it is a terminal (the progress bar redraws in place, and colours, only then). */
    isTTY?: boolean;
    /** The terminal's width in characters (sizes the progress bar). */
    columns?: number;
  };
  /** Where `-` reads from (`adakv eval --text-file -`); `process.stdin` by default. */
  stdin?: NodeJS.ReadableStream;
  /**
   * The environment colour is decided by (`NO_COLOR`, `FORCE_COLOR`, `TERM`); `process.env` by
   * default. (Other settings, such as the cache folder and the npm registry, are read from
   * `process.env`.)
   */
  env?: Readonly<Record<string, string | undefined>>;
}
