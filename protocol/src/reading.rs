//! How the structs of answers and events are read: from a JSON object only, field by field.
//!
//! serde's derived `Deserialize` makes, for every struct, a reader of maps, a reader of sequences (a struct
//! written as an array, which JSON from this server never is) and a reader of its field names. The browser
//! reads every type that answers and events carry, and in its bundle those readers were a good part of the code
//! (twiggy). [`read_from_map!`] makes the one reader a JSON object needs: each key is compared with the field
//! names, a key the struct does not know is skipped (as serde does), and a missing field is an error unless it
//! is marked `= default` (then it is the type's default: `None`, empty, `false`). The struct keeps serde's
//! derived `Serialize`; the round-trip tests check that what one writes the other reads.

/// `Deserialize` for a struct, from an object of its fields by their names (a field whose name on the wire is
/// another says so with `as "name"`). Every field is listed.
macro_rules! read_from_map {
    ($ty:ident { $($field:ident $(as $wire:literal)? $(= $default:ident)?),* $(,)? }) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                struct Reader;
                impl<'de> ::serde::de::Visitor<'de> for Reader {
                    type Value = $ty;

                    fn expecting(&self, formatter: &mut ::std::fmt::Formatter) -> ::std::fmt::Result {
                        formatter.write_str(concat!("an object: ", stringify!($ty)))
                    }

                    fn visit_map<A: ::serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        $(let mut $field = None;)*
                        while let Some(key) = map.next_key::<String>()? {
                            $(if key == read_from_map!(@wire $field $($wire)?) {
                                $field = Some(map.next_value()?);
                                continue;
                            })*
                            map.next_value::<::serde::de::IgnoredAny>()?;
                        }
                        Ok($ty {
                            $($field: match $field {
                                Some(value) => value,
                                None => read_from_map!(@missing $field $($wire)? $(= $default)?),
                            }),*
                        })
                    }
                }
                deserializer.deserialize_map(Reader)
            }
        }
    };
    (@wire $field:ident) => { stringify!($field) };
    (@wire $field:ident $wire:literal) => { $wire };
    (@missing $field:ident $($wire:literal)? = default) => { Default::default() };
    (@missing $field:ident $($wire:literal)?) => {
        return Err(::serde::de::Error::missing_field(read_from_map!(@wire $field $($wire)?)))
    };
}
