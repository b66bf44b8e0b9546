// node-wot 0.9.2's WoT.exploreDirectory against a servient's /.well-known/wot, and a
// TD fetched by its id through the directory's retrieveThing form.
// Usage: node explore_directory.js DIRECTORY_URL
// Prints one JSON object per line: {"explored": title, "id"} for each TD the
// discovery process yields, {"retrieved": title, "id"} for each TD fetched by id,
// and {"error": message} on failure.
const { Servient } = require("@node-wot/core");
const { HttpClientFactory } = require("@node-wot/binding-http");

function emit(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

async function main(url) {
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory());
  const WoT = await servient.start();
  try {
    const process_ = await WoT.exploreDirectory(url);
    const ids = [];
    for await (const td of process_) {
      emit({ explored: td.title, id: td.id });
      ids.push(td.id);
    }
    if (process_.error) throw process_.error;
    const directory = await WoT.consume(await WoT.requestThingDescription(url));
    for (const id of ids) {
      // retrieveThing is an action bound to GET /things/{id}: node-wot fills the template
      const output = await directory.invokeAction("retrieveThing", undefined, { uriVariables: { id } });
      const td = await output.value();
      emit({ retrieved: td.title, id: td.id });
    }
  } finally {
    await servient.shutdown();
  }
}

main(process.argv[2]).catch((error) => {
  emit({ error: String(error && error.stack ? error.stack : error) });
  process.exitCode = 1;
});
