//! What server functions need from the request they run in: the chat service, the visitor, and a way to give an
//! error its HTTP status.

use std::sync::Arc;

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::Person;
use crate::server::chat::Chat;
use crate::server::identity::Visitor;
use crate::server::AppState;

pub fn chat() -> Arc<Chat> {
    expect_context::<AppState>().chat
}

/// The person making the request (every request has one: the visitor layer creates it).
pub async fn me() -> Result<Person, AppError> {
    let axum::Extension(visitor) = leptos_axum::extract::<axum::Extension<Visitor>>().await?;
    Ok(visitor.person)
}

/// Answers an error with its HTTP status (server functions otherwise answer every error with 500).
pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(error) = &result {
        if let (Some(response), Ok(status)) =
            (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(error.status()))
        {
            response.set_status(status);
        }
    }
    result
}
