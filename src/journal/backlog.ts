/**
 * Counts a journal's filled blobs (or sections) whose queued fsync has not finished, and lets a
 * writer wait until there are few enough: appends that outrun the disk keep each such blob's
 * bytes in memory, so a writer that never syncs (a bulk load, state sync) bounds its memory with
 * `wait`.
 */
export class Backlog {
  private pending = 0;
  private waiters: { readonly max: number; readonly wake: () => void }[] = [];

  /** Counts `task` (a queued fsync) until it settles, whether it succeeds or fails. */
  track(task: Promise<unknown>): void {
    this.pending++;
    void task
      .catch(() => undefined)
      .then(() => {
        this.pending--;
        const waiters = this.waiters;
        if (waiters.length === 0) return;
        this.waiters = waiters.filter((w) => w.max < this.pending);
        for (const w of waiters) if (w.max >= this.pending) w.wake();
      });
  }

  /** Resolves once at most `max` blobs wait for their fsync (at once if that is already so). */
  wait(max: number): Promise<void> {
    if (this.pending <= max) return Promise.resolve();
    return new Promise<void>((wake) => this.waiters.push({ max, wake }));
  }
}
