// Type-checked (strict) against the installed package's declarations by tests/e2e/pack-check.mjs: the
// EventSource-only entry point (tests/e2e/usage-full.ts: the full one).
import init, {
  TypedEventSource,
  type CloseReason,
  type EventMeta,
  type ReadyState,
  type ReplayGap,
  type SourceError,
} from "typed-eventsource";

interface Progress {
  status: string;
  step: number;
  steps: number;
}

export async function main(): Promise<void> {
  await init();
  const es = new TypedEventSource("/jobs/7/events", {
    withCredentials: false,
    closeOn: [{ event: "ping", data: "finished" }, { event: "done" }],
    reconnect: { maxRetries: 5, initialDelayMs: 500, maxDelayMs: 10_000 },
    lastEventId: "41",
  });
  es.on<Progress>("message", (p: Progress, meta: EventMeta) => console.log(p.step / p.steps, meta.lastEventId));
  es.onText("ping", (text: string) => console.log(text.toUpperCase()));
  es.onOpen(() => console.log("open"));
  es.onError((e: SourceError) => {
    if (e.kind === "decode") console.log(e.event, e.data);
  });
  es.onStateChange((s: ReadyState) => console.log(s === 2 ? "closed" : "live"));
  es.onClose((r: CloseReason) => {
    if (r.kind === "terminal") console.log(r.event, r.data);
    if (r.kind === "failed") console.log(r.attempts);
  });
  const state: ReadyState = es.readyState;
  const id: string = es.lastEventId;
  const url: string = es.url;
  console.log(state, id, url, es.closeReason?.kind);
  new TypedEventSource("/subscribe", { reconnect: false, resumeParam: null, dedupWindow: 0 });
  const resumed = new TypedEventSource("/subscribe", { resumeParam: "last_event_id", gapEvents: ["resync"], dedupWindow: 256 });
  resumed.onGap((gap: ReplayGap) => console.log(gap.reason ?? "gap", gap.requested, gap.oldest, gap.epoch, gap.lastEventId));
  resumed.onError((e: SourceError) => {
    if (e.kind === "too-large") console.log(e.limit);
    if (e.kind === "not-closed") console.log(e.readyState);
    if (e.kind === "not-an-enum") console.log(e.message);
  });
  const dropped: number = resumed.duplicatesDropped;
  console.log(dropped, resumed.lastGap?.reason);
  new TypedEventSource("/subscribe", { transport: "eventsource", pauseWhenHidden: true });
  es.close();
}
