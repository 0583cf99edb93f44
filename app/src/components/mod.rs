//! Small pieces shared by the pages.

mod person;
mod time;

pub use person::PersonBadge;
pub use time::{Age, LocalTime};
