/** The transport of `typed-eventsource`: the browser's EventSource only. */
export interface TypedEventSourceOptions {
  /**
   * `"eventsource"` (the default and only transport of this entry point): the browser's EventSource. For `"fetch"`
   * (headers, POST, HTTP statuses in errors) import `typed-eventsource/full`.
   */
  transport?: "eventsource";
}
