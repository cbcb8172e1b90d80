/**
 * Runs tasks one at a time per key, in arrival order, and different keys freely.
 *
 * A pass over a deployment reads its policy state, decides and writes: two such read-decide-
 * write sections over one deployment at once (the loop's pass and an API reconcile, a scheduled
 * redeploy, a manual request) both see no job in flight and both enqueue — the second finds the
 * first's job already running and schedules a rerun, an apply nobody asked for.
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    // A failed task does not stop the next one: each caller gets its own task's result.
    const result = prev.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with a task running or waiting (for tests: the map does not grow with history). */
  get size(): number {
    return this.tails.size;
  }
}
