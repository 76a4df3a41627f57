/**
 * Handle lifecycle shared by every journal: a FIFO queue of disk tasks plus the closed/poisoned state.
 * Mutations change the in-memory state synchronously and queue their disk work, so disk operations
 * happen in call order (the order crash recovery depends on) without blocking the event loop.
 * The first failed task poisons the handle: every later call, and every queued task, throws `Poisoned`
 * with that failure as `cause`. No on-disk format.
 */
import { JournalError } from "./errors";

export class Lifecycle {
  private queue: Promise<void> = Promise.resolve();
  private failure: Error | undefined = undefined;
  private closed = false;

  constructor(private readonly what: string) {}

  /** Throws unless the handle is usable: `Poisoned` after a failure, `Closed` after close/destroy. */
  check(): void {
    if (this.failure !== undefined) throw this.poisoned();
    if (this.closed) throw new JournalError("Closed", `${this.what} is closed`);
  }

  /** Marks the handle closed (after {@link check}); queued tasks still run. */
  close(): void {
    this.check();
    this.closed = true;
  }

  /** Marks the handle closed even if poisoned (for `destroy`); throws `Closed` if it already was. */
  shutdown(): void {
    if (this.closed) throw new JournalError("Closed", `${this.what} is closed`);
    this.closed = true;
  }

  get isPoisoned(): boolean {
    return this.failure !== undefined;
  }

  /** Records `err` as the failure that poisons the handle and returns it (as thrown to the caller). */
  fail(err: unknown): Error {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.failure === undefined) this.failure = error;
    return error;
  }

  /**
   * Run `task` after every earlier task. A failure poisons the handle and rejects the returned promise;
   * a task queued behind a failure does not run and rejects with `Poisoned`.
   */
  enqueue<T>(task: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(() => {
      if (this.failure !== undefined) throw this.poisoned();
      return task();
    });
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run.catch((err: unknown) => {
      throw this.fail(err);
    });
  }

  /** Queue `task` with nobody awaiting it: a failure only poisons the handle (seen by the next call). */
  background(task: () => Promise<void> | void): void {
    this.enqueue(task).catch(() => undefined);
  }

  /** Poison the handle if `work` (already started elsewhere) fails; returns `work` for the caller to await. */
  track<T>(work: Promise<T>): Promise<T> {
    return work.catch((err: unknown) => {
      throw this.fail(err);
    });
  }

  /**
   * The body of every journal's `close`: marks the handle closed, runs `flush` (the final sync),
   * and releases the files whatever happens; a handle that was already closed or poisoned only
   * has its files released and rethrows its own error (which wins over a failed release: the
   * release then only repeats what the first failure or close already reported).
   */
  async closeWith(flush: () => Promise<unknown>, releaseFiles: () => void | Promise<void>): Promise<void> {
    try {
      this.close();
    } catch (err) {
      await this.idle();
      try {
        await releaseFiles();
      } catch {
        // The handle's own error, thrown below, is the one to report.
      }
      throw err;
    }
    try {
      await flush();
    } finally {
      await this.idle();
      await releaseFiles();
    }
  }

  /** The body of every journal's `destroy`: allowed on a poisoned handle (to clean up after a failure). */
  async destroyWith(releaseFiles: () => void, remove: () => Promise<void>): Promise<void> {
    this.shutdown();
    await this.idle();
    releaseFiles();
    await remove();
  }

  /** Resolves once every task queued so far has finished (successfully or not). */
  idle(): Promise<void> {
    return this.queue;
  }

  private poisoned(): JournalError {
    return new JournalError("Poisoned", `${this.what} is unusable after an earlier failure: ${this.failure?.message}`, {
      cause: this.failure,
    });
  }
}

/**
 * Run `body` so that a synchronous throw (a validation error, a closed handle) becomes a rejected
 * promise: callers of promise-returning methods then see every failure the same way.
 */
export function settle<T>(body: () => Promise<T>): Promise<T> {
  try {
    return body();
  } catch (err) {
    return Promise.reject(err);
  }
}
