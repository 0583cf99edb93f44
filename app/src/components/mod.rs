//! Small pieces shared by the pages.

mod alarms;
mod characters_left;
mod person;
mod time;

pub use alarms::{AlarmList, Bell, MarkAllRead, TopBar, provide_alarms, use_alarms};
pub use characters_left::CharactersLeft;
pub use person::PersonBadge;
pub use time::{Age, DayLabel, LocalTime, duration_words, hydrated};
