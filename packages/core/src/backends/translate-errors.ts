/**
 * A function that runs a call into a leaf package (the WASM allocator, the GPU kernels) and throws
 * the SDK's typed error in place of the package's own, by `toCoreError`.
 */
export function translating(toCoreError: (error: unknown) => unknown): <T>(action: () => T) => T {
  return (action) => {
    try {
      return action();
    } catch (error) {
      throw toCoreError(error);
    }
  };
}
