import { AdakvError } from '@adakv/core';
import { type Command, CommanderError } from 'commander';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { createProgram } from './program.js';
import { describeSystemError } from './system-errors.js';
import type { CliIo } from './io.js';

export type { CliIo } from './io.js';

/**
 * Runs the `adakv` command and returns its exit code. User mistakes (bad flags, unusable files, an
 * unwritable folder) print one clear line, never a stack trace; only unexpected failures print the stack.
 */
export async function runCli(argv: readonly string[], io: CliIo = process): Promise<number> {
  const program = createProgram(io);
  // subcommands do not inherit these from their parent, so every command gets them
  const configure = (command: Command, path: string): void => {
    command.exitOverride();
    command.showHelpAfterError(`(run \`${path} --help\` for usage)`);
    command.configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });
    for (const sub of command.commands) configure(sub, `${path} ${sub.name()}`);
  };
  configure(program, 'adakv');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (error instanceof AdakvError) {
      io.stderr.write(`error: ${error.message}\n`);
      return exitCodeFor(error.code);
    }
    const systemError = describeSystemError(error);
    if (systemError) {
      io.stderr.write(`error: ${systemError.message}\n`);
      return systemError.exitCode;
    }
    io.stderr.write(`adakv: unexpected failure; please report it with the command you ran.\n${
      error instanceof Error ? (error.stack ?? error.message) : String(error)
    }\n`);
    return ExitCode.internal;
  }
}
