// node-wot 0.9.2 observes a property and subscribes to an event while the servient's
// long-poll holds run out (the servient is started with a short hold). Every listener
// call is recorded as {value} or {error} (value() throwing: an answer without a value).
// Usage: node observe_hold_nodewot.js TD_URL PROPERTY EVENT
// Prints "subscribed" once both are open, then, after one listener call of each (or a
// 30 s deadline), one JSON object line: {values, events, errors}.
const { Servient } = require("@node-wot/core");
const { HttpClientFactory } = require("@node-wot/binding-http");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function record(output, into) {
  try {
    into.push({ value: await output.value() });
  } catch (e) {
    into.push({ error: String(e) });
  }
}

async function main() {
  const [url, property, eventName] = process.argv.slice(2);
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory(null));
  const WoT = await servient.start();
  try {
    const td = await WoT.requestThingDescription(url);
    const thing = await WoT.consume(td);
    const values = [];
    const events = [];
    const errors = [];
    let stopping = false; // stop() aborts the pending GET, which node-wot reports as an error
    const onError = (e) => stopping || errors.push(String(e));
    const forms = td.properties[property].forms;
    const longpoll = { formIndex: forms.findIndex((f) => f.subprotocol === "longpoll") };
    const sub = await thing.observeProperty(property, (d) => record(d, values), onError, longpoll);
    const evSub = await thing.subscribeEvent(eventName, (d) => record(d, events), onError);
    process.stdout.write("subscribed\n");
    for (let i = 0; i < 1200 && (values.length < 1 || events.length < 1); i++) await sleep(25);
    stopping = true;
    await sub.stop();
    await evSub.stop();
    process.stdout.write(JSON.stringify({ values, events, errors }) + "\n");
  } finally {
    await servient.shutdown();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stdout.write(JSON.stringify({ error: String((err && err.stack) || err) }) + "\n");
    process.exit(1);
  },
);
