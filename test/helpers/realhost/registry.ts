/**
 * Every live host of this process, so that no container, namespace or veth outlives it: hosts are
 * destroyed by the tests (afterAll, see vitest.ts), and whatever is left when the process exits or
 * is signalled is killed here synchronously. A process killed with SIGKILL leaves its hosts to the
 * next process's sweep (slots.ts).
 */
export interface Disposable {
  /** Synchronous teardown: kill processes, delete namespace and link, remove the directory. */
  disposeSync(): void;
}

const live = new Set<Disposable>();
let installed = false;

function disposeAll(): void {
  for (const d of [...live]) {
    try {
      d.disposeSync();
    } catch {
      // Best effort on the way out; the next sweep finishes the job.
    }
    live.delete(d);
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once("exit", disposeAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      disposeAll();
      // Die of the signal as if no handler had been installed.
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

export function track(d: Disposable): void {
  install();
  live.add(d);
}

export function untrack(d: Disposable): void {
  live.delete(d);
}

export const liveCount = () => live.size;
