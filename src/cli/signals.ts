/**
 * SIGINT/SIGTERM handling shared by both binaries: the first signal stops gracefully, a later one
 * forces an exit. A repeat within {@link REPEAT_IGNORED_MS} is the same request delivered twice and
 * is ignored: Ctrl-C in a terminal signals the whole foreground process group, so a binary started
 * by `npx`/`npm run` gets the SIGINT from the terminal and again from npm, which forwards it.
 */

/** A second signal this soon after the first is a duplicate delivery, not a request to force. */
export const REPEAT_IGNORED_MS = 1000;

/**
 * Installs the handlers: `stop` on the first SIGINT/SIGTERM, `force` on one that comes at least
 * {@link REPEAT_IGNORED_MS} later (earlier repeats are ignored). Returns a function that removes them.
 */
export function onStopSignals(stop: (signal: NodeJS.Signals) => void, force: (signal: NodeJS.Signals) => void): () => void {
  let firstAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (firstAt === undefined) {
      firstAt = Date.now();
      stop(signal);
    } else if (Date.now() - firstAt >= REPEAT_IGNORED_MS) {
      force(signal);
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}
