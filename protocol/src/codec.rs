//! How server functions' answers (and errors) travel: JSON, exactly as server_fn's own `Json` writes it. Only the
//! reading differs. server_fn reads answers with `serde_json::from_slice`, while the page reads its serialised
//! resources and the live channel's events with `serde_json::from_str`. In the wasm bundle each reader is a copy
//! of the code for every type it reads, so every type the page gets both ways was there twice. Reading answers
//! with `from_str` too keeps one copy.

use serde::Serialize;
use serde::de::{DeserializeOwned, Error as _};
use server_fn::codec::Post;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};
use server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};

use crate::error::AppError;

/// JSON, read as text.
pub struct JsonText;

/// The `output` of every server function (`#[server(output = Answers)]`): a POST answered with [`JsonText`].
pub type Answers = Post<JsonText>;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, serde_json::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, serde_json::Error> {
        // JSON is UTF-8 (RFC 8259); `from_slice` refuses anything else as well.
        let text = std::str::from_utf8(&bytes).map_err(serde_json::Error::custom)?;
        serde_json::from_str(text)
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonText;

    /// Failures of the server-function machinery itself. On the server these are arguments that do not parse
    /// (the client's fault); in the browser, a request that did not get through.
    fn from_server_fn_error(error: ServerFnErrorErr) -> AppError {
        match error {
            ServerFnErrorErr::Args(detail) | ServerFnErrorErr::MissingArg(detail) => {
                AppError::BadRequest(format!("The request's arguments are not valid: {detail}"))
            }
            ServerFnErrorErr::Request(detail) | ServerFnErrorErr::Response(detail) => {
                AppError::Unreachable(format!("The request failed: {detail}"))
            }
            other => AppError::Unreachable(format!("The request failed: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RoomId, RoomLabel};

    #[test]
    fn answers_read_back_as_written_and_bad_bytes_are_refused() {
        let label = RoomLabel { id: RoomId::new(3), title: "Ünïcode \"quoted\"".into(), max_members: 9 };
        let bytes = <JsonText as Encodes<RoomLabel>>::encode(&label).unwrap();
        assert_eq!(bytes, serde_json::to_vec(&label).unwrap());
        assert_eq!(<JsonText as Decodes<RoomLabel>>::decode(bytes).unwrap(), label);
        let not_utf8 = Bytes::from_static(b"{\"id\":3,\"title\":\"\xff\",\"max_members\":9}");
        assert!(<JsonText as Decodes<RoomLabel>>::decode(not_utf8).is_err());
        assert!(<JsonText as Decodes<RoomLabel>>::decode(Bytes::from_static(b"{\"id\":3}")).is_err());
    }

    #[test]
    fn malformed_arguments_are_the_clients_fault() {
        let error = AppError::from_server_fn_error(ServerFnErrorErr::Args("room: invalid digit".into()));
        assert_eq!(error.status(), 400);
    }
}
