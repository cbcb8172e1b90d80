import type { FastifyReply } from "fastify";

/**
 * Sends `payload` through the route's response schema, serializing each object once: the body is
 * kept (as bytes, so neither the length nor the write re-encodes it) for as long as the object
 * lives. Only for objects that never change once handed out — ControlPlane.host() returns a new
 * frozen object whenever anything in the answer changes. One per route: the bytes are those of
 * that route's schema.
 */
export function serializedOnce(): (reply: FastifyReply, payload: object) => FastifyReply {
  const bodies = new WeakMap<object, Buffer>();
  return (reply, payload) => {
    let body = bodies.get(payload);
    if (!body) {
      // The route's own serializer for the reply's status: the schema filters and checks as usual.
      const text = reply.serialize(payload);
      body = typeof text === "string" ? Buffer.from(text) : Buffer.from(text as Uint8Array);
      bodies.set(payload, body);
    }
    return reply.type("application/json; charset=utf-8").send(body);
  };
}
