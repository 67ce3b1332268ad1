// Baseline for the sse-codec decoder benchmark: npm `eventsource-parser` (latest) on the same bytes, in the same
// chunks, as codec/benches/decode.rs. Run through run.sh, which has the Rust bench write the inputs first:
//   node eventsource-parser.mjs <dir>   (reads <dir>/<case>.sse and <dir>/<case>.chunk for case small, large)
// Two figures per case: the parser alone on pre-decoded strings (its best case), and with a streaming TextDecoder
// in front (what a fetch transport does, and what the Rust decoder's figure includes: it decodes UTF-8 itself).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createParser } from 'eventsource-parser'

const dir = process.argv[2] ?? '.'
const version = JSON.parse(readFileSync(new URL('./node_modules/eventsource-parser/package.json', import.meta.url))).version

function run(chunks, decode) {
  let events = 0
  let bytes = 0
  const parser = createParser({
    onEvent(event) {
      events++
      bytes += event.data.length
    },
  })
  if (decode) {
    const decoder = new TextDecoder('utf-8')
    for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }))
    parser.feed(decoder.decode())
  } else {
    for (const chunk of chunks) parser.feed(chunk)
  }
  parser.reset()
  return events
}

for (const name of ['small', 'large']) {
  const input = readFileSync(join(dir, `${name}.sse`))
  const chunkSize = Number(readFileSync(join(dir, `${name}.chunk`), 'utf8'))
  const byteChunks = []
  for (let i = 0; i < input.length; i += chunkSize) byteChunks.push(input.subarray(i, i + chunkSize))
  const textDecoder = new TextDecoder('utf-8')
  const stringChunks = byteChunks.map((c) => textDecoder.decode(c, { stream: true }))
  const mb = input.length / 1e6
  for (const [label, chunks, decode] of [
    ['eventsource-parser', stringChunks, false],
    ['eventsource-parser+TextDecoder', byteChunks, true],
  ]) {
    const times = []
    let events = 0
    const start = performance.now()
    while (times.length < 10 || (performance.now() - start < 2000 && times.length < 1000)) {
      const t = performance.now()
      events = run(chunks, decode)
      times.push(performance.now() - t)
    }
    times.sort((a, b) => a - b)
    const best = times[0]
    const median = times[times.length >> 1]
    console.log(
      `result ${name} ${label} ${(mb / (best / 1e3)).toFixed(1)} MB/s (median ${(mb / (median / 1e3)).toFixed(1)} MB/s, ` +
        `best ${best.toFixed(2)} ms, ${events} events, ${mb.toFixed(1)} MB in ${chunkSize}-byte chunks, v${version}, node ${process.version})`,
    )
  }
}
