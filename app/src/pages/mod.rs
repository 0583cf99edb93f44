//! One module per routed page.

mod home;
mod not_found;
mod room;

pub use home::HomePage;
pub use not_found::NotFound;
pub use room::RoomListPage;
