/** The options of `new TypedEventSource(url, options)` from `typed-eventsource`: the browser's EventSource only. */
export interface TypedEventSourceOptions extends BaseOptions {
  /**
   * `"eventsource"` (the default and only transport of this entry point): the browser's EventSource. For `"fetch"`
   * (headers, POST, HTTP statuses in errors) import `typed-eventsource/full`.
   */
  transport?: "eventsource";
}
