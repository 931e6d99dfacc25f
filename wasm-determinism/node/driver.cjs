// The wasm side of the determinism check: loads the World compiled to wasm32 (the module the
// wasm-bindgen CLI wrote with `--target nodejs`) and runs scenarios in it.
//
//   node driver.cjs MODULE_DIR run FILE SEED [FILE SEED ...]
//       one JSON line per run: {"file", "seed", "hash", "events", "virtual_time_ms", "verdict"}
//   node driver.cjs MODULE_DIR time FILE SEED WARMUP COUNT
//       one JSON line: {"file", "seed", "events", "times_ns": [...]} (each run timed alone)
//
// The timing reads the wall clock here, outside the model, as the native side does.
"use strict";
const fs = require("fs");
const path = require("path");

const [moduleDir, mode, ...rest] = process.argv.slice(2);
const gregor = require(path.resolve(moduleDir, "gregor_wasm_determinism.js"));

function text(file) {
  return fs.readFileSync(file, "utf8");
}

if (mode === "run") {
  for (let i = 0; i + 1 < rest.length; i += 2) {
    const [file, seed] = [rest[i], rest[i + 1]];
    const out = JSON.parse(gregor.traced_run(file, text(file), BigInt(seed)));
    console.log(JSON.stringify({ file, seed: Number(seed), ...out }));
  }
} else if (mode === "time") {
  const [file, seed, warmup, count] = rest;
  const source = text(file);
  let events = 0;
  for (let i = 0; i < Number(warmup); i++) {
    events = Number(gregor.untraced_run(file, source, BigInt(seed)));
  }
  const times = [];
  for (let i = 0; i < Number(count); i++) {
    const start = process.hrtime.bigint();
    events = Number(gregor.untraced_run(file, source, BigInt(seed)));
    times.push(Number(process.hrtime.bigint() - start));
  }
  console.log(JSON.stringify({ file, seed: Number(seed), events, times_ns: times }));
} else {
  console.error("usage: node driver.cjs MODULE_DIR run FILE SEED ... | time FILE SEED WARMUP COUNT");
  process.exit(2);
}
