//! Times shown in the reader's own time zone. The server does not know it, so SSR renders UTC and the browser
//! switches to local time right after hydration (the `datetime` attribute always carries the exact instant).

use leptos::prelude::*;

use crate::browser::{iso, local_clock, local_date, local_date_time, local_day, now_millis, repeat_every, utc_clock};

/// Clock time of an instant (Unix milliseconds), e.g. "14:05", with the full date and time in its tooltip.
#[component]
pub fn LocalTime(millis: i64) -> impl IntoView {
    let hydrated = hydrated();
    view! {
        <time datetime=iso(millis) class="time" title=move || { hydrated.track(); local_date_time(millis) }>
            {move || if hydrated.get() { local_clock(millis) } else { utc_clock(millis) }}
        </time>
    }
}

/// The day an instant (Unix milliseconds) falls on, as a separator in a conversation says it: "Today",
/// "Yesterday", or the date. In UTC until the page is live, then in the reader's time zone.
#[component]
pub fn DayLabel(millis: i64) -> impl IntoView {
    let hydrated = hydrated();
    let label = move || {
        hydrated.track();
        match local_day(now_millis()) - local_day(millis) {
            0 => "Today".to_owned(),
            1 => "Yesterday".to_owned(),
            _ => local_date(millis),
        }
    };
    view! { <time datetime=iso(millis)>{label}</time> }
}

/// How long ago an instant was, e.g. "5 min ago"; refreshed every 30 s in the browser.
#[component]
pub fn Age(millis: i64) -> impl IntoView {
    let now = RwSignal::new(now_millis());
    repeat_every(std::time::Duration::from_secs(30), move || now.set(now_millis()));
    view! { <time datetime=iso(millis) class="age">{move || age(now.get() - millis)}</time> }
}

/// False during SSR and hydration, true right after: lets a view switch to browser-only output without a
/// hydration mismatch.
pub fn hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

pub use protocol::model::duration_words;

pub fn age(elapsed_millis: i64) -> String {
    let minutes = elapsed_millis.max(0) / 60_000;
    match minutes {
        0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min ago"),
        60..=1439 => format!("{} h ago", minutes / 60),
        _ => format!("{} d ago", minutes / 1440),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_words(1), "1 second");
        assert_eq!(duration_words(10), "10 seconds");
        assert_eq!(duration_words(60), "1 minute");
        assert_eq!(duration_words(150), "2 minutes");
        assert_eq!(duration_words(7200), "2 hours");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(5_000), "just now");
        assert_eq!(age(-5_000), "just now", "clock skew never shows a negative age");
        assert_eq!(age(5 * 60_000), "5 min ago");
        assert_eq!(age(3 * 3_600_000), "3 h ago");
        assert_eq!(age(50 * 3_600_000), "2 d ago");
    }
}
