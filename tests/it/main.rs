//! The server's integration tests, in one binary (it links the server once): the real app on 127.0.0.1:0 with a
//! fresh database and uploads directory per test (`helpers`), spoken to over real HTTP and websockets. Run on
//! SQLite, and on PostgreSQL when `GIF_CHAT_TEST_POSTGRES` names a server (`make test-pg`). Tests that need
//! another real server (NATS, nginx, PostgreSQL) say so and are skipped when it is not installed, unless
//! `GIF_CHAT_REQUIRE_ALL` is set (as `make test` does).

mod helpers;

mod alarms;
mod cluster;
mod delivery;
mod doors;
mod foundation;
mod hostile;
mod limits;
mod memory;
mod object_storage;
mod operations;
mod outage;
mod picker;
mod plain_forms;
mod proxy;
mod room_life;
mod rooms;
mod tls;
