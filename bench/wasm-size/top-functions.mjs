// Lists the largest functions of a .wasm by body size, using its name section (present after wasm-bindgen, before
// wasm-opt): `node bench/wasm-size/top-functions.mjs file.wasm [count]`. To see what makes a build big.
import { readFileSync } from 'node:fs';

const [file, count = '25'] = process.argv.slice(2);
const buf = readFileSync(file);
let pos = 8;
const leb = () => { let r = 0, s = 0, b; do { b = buf[pos++]; r += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80); return r; };
const str = () => { const n = leb(); const s = buf.toString('utf8', pos, pos + n); pos += n; return s; };
let imports = 0; const sizes = []; const names = new Map();
while (pos < buf.length) {
  const id = buf[pos++]; const len = leb(); const end = pos + len;
  if (id === 2) { // imports: count the function imports (they take the first indices)
    const n = leb();
    for (let i = 0; i < n; i++) {
      str(); str(); const kind = buf[pos++];
      if (kind === 0) { leb(); imports++; } else if (kind === 1) { pos++; const f = leb(); leb(); if (f & 1) leb(); }
      else if (kind === 2) { const f = leb(); leb(); if (f & 1) leb(); } else if (kind === 3) { pos += 2; } else { pos++; leb(); }
    }
  } else if (id === 10) {
    const n = leb();
    for (let i = 0; i < n; i++) { const sz = leb(); sizes.push(sz); pos += sz; }
  } else if (id === 0 && str() === 'name') {
    while (pos < end) {
      const sub = buf[pos++]; const sl = leb(); const se = pos + sl;
      if (sub === 1) { const n = leb(); for (let i = 0; i < n; i++) { const idx = leb(); names.set(idx, str()); } }
      pos = se;
    }
  }
  pos = end;
}
const total = sizes.reduce((a, b) => a + b, 0);
const rows = sizes.map((s, i) => [s, names.get(i + imports) || `func[${i + imports}]`]).sort((a, b) => b[0] - a[0]);
console.log(`${file}: ${sizes.length} functions, ${total} bytes of code`);
const demangle = (n) => n.replace(/::h[0-9a-f]{16}$/, '');
for (const [s, n] of rows.slice(0, Number(count))) console.log(String(s).padStart(8), demangle(n).slice(0, 150));
// Grouped by crate (first path segment).
const byCrate = new Map();
for (const [s, n] of rows) {
  const m = demangle(n).replace(/^<|^_<|^core::ptr::drop_in_place<|^&/, '').match(/^([a-z_][a-z0-9_]*)::/);
  const k = m ? m[1] : '(other)';
  byCrate.set(k, (byCrate.get(k) || 0) + s);
}
console.log('by crate:', [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${k} ${v}`).join(', '));
