/**
 * Whether to write ANSI colour to `stream`, in this order: the command's `--color` / `--no-color`
 * (`flag` true or false); `FORCE_COLOR` set and not empty (`0` or `false` turn colour off, any other
 * value on, as Node and most tools read it); `NO_COLOR` set and not empty (off, https://no-color.org);
 * `TERM=dumb` (off); otherwise colour exactly when the stream is a terminal.
 */
export function useColor(
  stream: { readonly isTTY?: boolean },
  flag: boolean | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): boolean {
  if (flag !== undefined) return flag;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return Boolean(stream.isTTY);
}
