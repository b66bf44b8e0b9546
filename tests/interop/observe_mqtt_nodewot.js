// node-wot (core 0.9.2 + @node-wot/binding-mqtt 0.8.16) observes a property through an
// MQTT broker, from the TD alone. The servient has only an MQTT client, so node-wot must
// pick the TD's mqtt:// form (topic in the href path) for observeproperty.
// Usage: node observe_mqtt_nodewot.js TD_URL PROPERTY LAST_VALUE [HTTP_CREDENTIALS [BROKER_LOGIN]]
//   HTTP_CREDENTIALS: {"username", "password"} for the servient's HTTP side, given to node-wot
//     the usual way (servient.addCredentials by Thing id), and to fetch the TD if it answers
//     401; "null": none.
//   BROKER_LOGIN: {"username", "password"} of the broker's own account, given to the MQTT
//     client factory (see BrokerLoginFactory); absent: none.
// Prints "subscribed" once observing, then one JSON line {values, errors, href} after LAST_VALUE.
const { Servient } = require("@node-wot/core");
const { MqttClient, MqttClientFactory } = require("@node-wot/binding-mqtt");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// node-wot 0.9.2 hands a client the whole list of credentials stored for a Thing id when a
// form names its own security, and binding-mqtt 0.8.16 reads `.username` off that list: a
// form-level "basic" (the broker wants a login) becomes an anonymous CONNECT the broker
// refuses. This factory's clients log in with the broker account they were given instead,
// and never with the HTTP credentials stored by Thing id.
class BrokerLoginFactory extends MqttClientFactory {
  constructor(login) {
    super();
    this.login = login;
  }

  getClient() {
    const client = new MqttClient({ username: this.login.username, password: this.login.password });
    client.setSecurity = (metadata) => {
      const scheme = metadata && metadata[0] && metadata[0].scheme;
      if (scheme !== "nosec" && scheme !== "basic") throw new Error(`broker security ${scheme}`);
      return true; // basic: the login is already in the client's config
    };
    this.clients.push(client);
    return client;
  }
}

async function main() {
  const [url, property, lastText, httpJson, brokerJson] = process.argv.slice(2);
  const last = Number(lastText);
  const http = httpJson ? JSON.parse(httpJson) : null;
  let response = await fetch(url);
  if (response.status === 401 && http && http.username) {
    const basic = Buffer.from(`${http.username}:${http.password}`).toString("base64");
    response = await fetch(url, { headers: { authorization: `Basic ${basic}` } });
  }
  if (!response.ok) throw new Error(`TD: HTTP ${response.status}`);
  const td = await response.json(); // the TD over HTTP; observing over MQTT only
  // TD 1.1 lets a form name its security as a string or an array, but node-wot 0.9.2 only
  // honours an array there (else it applies the Thing's HTTP scheme to the broker); a TD
  // Directory's JSON-LD rewrite makes one-element arrays strings.
  for (const table of ["properties", "actions", "events"]) {
    for (const affordance of Object.values(td[table] || {})) {
      for (const form of affordance.forms || []) {
        if (typeof form.security === "string") form.security = [form.security];
      }
    }
  }
  const servient = new Servient();
  servient.addClientFactory(brokerJson ? new BrokerLoginFactory(JSON.parse(brokerJson)) : new MqttClientFactory());
  if (http) servient.addCredentials({ [td.id]: http });
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
