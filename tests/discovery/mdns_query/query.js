// One multicast PTR query with the npm package multicast-dns (not python-zeroconf),
// printing every record of every response as JSON after a wait.
//   node query.js [NAME] [WAIT_MS]   e.g. node query.js _wot._tcp.local 1500
'use strict'
const mdns = require('multicast-dns')()

const name = process.argv[2] || '_wot._tcp.local'
const waitMs = Number(process.argv[3] || 1500)
const records = []

function data (record) {
  if (record.type === 'TXT') {
    return [].concat(record.data).map((chunk) => Buffer.from(chunk).toString('utf8'))
  }
  return record.data
}

mdns.on('response', (response, rinfo) => {
  for (const [section, list] of [['answer', response.answers], ['additional', response.additionals]]) {
    for (const record of list) {
      records.push({ section, from: rinfo.address, name: record.name, type: record.type, ttl: record.ttl, data: data(record) })
    }
  }
})
mdns.on('error', (error) => { console.error(String(error)); process.exitCode = 2 })
mdns.on('ready', () => mdns.query({ questions: [{ name, type: 'PTR' }] }))
setTimeout(() => {
  console.log(JSON.stringify(records))
  mdns.destroy()
}, waitMs)
