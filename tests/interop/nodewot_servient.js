// A real third-party WoT servient for wot-labthing's client tests: Eclipse node-wot 0.9.2
// exposes one Thing ("Node counter") on loopback, on a free port.
// Usage: node nodewot_servient.js [nosec | basic USER PASSWORD]
// Prints "TD: <url>" and then "ready"; SIGINT or SIGTERM shuts it down.
const { Servient } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const [scheme = "nosec", username, password] = process.argv.slice(2);
  const server = new HttpServer({ port: 0, address: "127.0.0.1", security: [{ scheme }] });
  const servient = new Servient();
  servient.addServer(server);
  const WoT = await servient.start();
  // hrefs on loopback only (node-wot would otherwise add one form per interface address)
  server.baseUri = `http://127.0.0.1:${server.getPort()}`;
  const id = "urn:uuid:4a3c7a5e-7f0e-4c8e-9d59-0c1b6d0e5a11";
  if (scheme === "basic") servient.addCredentials({ [id]: { username, password } });

  let count = 0;
  let label = "node";
  const thing = await WoT.produce({
    id,
    title: "Node counter",
    description: "A counter exposed by Eclipse node-wot.",
    securityDefinitions: { sc: { scheme } },
    security: "sc",
    properties: {
      count: { type: "integer", minimum: 0, observable: true, description: "The count." },
      label: { type: "string", maxLength: 20, description: "A label." },
    },
    actions: {
      increment: {
        description: "Add 'by' to the count and return the new count.",
        input: {
          type: "object",
          properties: { by: { type: "integer", minimum: 1 } },
          required: ["by"],
        },
        output: { type: "integer" },
        synchronous: true,
      },
      slow_reset: {
        description: "Reset the count after a while; declared asynchronous, answers the output.",
        output: { type: "integer" },
        synchronous: false,
      },
    },
    events: {
      changed: { description: "The new count after every change.", data: { type: "integer" } },
    },
  });
  const changed = async () => {
    thing.emitPropertyChange("count");
    thing.emitEvent("changed", count);
  };
  thing.setPropertyReadHandler("count", async () => count);
  thing.setPropertyWriteHandler("count", async (value) => {
    count = await value.value();
    await changed();
  });
  thing.setPropertyReadHandler("label", async () => label);
  thing.setPropertyWriteHandler("label", async (value) => {
    label = await value.value();
  });
  thing.setActionHandler("increment", async (params) => {
    const input = await params.value();
    count += input.by;
    await changed();
    return count;
  });
  thing.setActionHandler("slow_reset", async () => {
    await sleep(300);
    const before = count;
    count = 0;
    await changed();
    return before;
  });
  await thing.expose();
  process.stdout.write(`TD: ${server.baseUri}/node-counter\nready\n`);
  const stop = async () => {
    await servient.shutdown();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + "\n");
  process.exit(1);
});
