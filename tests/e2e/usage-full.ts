// Type-checked (strict) against the installed package's declarations by tests/e2e/pack-check.mjs: the full entry
// point, `typed-eventsource/full`; the same class and types as `typed-eventsource`, plus the fetch transport's options
// and tab sharing.
import init, {
  TypedEventSource,
  type FetchRequestInit,
  type RequestAttempt,
  type SourceError,
} from "typed-eventsource/full";

export async function main(): Promise<void> {
  await init();
  const es = new TypedEventSource("/sse/alice", {
    transport: "fetch",
    maxEventBytes: 1 << 20,
    closeOn: [{ event: "ping", data: "finished" }],
    request: async (attempt: RequestAttempt) => ({
      headers: { Authorization: `Bearer ${attempt.unauthorized ? "fresh" : "cached"}-${attempt.connection}` },
    }),
  });
  es.onError((e: SourceError) => {
    if (e.kind === "fatal") console.log(e.status, e.contentType);
  });
  const init2: FetchRequestInit = { method: "POST", body: "{}" };
  new TypedEventSource("/sse/alice", { transport: "fetch", request: () => init2 });
  new TypedEventSource("/sse/alice", { transport: "fetch", method: "POST", headers: { "X-A": "1" }, body: "{}" });
  const shared = new TypedEventSource("/subscribe", { share: true });
  const role: "leader" | "follower" | "alone" | undefined = shared.shareRole;
  new TypedEventSource("/subscribe", { share: "board", transport: "fetch" });
  console.log(role);
  es.close();
}
