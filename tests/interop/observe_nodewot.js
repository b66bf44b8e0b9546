// node-wot 0.9.2 observes a property and subscribes to an event from a TD alone, then
// triggers rapid changes (an action that changes the property and emits the event
// COUNT times without pause, then two writes of its own) and reports what arrived.
// Usage: node observe_nodewot.js TD_URL PROPERTY EVENT ACTION COUNT
// Prints one JSON object line; the Python test asserts on it.
const { Servient } = require("@node-wot/core");
const { HttpClientFactory } = require("@node-wot/binding-http");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const [url, property, eventName, actionName, countText] = process.argv.slice(2);
  const count = Number(countText);
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory(null));
  const WoT = await servient.start();
  try {
    const td = await WoT.requestThingDescription(url);
    const thing = await WoT.consume(td);
    // keep the promises in arrival order; parsing is asynchronous
    const values = [];
    const events = [];
    const errors = [];
    let stopping = false; // stop() aborts the pending GET, which node-wot reports as an error
    const onError = (e) => stopping || errors.push(String(e));
    const sub = await thing.observeProperty(property, (d) => values.push(d.value()), onError);
    const evSub = await thing.subscribeEvent(eventName, (d) => events.push(d.value()), onError);
    await thing.invokeAction(actionName, { count });
    for (let i = 0; i < 200 && values.length < count; i++) await sleep(25);
    await thing.writeProperty(property, 1000);
    await thing.writeProperty(property, 1001);
    for (let i = 0; i < 200 && (values.length < count + 2 || events.length < count); i++) {
      await sleep(25);
    }
    stopping = true;
    await sub.stop();
    await evSub.stop();
    const result = {
      values: await Promise.all(values),
      events: await Promise.all(events),
      forms: {
        property: td.properties[property].forms.map((f) => f.subprotocol || null),
        event: td.events[eventName].forms.map((f) => f.subprotocol || null),
      },
      errors,
    };
    process.stdout.write(JSON.stringify(result) + "\n");
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
