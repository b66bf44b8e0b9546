// Run the W3C Thing Description Playground (validator and assertion tester) on TDs and TMs.
//
// Usage: node run_playground.js INPUT.json
//   INPUT.json: {"tds": ["<TD text>", ...], "tms": ["<TM text>", ...]}
// Prints one JSON object on stdout:
//   {"validator": [{"kind", "title", "report", "details"}...],
//    "assertions": {"td": {"results", "assessed"}, "tm": {"results", "assessed"}}}
// where each result is the Playground's {ID, Status, Comment}. All TDs go to the
// assertion tester in one run (so their ids must be unique), and all TMs in another.
//
// No network: JSON-LD contexts come from ./contexts (copies of the W3C resources,
// see contexts/SOURCE.md); any other remote context fails the JSON-LD check. The
// Thing Models that TDs link (rel "type", "tm:extends") are fetched from the
// servients under test, on loopback.
"use strict";

const fs = require("fs");
const path = require("path");

const corePath = require.resolve("@thing-description-playground/core");
const core = require(corePath);
const assertions = require("@thing-description-playground/assertions");
// The very jsonld instance the validator uses (resolved from the core package).
const jsonld = require(require.resolve("jsonld", { paths: [path.dirname(corePath)] }));

const CONTEXTS = {
    "https://www.w3.org/2022/wot/td/v1.1": "td-context-1.1.jsonld",
    "https://www.w3.org/2022/wot/discovery": "discovery-core.jsonld",
};

jsonld.documentLoader = async (url) => {
    const file = CONTEXTS[url];
    if (file === undefined) {
        throw new Error(`no local copy of the JSON-LD context ${url} (the tests use no network)`);
    }
    const document = JSON.parse(fs.readFileSync(path.join(__dirname, "contexts", file), "utf8"));
    return { contextUrl: null, documentUrl: url, document };
};

// The assertion tester reads its files through this loader. It looks for the core
// package's schemas below its own node_modules, where npm's hoisting does not put them.
const CORE_MARK = `node_modules${path.sep}@thing-description-playground${path.sep}core${path.sep}`;
function fileLoader(location) {
    let target = location;
    if (!fs.existsSync(target) && target.includes(CORE_MARK)) {
        const rest = target.slice(target.indexOf(CORE_MARK) + CORE_MARK.length);
        target = path.join(path.dirname(corePath), rest);
    }
    return fs.promises.readFile(target);
}

function flatten(result) {
    // One document: an array of results; several: {jsonResults, merged}.
    if (Array.isArray(result)) return { results: result, assessed: 1 };
    return { results: result.merged, assessed: Object.keys(result.jsonResults).length };
}

async function main() {
    const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
    const quiet = () => {};
    const validator = [];
    for (const [kind, texts, check] of [
        ["td", input.tds, core.tdValidator],
        ["tm", input.tms, core.tmValidator],
    ]) {
        for (const text of texts) {
            const { report, details } = await check(text, quiet, {
                checkDefaults: true,
                checkJsonLd: true,
            });
            const parsed = JSON.parse(text);
            const name = parsed.title ?? parsed.description ?? null;
            validator.push({ kind, title: name, report, details });
        }
    }
    const td = flatten(await assertions.tdAssertions(input.tds, fileLoader, quiet));
    // TMs have no id, so the tester names each "<title><random 0..999>" and drops a
    // TM whose name is taken; number them instead so that none is dropped.
    const random = Math.random;
    let counter = 0;
    Math.random = () => (counter++ % 1000) / 1000;
    let tm;
    try {
        tm = flatten(await assertions.tmAssertions(input.tms, fileLoader, quiet));
    } finally {
        Math.random = random;
    }
    process.stdout.write(JSON.stringify({ validator, assertions: { td, tm } }));
}

main().catch((error) => {
    console.error(error && error.stack ? error.stack : String(error));
    process.exit(1);
});
