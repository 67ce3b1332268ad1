// Starts the blackhole proxy (tests/support/blackhole.mjs) for the end-to-end tests and bench/liveness.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Failure, ROOT } from "./lib.mjs";

/**
 * The proxy in front of `target` (host:port): resolves with { url, control, silence(), drop(), stats(), stop() }
 * (silence: every connection open now goes silent, left open; drop: every connection open now is closed).
 */
export async function startProxy(target) {
  const child = spawn("node", [join(ROOT, "tests/support/blackhole.mjs"), target], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Failure(`the blackhole proxy exited (${code})`)));
    createInterface({ input: child.stdout }).on("line", (l) => { if (l.startsWith("listening on")) resolve(l); });
  });
  // "listening on URL control URL"
  const [, , url, , control] = line.split(" ");
  const post = async (path) => (await fetch(`${control}${path}`, { method: "POST" })).json();
  return {
    url,
    control,
    silence: () => post("/silence"),
    drop: () => post("/drop"),
    stats: async () => (await fetch(`${control}/stats`)).json(),
    stop: () => child.kill(),
  };
}
