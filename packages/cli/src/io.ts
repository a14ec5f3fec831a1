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
}
