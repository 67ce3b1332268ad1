/** `EventSource.readyState`: 0 CONNECTING, 1 OPEN, 2 CLOSED. */
export type ReadyState = 0 | 1 | 2;

/** What a handler learns about an event besides its data. */
export interface EventMeta {
  /** The event type (`"message"` for unnamed events). */
  event: string;
  /** The last event id the stream has set. */
  lastEventId: string;
  /** The origin of the stream. */
  origin: string;
}

/** Closes the source after an event of type `event` (with exactly this `data`, if given). */
export interface CloseRule {
  event: string;
  data?: string;
}

/** Re-opening after the browser gives up (a non-200 status, say); `lastEventId` is carried across. */
export interface ReconnectOptions {
  /** Re-opens in a row before giving up (default 5). */
  maxRetries?: number;
  /** Delay before the first re-open (default 1000). */
  initialDelayMs?: number;
  /** Longest delay (default 30000). */
  maxDelayMs?: number;
  /** Factor between delays (default 2). */
  multiplier?: number;
  /** Largest share of each delay taken off at random, 0..1 (default 0.5). */
  jitter?: number;
}

/**
 * The options of `new TypedEventSource(url, options)`. Each entry point adds its own: `transport` (`"eventsource"`
 * only in `typed-eventsource`; `"fetch"` too, with its options, in `typed-eventsource/full`) and, in
 * `typed-eventsource/full`, `share`.
 */
export interface TypedEventSourceOptions {
  /** Send cookies cross-origin (default false). */
  withCredentials?: boolean;
  /** Terminal messages: the source closes itself after the first match. */
  closeOn?: CloseRule[];
  /** Whether a terminal event still reaches its handlers (default true). */
  deliverTerminal?: boolean;
  /** Reconnect policy after fatal errors, or `false` for none (default: 5 retries with backoff). */
  reconnect?: ReconnectOptions | false;
  /** Resume after this id: the `lastEventId` query parameter (EventSource) or `Last-Event-ID` header (fetch). */
  lastEventId?: string;
  /** Close while the page is hidden, resume after the last id when shown (default false). */
  pauseWhenHidden?: boolean;
  /**
   * The query parameter carrying the id to resume after when the library opens a new EventSource (default
   * "lastEventId"); `null` for none (the server reads the Last-Event-ID header). Fetch always sends the header.
   */
  resumeParam?: string | null;
  /** More event types that signal a gap, besides "replay-gap": they go to `onGap`, never to `on`/`onText`. */
  gapEvents?: string[];
  /** Drop an event whose id is among those of the last N delivered (default 64; 0 = off). */
  dedupWindow?: number;
  /**
   * Milliseconds without anything arriving after which the connection is presumed dead, dropped and re-opened
   * (reconnect policy, resuming after the last id; a `heartbeat-timeout` error). 0 turns it off; otherwise at least
   * 1000. Default: 45000 (or three heartbeat periods the server announces, if longer), applied by the fetch transport
   * from the start and by EventSource once the server's first `heartbeat` event arrives (it cannot see comments).
   */
  heartbeatTimeout?: number;
}

/**
 * A gap: the server could not resume after the id sent (a `replay-gap` event, or one of `gapEvents`); events may have
 * been missed. The fields of its JSON data are present when the server sent them.
 */
export interface ReplayGap {
  /** The gap event's type. */
  event: string;
  /** The gap event's id: the stream resumes after it. */
  lastEventId: string;
  /** The raw data. */
  data: string;
  /** The id the client asked to resume after. */
  requested?: string;
  /** The oldest id the server still has. */
  oldest?: string;
  /** The server's epoch. */
  epoch?: string;
  /** "malformed", "other-epoch", "unknown" or "expired" from the project's server. */
  reason?: string;
}

/**
 * An error: `transient` while the browser reconnects, `fatal` when it gave up, `decode` for data that is not JSON,
 * `open` for a URL the browser refuses, `too-large` for an event over `maxEventBytes` (skipped), `not-closed` if the
 * browser does not read CLOSED after a close, `heartbeat-timeout` when the stream went silent (it is re-opened),
 * `offline` while the browser is offline (the source waits for the network), `not-an-enum` (Rust's whole-stream
 * dispatch only).
 */
export type SourceError =
  | { kind: "transient"; message: string }
  | { kind: "fatal"; message: string; status?: number; contentType?: string }
  | { kind: "decode"; message: string; event: string; data: string; reason: string }
  | { kind: "open"; message: string }
  | { kind: "too-large"; message: string; limit: number }
  | { kind: "not-closed"; message: string; readyState: ReadyState }
  | { kind: "heartbeat-timeout"; message: string; timeoutMs: number }
  | { kind: "offline"; message: string }
  | { kind: "not-an-enum"; message: string };

/** Why a source closed; reported exactly once. */
export type CloseReason =
  | { kind: "terminal"; event: string; data: string }
  | { kind: "client" }
  | { kind: "failed"; message: string; attempts: number };

/**
 * A typed EventSource: JSON-decoded handlers per event type, terminal messages, readyState and a reconnect policy.
 *
 * ```js
 * const es = new TypedEventSource("/jobs/7/events", { closeOn: [{ event: "ping", data: "finished" }] });
 * es.on("message", (progress, meta) => render(progress));
 * es.onClose((reason) => console.log(reason.kind));
 * ```
 */
export class TypedEventSource {
  /** Opens a source on `url`. Throws on invalid options or a URL the browser refuses. */
  constructor(url: string, options?: TypedEventSourceOptions);
  /** Handles events of type `event`, their data parsed as JSON (data that is not JSON goes to `onError` as `decode`). */
  on<T = unknown>(event: string, handler: (data: T, meta: EventMeta) => void): void;
  /** Handles events of type `event` as raw text. */
  onText(event: string, handler: (text: string, meta: EventMeta) => void): void;
  /** Called each time the connection opens. */
  onOpen(handler: () => void): void;
  /** Called with every error. */
  onError(handler: (error: SourceError) => void): void;
  /** Called on every readyState change. */
  onStateChange(handler: (state: ReadyState) => void): void;
  /** Called with each gap the server signals; gap events never reach `on`/`onText`. */
  onGap(handler: (gap: ReplayGap) => void): void;
  /** Called exactly once when the source closes (at once if it already has). */
  onClose(handler: (reason: CloseReason) => void): void;
  /** Closes the source; harmless when already closed. */
  close(): void;
  /** The state: the browser's `EventSource.readyState` (also once closed); for fetch, as it would read. */
  readonly readyState: ReadyState;
  /** Events dropped as duplicates (see `dedupWindow`). */
  readonly duplicatesDropped: number;
  /** The last gap signalled, or `undefined`. */
  readonly lastGap: ReplayGap | undefined;
  /** The last event id seen ("" before any). */
  readonly lastEventId: string;
  /** Whether the source is waiting for the network (the browser is offline); it reconnects once back online. */
  readonly offline: boolean;
  /** The URL given. */
  readonly url: string;
  /** Why the source closed, or `undefined` while it is not closed. */
  readonly closeReason: CloseReason | undefined;
  /** Closes the source and frees its memory. */
  free(): void;
  [Symbol.dispose](): void;
}
