/** One connection for every tab (Cargo feature `share`): in `typed-eventsource/full`. */
export interface TypedEventSourceOptions {
  /**
   * One connection for every tab (default false). `true`: the tabs of this origin that open the same URL with the
   * same options (credentials, transport, method, headers, body) share one connection; a string: the tabs using that
   * key share. One tab leads (Web Locks) and relays events (BroadcastChannel); another takes over, resuming after
   * the last event id, if it closes or stops answering. Each tab keeps its own handlers, rules, states and close
   * reason; `close()` detaches this tab only. Without Web Locks or BroadcastChannel the tab opens its own connection.
   * `pauseWhenHidden` does not apply to a shared source.
   */
  share?: boolean | string;
}

export interface TypedEventSource {
  /** With `share`: whether this tab holds the shared connection ("leader"), receives it from another tab
   * ("follower"), or has its own because the browser cannot share ("alone"); `undefined` without `share`. */
  readonly shareRole: "leader" | "follower" | "alone" | undefined;
}
