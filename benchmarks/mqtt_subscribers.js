// Many bare MQTT 3.1.1 QoS 1 subscribers in one Node.js process, for benchmarks/events.py.
//
//   node benchmarks/mqtt_subscribers.js HOST PORT TOPIC COUNT
//
// One process with non-blocking sockets costs a few microseconds per message, where a
// CPython subscriber (or a mosquitto_sub process per subscriber) needs several times
// that: at 1000 subscribers x 100 messages/s the load generator itself would saturate a
// small machine and the figure would measure it. Each subscriber acknowledges every
// PUBLISH at once (one write per chunk read), as the broker's in-flight window needs.
//
// Prints "connected" once every SUBACK has arrived, then reads "FIRST LAST" (the
// sequence numbers published during the run) on stdin, closes the connections and
// prints one JSON line: {expected, received, latencies (seconds), cpu (seconds)}.
// Payloads are JSON [seq, sent] with `sent` in Unix seconds (same host, one clock).
"use strict";

const net = require("net");
const readline = require("readline");

const [host, port, topic, countText] = process.argv.slice(2);
const count = Number(countText);

function packet(kind, body) {
  const length = [];
  let remaining = body.length;
  do {
    let byte = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining) byte |= 128;
    length.push(byte);
  } while (remaining);
  return Buffer.concat([Buffer.from([kind, ...length]), body]);
}

function mqttString(text) {
  const data = Buffer.from(text, "utf8");
  const size = Buffer.alloc(2);
  size.writeUInt16BE(data.length);
  return Buffer.concat([size, data]);
}

function now() {
  return (performance.timeOrigin + performance.now()) / 1000;
}

const subscribers = [];
let subscribed = 0;

function subscriber(index) {
  const state = { seen: new Map(), buffer: Buffer.alloc(0) };
  const socket = net.createConnection({ host, port: Number(port) }, () => {
    const connect = Buffer.concat([
      mqttString("MQTT"),
      Buffer.from([4, 2, 0, 60]),
      mqttString(`n${index}`),
    ]);
    const subscribe = Buffer.concat([Buffer.from([0, 1]), mqttString(topic), Buffer.from([1])]);
    socket.write(Buffer.concat([packet(0x10, connect), packet(0x82, subscribe)]));
  });
  socket.setNoDelay(true);
  socket.on("data", (chunk) => {
    const received = now();
    let buffer = state.buffer.length ? Buffer.concat([state.buffer, chunk]) : chunk;
    const acks = [];
    while (buffer.length >= 2) {
      let length = 0;
      let multiplier = 1;
      let position = 1;
      let complete = false;
      while (position < buffer.length) {
        const byte = buffer[position++];
        length += (byte & 127) * multiplier;
        multiplier *= 128;
        if (!(byte & 128)) {
          complete = true;
          break;
        }
      }
      if (!complete || position + length > buffer.length) break;
      const kind = buffer[0];
      const body = buffer.subarray(position, position + length);
      buffer = buffer.subarray(position + length);
      if (kind >> 4 === 3) {
        let offset = 2 + body.readUInt16BE(0);
        if ((kind >> 1) & 3) {
          acks.push(0x40, 2, body[offset], body[offset + 1]);
          offset += 2;
        }
        const [seq, sent] = JSON.parse(body.subarray(offset).toString("utf8"));
        if (seq && !state.seen.has(seq)) state.seen.set(seq, received - sent);
      } else if (kind >> 4 === 9) {
        subscribed += 1;
        if (subscribed === count) process.stdout.write("connected\n");
      }
    }
    state.buffer = Buffer.from(buffer);
    if (acks.length) socket.write(Buffer.from(acks));
  });
  socket.on("error", () => {});
  state.socket = socket;
  return state;
}

// 50 connections every 50 ms: a burst of 1000 would overflow the broker's listen backlog
let started = 0;
(function connectSome() {
  for (const end = Math.min(count, started + 50); started < end; started++) {
    subscribers.push(subscriber(started));
  }
  if (started < count) setTimeout(connectSome, 50);
})();

const lines = readline.createInterface({ input: process.stdin });
lines.once("line", (line) => {
  const [first, last] = line.split(" ").map(Number);
  let received = 0;
  const latencies = [];
  for (const state of subscribers) {
    state.socket.destroy();
    for (const [seq, latency] of state.seen) {
      if (seq >= first && seq <= last) {
        received += 1;
        latencies.push(Number(latency.toFixed(6)));
      }
    }
  }
  const usage = process.cpuUsage();
  const result = {
    expected: (last - first + 1) * count,
    received,
    latencies,
    cpu: (usage.user + usage.system) / 1e6,
  };
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
});
