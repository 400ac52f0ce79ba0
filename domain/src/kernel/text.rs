//! Text helpers every context shares: string enums ([`text_enum!`]) and
//! cutting text to a number of characters.

/// A closed set of values stored and sent as strings: one declaration gives
/// the enum, its serde form (each variant's string, as given), its OpenAPI
/// schema, `ALL`, `as_str`, `parse` and `TryFrom<String>` (for `sqlx`'s
/// `#[sqlx(try_from = "String")]`). Every string enum is declared with it.
///
/// Each string is taken as a token tree, not a `literal` fragment: a
/// fragment reaches the derives wrapped in an invisible group, which serde
/// reads but utoipa does not (the OpenAPI schema then lists the variants'
/// Rust names).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $s:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $s)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|x| x.as_str() == s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $name::parse(&s).ok_or(s)
            }
        }
    };
}
pub(crate) use text_enum;

/// Cuts `s` to at most `max` characters, on a character boundary.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    text_enum!(Sample {
        First = "first",
        Second = "second:two",
    });

    #[test]
    fn serde_the_schema_and_as_str_say_the_same_strings() {
        assert_eq!(serde_json::to_value(Sample::Second).unwrap(), "second:two");
        assert_eq!(
            serde_json::from_value::<Sample>("first".into()).unwrap(),
            Sample::First
        );
        let schema = serde_json::to_value(Sample::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(["first", "second:two"]));
        assert_eq!(Sample::parse("second:two"), Some(Sample::Second));
        assert_eq!(Sample::Second.as_str(), "second:two");
        assert_eq!(
            Sample::try_from("third".to_owned()),
            Err("third".to_owned())
        );
    }
}
