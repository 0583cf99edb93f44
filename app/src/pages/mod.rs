//! One module per routed page.

mod alarms;
mod not_found;
mod room;
mod room_list;

pub use alarms::AlarmsPage;
pub use not_found::NotFound;
pub use room::RoomPage;
pub use room_list::{RoomListPage, SentAway, provide_sent_away};
