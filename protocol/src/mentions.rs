//! Mentions: a message's body stores a mention as its person's id, `<@id>` (what the composer's `@` list puts
//! there when the message leaves); pages show it as the person's name, in their color, and it alarms them.

use crate::model::Person;

/// The most people one message may mention.
pub const MAX_MENTIONS: usize = 10;

/// The longest id a mention may carry (a person's id is 32 hex digits; ids are at most this long).
const MAX_ID: usize = 64;

/// How a body stores a mention of the person with this id.
pub fn token(id: &str) -> String {
    format!("<@{id}>")
}

/// A piece of a body: text, or the id of a person mentioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'t> {
    Text(&'t str),
    Mention(&'t str),
}

/// Cuts `body` into its text and its mentions (`<@` then 1 to 64 ASCII letters or digits then `>`; anything else is
/// text).
pub fn pieces(body: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let (mut text_from, mut at) = (0, 0);
    while let Some(found) = body[at..].find("<@") {
        let start = at + found;
        let id_from = start + 2;
        let id_len = body[id_from..].bytes().take_while(u8::is_ascii_alphanumeric).take(MAX_ID + 1).count();
        if (1..=MAX_ID).contains(&id_len) && body[id_from + id_len..].starts_with('>') {
            if start > text_from {
                pieces.push(Piece::Text(&body[text_from..start]));
            }
            pieces.push(Piece::Mention(&body[id_from..id_from + id_len]));
            text_from = id_from + id_len + 1;
            at = text_from;
        } else {
            at = id_from;
        }
    }
    if text_from < body.len() {
        pieces.push(Piece::Text(&body[text_from..]));
    }
    pieces
}

/// The ids `body` mentions, in order, each once.
pub fn mentioned(body: &str) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for piece in pieces(body) {
        if let Piece::Mention(id) = piece
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}

/// `body` with each mention of one of `people` written as "@name" (the others as they are): for previews, quotes
/// and notifications, which show text only.
pub fn with_names(body: &str, people: &[Person]) -> String {
    pieces(body)
        .into_iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.to_owned(),
            Piece::Mention(id) => match people.iter().find(|person| person.id.as_str() == id) {
                Some(person) => format!("@{}", person.name),
                None => token(id),
            },
        })
        .collect()
}

/// `text` with each of `chosen` (what the composer wrote for a mention, e.g. "@Rustic Gecko", and whose id it is)
/// written as its mention: what a message's body stores. The longest first, so that "@Ann Lee" is not taken for
/// "@Ann".
pub fn with_tokens(text: &str, chosen: &[(String, String)]) -> String {
    let mut chosen: Vec<&(String, String)> = chosen.iter().filter(|(shown, _)| !shown.is_empty()).collect();
    chosen.sort_by_key(|(shown, _)| std::cmp::Reverse(shown.len()));
    let mut text = text.to_owned();
    for (shown, id) in chosen {
        text = text.replace(shown.as_str(), &token(id));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mentions_are_cut_out_of_the_text_and_anything_else_stays_text() {
        assert_eq!(
            pieces("hi <@ab12>, and <@cd34>!"),
            [
                Piece::Text("hi "),
                Piece::Mention("ab12"),
                Piece::Text(", and "),
                Piece::Mention("cd34"),
                Piece::Text("!")
            ]
        );
        assert_eq!(pieces("<@ab12>"), [Piece::Mention("ab12")]);
        for text in ["<@>", "<@ab 12>", "<@ab-12>", "<@ab12", "<ab12>", "@ab12"] {
            assert_eq!(pieces(text), [Piece::Text(text)]);
        }
        assert_eq!(pieces("a <@<@ab12>"), [Piece::Text("a <@"), Piece::Mention("ab12")]);
        let long = format!("<@{}>", "a".repeat(MAX_ID + 1));
        assert_eq!(pieces(&long), [Piece::Text(&long)]);
        assert_eq!(mentioned("<@a> <@b> <@a>"), ["a", "b"]);
        assert_eq!(pieces(""), []);
    }

    #[test]
    fn text_only_views_name_the_people_mentioned() {
        let ada: Person = serde_json::from_str(r#"{"id":"ab12","name":"Rustic Gecko","hue":1}"#).unwrap();
        assert_eq!(with_names("hi <@ab12> and <@cd34>", &[ada]), "hi @Rustic Gecko and <@cd34>");
        let chosen = [("@Ann".to_owned(), "a1".to_owned()), ("@Ann Lee".to_owned(), "b2".to_owned())];
        assert_eq!(with_tokens("@Ann Lee and @Ann, @Ann", &chosen), "<@b2> and <@a1>, <@a1>");
    }

    proptest! {
        /// The pieces put together are the body, whatever it is.
        #[test]
        fn pieces_put_together_are_the_body(body in "(<@[a-z0-9]{0,3}>?|[^<]{0,4}|<){0,12}") {
            let whole: String = pieces(&body)
                .into_iter()
                .map(|piece| match piece {
                    Piece::Text(text) => text.to_owned(),
                    Piece::Mention(id) => token(id),
                })
                .collect();
            prop_assert_eq!(whole, body);
        }
    }
}
