import inspector from "node:inspector";

/** A connected inspector session of this process and a promise-returning `post`. */
export function inspectorPost() {
  const session = new inspector.Session();
  session.connect();
  return (method, params) =>
    new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
}

/** Runs `start` after `delay` ms and `stop` `dur` ms later, neither keeping the process alive. */
export function window(delay, dur, start, stop) {
  setTimeout(async () => {
    await start();
    setTimeout(stop, dur).unref();
  }, delay).unref();
}
