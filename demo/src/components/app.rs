//! The page: a header and one panel per scenario.

use yew::prelude::*;

use super::broadcast::BroadcastBoard;
use super::job::BatchJob;
use super::notifications::Notifications;

/// The whole demo.
#[component]
pub fn App() -> Html {
    html! {
        <>
            <header class="top">
                <div>
                    <h1>{ "typed-eventsource" }</h1>
                    <p class="tagline">
                        { "Typed server-sent events for Yew and JavaScript — every panel below is a live stream from this server." }
                    </p>
                </div>
                <nav>
                    <a href="js.html">{ "Plain JavaScript page →" }</a>
                </nav>
            </header>
            <main class="panels">
                <BroadcastBoard />
                <Notifications />
                <BatchJob />
            </main>
            <footer>
                { "The demo server runs with " }<code>{ "--dev" }</code>
                { ": no tokens. In production, publishing and per-user streams need a token (see server/README.md)." }
            </footer>
        </>
    }
}
