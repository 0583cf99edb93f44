//! Times shown in the reader's own time zone. The server does not know it, so SSR renders UTC and the browser
//! switches to local time right after hydration (the `datetime` attribute always carries the exact instant).

use leptos::prelude::*;

/// Clock time of an instant (Unix milliseconds), e.g. "14:05".
#[component]
pub fn LocalTime(millis: i64) -> impl IntoView {
    let hydrated = hydrated();
    view! {
        <time datetime=iso(millis) class="time">
            {move || if hydrated.get() { local_clock(millis) } else { utc_clock(millis) }}
        </time>
    }
}

/// How long ago an instant was, e.g. "5 min ago"; refreshed every 30 s in the browser.
#[component]
pub fn Age(millis: i64) -> impl IntoView {
    let now = RwSignal::new(now_millis());
    #[cfg(feature = "hydrate")]
    {
        if let Ok(handle) =
            set_interval_with_handle(move || now.set(now_millis()), std::time::Duration::from_secs(30))
        {
            on_cleanup(move || handle.clear());
        }
    }
    view! { <time datetime=iso(millis) class="age">{move || age(now.get() - millis)}</time> }
}

/// False during SSR and hydration, true right after: lets a view switch to browser-only output without a
/// hydration mismatch.
fn hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

pub fn age(elapsed_millis: i64) -> String {
    let minutes = elapsed_millis.max(0) / 60_000;
    match minutes {
        0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min ago"),
        60..=1439 => format!("{} h ago", minutes / 60),
        _ => format!("{} d ago", minutes / 1440),
    }
}

fn utc_clock(millis: i64) -> String {
    let minutes_of_day = millis.rem_euclid(86_400_000) / 60_000;
    format!("{:02}:{:02} UTC", minutes_of_day / 60, minutes_of_day % 60)
}

#[cfg(feature = "hydrate")]
fn local_clock(millis: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

#[cfg(not(feature = "hydrate"))]
fn local_clock(millis: i64) -> String {
    utc_clock(millis)
}

fn iso(millis: i64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis as f64));
        String::from(date.to_iso_string())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        // Civil-from-days (Howard Hinnant's algorithm): no date crate needed for one format.
        let days = millis.div_euclid(86_400_000);
        let ms_of_day = millis.rem_euclid(86_400_000);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            ms_of_day / 3_600_000,
            ms_of_day / 60_000 % 60,
            ms_of_day / 1000 % 60,
            ms_of_day % 1000
        )
    }
}

fn now_millis() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(5_000), "just now");
        assert_eq!(age(-5_000), "just now", "clock skew never shows a negative age");
        assert_eq!(age(5 * 60_000), "5 min ago");
        assert_eq!(age(3 * 3_600_000), "3 h ago");
        assert_eq!(age(50 * 3_600_000), "2 d ago");
    }

    #[test]
    fn server_side_times_are_utc() {
        // 2026-11-22T03:41:07.250Z
        let millis = 1_795_318_867_250;
        assert_eq!(utc_clock(millis), "03:41 UTC");
        #[cfg(not(feature = "hydrate"))]
        assert_eq!(iso(millis), "2026-11-22T03:41:07.250Z");
    }
}
