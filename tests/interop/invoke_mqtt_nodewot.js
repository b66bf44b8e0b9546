// node-wot (core 0.9.2 + @node-wot/binding-mqtt 0.8.16) invokes an action through an
// MQTT broker, from the TD alone. The servient has only an MQTT client, so node-wot must
// pick the TD's mqtt:// invokeaction form (topic in the href path). binding-mqtt publishes
// the input and returns at once: the run is then followed over HTTP by the test.
// Usage: node invoke_mqtt_nodewot.js TD_URL ACTION INPUT_JSON [INPUT_JSON ...]
// Prints one JSON line {invoked, href} once every invocation has been published.
const { Servient } = require("@node-wot/core");
const { MqttClientFactory } = require("@node-wot/binding-mqtt");

async function main() {
  const [url, action, ...inputs] = process.argv.slice(2);
  const td = await (await fetch(url)).json(); // the TD over HTTP; invoking over MQTT only
  const servient = new Servient();
  servient.addClientFactory(new MqttClientFactory());
  const WoT = await servient.start();
  try {
    const thing = await WoT.consume(td);
    let invoked = 0;
    for (const input of inputs) {
      await thing.invokeAction(action, JSON.parse(input));
      invoked += 1;
    }
    const form = td.actions[action].forms.find((f) => f.href.startsWith("mqtt://"));
    process.stdout.write(JSON.stringify({ invoked, href: form && form.href }) + "\n");
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
