// A real WoT consumer: Eclipse node-wot 0.9.2 driving a servient from its TDs alone.
// Usage: node nodewot_client.js SCENARIO TD_URL [TD_URL ...] [ARG ...]
// Scenarios: properties (read and write all), read (read all), actions, observe.
// Prints one JSON object per line; the Python tests assert on them.
const { Servient } = require("@node-wot/core");
const { HttpClientFactory } = require("@node-wot/binding-http");

function emit(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

function sampleValue(schema) {
  if (schema.enum) return schema.enum[schema.enum.length - 1];
  if (schema.default !== undefined) return schema.default;
  switch (schema.type) {
    case "boolean": return true;
    case "integer": return schema.minimum !== undefined ? schema.minimum + 1 : 3;
    case "number": return schema.minimum !== undefined ? schema.minimum + 0.5 : 1.5;
    case "string": return "node-wot";
    case "array": return [];
    default: return null;
  }
}

async function propertiesScenario(WoT, urls) {
  for (const url of urls) {
    const td = await WoT.requestThingDescription(url);
    const thing = await WoT.consume(td);
    for (const [name, prop] of Object.entries(td.properties || {})) {
      if (!prop.writeOnly) {
        const value = await (await thing.readProperty(name)).value();
        emit({ thing: td.title, op: "read", name, value });
      }
      if (!prop.readOnly) {
        const wanted = sampleValue(prop);
        await thing.writeProperty(name, wanted);
        const back = await (await thing.readProperty(name)).value();
        emit({ thing: td.title, op: "write", name, wanted, back });
      }
    }
  }
}

async function readScenario(WoT, urls) {
  for (const url of urls) {
    const td = await WoT.requestThingDescription(url);
    const thing = await WoT.consume(td);
    for (const [name, prop] of Object.entries(td.properties || {})) {
      if (!prop.writeOnly) {
        const value = await (await thing.readProperty(name)).value();
        emit({ thing: td.title, op: "read", name, value });
      }
    }
  }
}

async function actionsScenario(WoT, urls, args) {
  const [syncAction, asyncAction, asyncInput] = args;
  const td = await WoT.requestThingDescription(urls[0]);
  const thing = await WoT.consume(td);
  const [syncThing, syncName] = syncAction.split(".");
  const syncTd = await WoT.requestThingDescription(urls.find((u) => u.endsWith("/" + syncThing)));
  const syncConsumed = await WoT.consume(syncTd);
  const output = await (await syncConsumed.invokeAction(syncName)).value();
  emit({ op: "invoke-sync", name: syncName, output });
  const [asyncThing, asyncName] = asyncAction.split(".");
  const asyncTd = await WoT.requestThingDescription(urls.find((u) => u.endsWith("/" + asyncThing)));
  const asyncConsumed = await WoT.consume(asyncTd);
  const record = await (await asyncConsumed.invokeAction(asyncName, JSON.parse(asyncInput))).value();
  emit({ op: "invoke-async", name: asyncName, record });
  // node-wot cannot query an action (query() is not implemented): poll the record's href.
  let current = record;
  for (let i = 0; i < 200 && (current.status === "pending" || current.status === "running"); i++) {
    await new Promise((r) => setTimeout(r, 50));
    current = await (await fetch(record.href)).json();
  }
  emit({ op: "polled", record: current });
}

async function observeScenario(WoT, urls, args) {
  const [thingName, property, eventName, actionName, actionInput, expected] = args;
  const url = urls.find((u) => u.endsWith("/" + thingName));
  const td = await WoT.requestThingDescription(url);
  const thing = await WoT.consume(td);
  const values = [];
  const events = [];
  // node-wot ends a long-poll subscription on any answer but 2xx and says so only here
  const errors = [];
  let stopping = false; // stop() aborts the pending GET, which node-wot reports as an error
  const onError = (e) => stopping || errors.push(String(e));
  const sub = await thing.observeProperty(
    property,
    async (data) => {
      values.push(await data.value());
    },
    onError,
  );
  const evSub = await thing.subscribeEvent(
    eventName,
    async (data) => {
      events.push(await data.value());
    },
    onError,
  );
  await new Promise((r) => setTimeout(r, 300));
  const record = await (await thing.invokeAction(actionName, JSON.parse(actionInput))).value();
  let current = record;
  for (let i = 0; i < 200 && current.status !== "completed" && current.status !== "failed"; i++) {
    await new Promise((r) => setTimeout(r, 50));
    current = await (await fetch(record.href)).json();
  }
  const want = Number(expected);
  // Wait (10 s at most) for the event and for the observed value to reach the position
  // the event reports: on a busy machine the last change can arrive after the event.
  const settled = () =>
    values.length >= want &&
    events.length >= 1 &&
    JSON.stringify(values[values.length - 1]) === JSON.stringify(events[events.length - 1]);
  for (let i = 0; i < 200 && !settled(); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  stopping = true;
  await sub.stop();
  await evSub.stop();
  emit({ op: "observed", values, events, final: current.status, errors });
}

async function main() {
  const [scenario, ...rest] = process.argv.slice(2);
  const urls = rest.filter((a) => a.startsWith("http"));
  const args = rest.filter((a) => !a.startsWith("http"));
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory(null));
  const WoT = await servient.start();
  try {
    if (scenario === "properties") await propertiesScenario(WoT, urls);
    else if (scenario === "read") await readScenario(WoT, urls);
    else if (scenario === "actions") await actionsScenario(WoT, urls, args);
    else if (scenario === "observe") await observeScenario(WoT, urls, args);
    else throw new Error("unknown scenario " + scenario);
  } finally {
    await servient.shutdown();
  }
}

main().then(
  () => process.exit(0),
  (err) => { emit({ error: String(err && err.stack || err) }); process.exit(1); },
);
