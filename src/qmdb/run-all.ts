/**
 * Runs every step even when an earlier one fails, then throws the first failure: closing a
 * journal whose sync failed must still release the other files.
 */
export async function runAll(steps: ReadonlyArray<() => Promise<unknown>>): Promise<void> {
  let failure: { error: unknown } | undefined;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure !== undefined) throw failure.error;
}
