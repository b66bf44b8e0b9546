// node-wot (core 0.9.2 + @node-wot/binding-mqtt 0.8.16) observes a property through an
// MQTT broker, from the TD alone. The servient has only an MQTT client, so node-wot must
// pick the TD's mqtt:// form (topic in the href path) for observeproperty.
// Usage: node observe_mqtt_nodewot.js TD_URL PROPERTY LAST_VALUE
// Prints "subscribed" once observing, then one JSON line {values, form} after LAST_VALUE.
const { Servient } = require("@node-wot/core");
const { MqttClientFactory } = require("@node-wot/binding-mqtt");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const [url, property, lastText] = process.argv.slice(2);
  const last = Number(lastText);
  const td = await (await fetch(url)).json(); // the TD over HTTP; observing over MQTT only
  const servient = new Servient();
  servient.addClientFactory(new MqttClientFactory());
  const WoT = await servient.start();
  try {
    const thing = await WoT.consume(td);
    const values = [];
    const errors = [];
    const sub = await thing.observeProperty(
      property,
      async (d) => values.push(await d.value()),
      (e) => errors.push(String(e)),
    );
    process.stdout.write("subscribed\n");
    for (let i = 0; i < 600 && values[values.length - 1] !== last; i++) await sleep(25);
    await sub.stop();
    const form = td.properties[property].forms.find((f) => f.href.startsWith("mqtt://"));
    process.stdout.write(JSON.stringify({ values, errors, href: form && form.href }) + "\n");
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
