/** The transports of `typed-eventsource/full`: EventSource or fetch, and the fetch transport's options. */
export interface TypedEventSourceOptions {
  /**
   * `"eventsource"` (default): the browser's EventSource. `"fetch"`: fetch + ReadableStream, which allows `method`,
   * `headers` (an Authorization header) and `body`, and reports HTTP statuses in errors.
   */
  transport?: "eventsource" | "fetch";
  /** Fetch transport only: the HTTP method (default "GET"). */
  method?: string;
  /** Fetch transport only: extra request headers. */
  headers?: Record<string, string>;
  /** Fetch transport only: the request body. */
  body?: string;
  /** Fetch transport only: the largest event accepted, in bytes (default 16 MiB); larger ones are `too-large` errors. */
  maxEventBytes?: number;
  /**
   * Fetch transport only: the request of each connection attempt (first connect, every reconnect, and once more after
   * a 401 with `unauthorized: true`), e.g. with a fresh bearer token. May return a Promise.
   */
  request?: (attempt: RequestAttempt) => FetchRequestInit | Promise<FetchRequestInit>;
}

/** What a `request` callback is asked for. */
export interface RequestAttempt {
  /** Connections made before this one (0: the first). */
  connection: number;
  /** The previous request of this connection got 401: refresh the credentials (asked once; a second 401 is fatal). */
  unauthorized: boolean;
}

/** The fetch request of one attempt, as a `request` callback returns it (replaces `method`, `headers`, `body`). */
export interface FetchRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}
