// The plain-JavaScript page: the npm package's API, no Rust of its own.
import init, { TypedEventSource } from "/pkg/typed_eventsource.js";

const $ = (id) => document.getElementById(id);
const STATES = ["connecting", "open", "closed"];
let source = null;

function log(line) {
  const el = $("js-log");
  el.textContent += `${new Date().toLocaleTimeString("en-GB")}  ${line}\n`;
  el.scrollTop = el.scrollHeight;
}

function badge(state, reason) {
  const el = $("js-badge");
  el.className = `badge ${STATES[state]}`;
  el.dataset.readyState = String(state);
  $("js-status").textContent = reason && reason.kind === "terminal"
    ? `closed — terminal message, readyState ${state}`
    : `${STATES[state]}, readyState ${state}`;
  $("js-close").disabled = state === 2;
}

async function startJob() {
  source?.close();
  const resp = await fetch("/jobs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ steps: 8, intervalMs: 150 }),
  });
  if (!resp.ok) {
    log(`POST /jobs failed: ${resp.status} ${await resp.text()}`);
    return;
  }
  const { id } = await resp.json();
  const url = `/jobs/${id}/events`;
  $("js-url").textContent = `GET ${url}`;
  $("js-reason").textContent = "";

  const es = new TypedEventSource(url, {
    closeOn: [{ event: "ping", data: "finished" }, { event: "ping", data: "interrupted" }],
    reconnect: { maxRetries: 3 },
  });
  source = es;
  es.on("message", (p, meta) => {
    const percent = Math.round((p.step * 100) / p.steps);
    $("js-bar").style.width = `${percent}%`;
    $("js-percent").textContent = `${percent}%`;
    log(`#${meta.lastEventId} ${p.status} ${p.target.db}/${p.target.operation}: ${p.message}`);
  });
  es.onText("ping", (text) => log(`ping: ${text}`));
  es.onOpen(() => log("open"));
  es.onStateChange((state) => badge(state, es.closeReason));
  es.onError((err) => log(`${err.kind}: ${err.message}`));
  es.onClose((reason) => {
    badge(es.readyState, reason);
    const detail = reason.kind === "terminal" ? `terminal message ${reason.event}: ${reason.data}` : reason.kind;
    $("js-reason").textContent = detail;
    log(`closed (${reason.kind}), readyState ${es.readyState}`);
  });
  badge(es.readyState);
}

await init();
$("js-start").addEventListener("click", () => startJob().catch((e) => log(`error: ${e}`)));
$("js-close").addEventListener("click", () => source?.close());
log("module loaded: TypedEventSource is a " + typeof TypedEventSource);
