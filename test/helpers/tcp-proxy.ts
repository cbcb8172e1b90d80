import { createServer, type Socket, connect as tcpConnect } from "node:net";

/**
 * A loopback TCP proxy that can black-hole traffic: `freeze()` stops forwarding in both
 * directions without closing anything, as a network split does (the client sees no error,
 * just no answer).
 */
export async function startProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server = createServer((client) => {
    sockets.add(client);
    client.on("error", () => undefined);
    client.on("close", () => sockets.delete(client));
    if (frozen) {
      client.pause();
      return;
    }
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("error", () => undefined);
    upstream.on("close", () => sockets.delete(upstream));
    client.on("data", (b) => {
      if (!frozen) upstream.write(b);
    });
    upstream.on("data", (b) => {
      if (!frozen) client.write(b);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    port,
    freeze: () => {
      frozen = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
