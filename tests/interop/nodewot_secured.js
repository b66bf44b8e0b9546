// node-wot 0.9.2 driving a secured servient: credentials given per Thing id.
// Usage: node nodewot_secured.js TD_URL CREDENTIALS_JSON
// CREDENTIALS_JSON: {"username": ..., "password": ...} (basic) or {"token": ...} (bearer).
// Reads, writes, reads back and invokes; a refused write prints {"op": "write", "error"}.
const { Servient } = require("@node-wot/core");
const { HttpClientFactory } = require("@node-wot/binding-http");

function emit(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

async function main() {
  const [url, credentialsJson] = process.argv.slice(2);
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory());
  const WoT = await servient.start();
  const td = await WoT.requestThingDescription(url);
  servient.addCredentials({ [td.id]: JSON.parse(credentialsJson) });
  emit({ op: "td", security: td.security, definitions: td.securityDefinitions });
  const thing = await WoT.consume(td);
  const before = await (await thing.readProperty("brightness")).value();
  emit({ op: "read", value: before });
  try {
    await thing.writeProperty("brightness", 4);
    const back = await (await thing.readProperty("brightness")).value();
    emit({ op: "write", back });
    const output = await (await thing.invokeAction("toggle")).value();
    emit({ op: "invoke", output });
  } catch (err) {
    emit({ op: "write", refused: String(err && err.message ? err.message : err) });
  }
  await servient.shutdown();
}

main().catch((err) => {
  emit({ error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
