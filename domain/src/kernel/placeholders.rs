//! `{{name}}` placeholders in texts people write (canned replies and mail
//! texts): parsed once, checked against the names a kind of text
//! offers when it is saved, and filled when it is used. No template engine:
//! no conditions, loops or escaping, only names replaced by values.
//!
//! Syntax: `{{` opens a placeholder and the next `}}` closes it; the name
//! between may have spaces around it (`{{ ticket.number }}`). A `{{` with no
//! `}}` after it is an error; a lone `}}` is plain text.

use std::collections::HashMap;

use crate::kernel::validation::ValidationErrors;

/// Why a text's placeholders are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    /// A `{{` at this character offset has no `}}` after it.
    #[error("the placeholder opened at character {at} is never closed with }}}}")]
    Unclosed { at: usize },
    /// Placeholders the text may not use, each once, in order.
    #[error("unknown placeholder {}; known: {}", braced(.names), braced(.known))]
    Unknown {
        names: Vec<String>,
        known: Vec<String>,
    },
    /// The text holds a NUL character, which no stored text may.
    #[error("the text contains a NUL character")]
    Nul,
}

impl PlaceholderError {
    /// The validation code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            PlaceholderError::Unclosed { .. } => "unclosed_placeholder",
            PlaceholderError::Unknown { .. } => "unknown_placeholder",
            PlaceholderError::Nul => "nul_character",
        }
    }
}

fn braced(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{{{{{n}}}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Name(String),
}

/// A text split into plain parts and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text` and checks that it uses only the names in `known`.
    pub fn parse(text: &str, known: &[&str]) -> Result<Template, PlaceholderError> {
        if text.contains('\0') {
            return Err(PlaceholderError::Nul);
        }
        let mut parts = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(PlaceholderError::Unclosed {
                    at: offset + rest[..open].chars().count(),
                });
            };
            let name = after[..close].trim();
            if !known.contains(&name) && !unknown.iter().any(|u| u == name) {
                unknown.push(name.to_owned());
            }
            parts.push(Part::Name(name.to_owned()));
            let used = open + 2 + close + 2;
            offset += rest[..used].chars().count();
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if !unknown.is_empty() {
            return Err(PlaceholderError::Unknown {
                names: unknown,
                known: known.iter().map(|k| (*k).to_owned()).collect(),
            });
        }
        Ok(Template { parts })
    }

    /// `text` as it is, with no placeholders.
    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Text(text.to_owned())],
        }
    }

    /// The names used, each once, in order.
    pub fn names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::Name(n) = p
                && !out.contains(&n.as_str())
            {
                out.push(n);
            }
        }
        out
    }

    /// The text with each placeholder replaced by its value; a name without
    /// a value becomes the empty string.
    pub fn fill(&self, values: &HashMap<&str, String>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Name(n) => out.push_str(values.get(n.as_str()).map_or("", String::as_str)),
            }
        }
        out
    }
}

/// [`Template::parse`] for a field of a request: the error, if any, goes
/// into `v` under `field`.
pub fn check(
    v: &mut ValidationErrors,
    field: &str,
    text: &str,
    known: &[&str],
) -> Option<Template> {
    match Template::parse(text, known) {
        Ok(t) => Some(t),
        Err(e) => {
            v.add(field, e.code(), e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["contact.name", "ticket.number"];

    #[test]
    fn fills_known_names_and_leaves_missing_ones_empty() {
        let t = Template::parse("Hi {{ contact.name }}, #{{ticket.number}}}} ok", KNOWN)
            .expect("parses");
        assert_eq!(t.names(), vec!["contact.name", "ticket.number"]);
        let mut values = HashMap::new();
        values.insert("contact.name", "Alice".to_owned());
        assert_eq!(t.fill(&values), "Hi Alice, #}} ok");
    }

    #[test]
    fn refuses_unknown_unclosed_and_nul() {
        match Template::parse("{{contact.name}} {{x.y}} {{x.y}} {{z}}", KNOWN) {
            Err(PlaceholderError::Unknown { names, .. }) => assert_eq!(names, vec!["x.y", "z"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Template::parse("ok {{contact.name}} then {{ticket.number", KNOWN),
            Err(PlaceholderError::Unclosed { at: 25 })
        );
        assert_eq!(Template::parse("a\0b", KNOWN), Err(PlaceholderError::Nul));
        let e = Template::parse("{{nope}}", KNOWN).expect_err("unknown");
        assert!(e.to_string().contains("{{nope}}"), "{e}");
    }

    #[test]
    fn plain_text_is_itself() {
        let t = Template::parse("no placeholders } here {", KNOWN).expect("parses");
        assert_eq!(t.fill(&HashMap::new()), "no placeholders } here {");
    }
}
