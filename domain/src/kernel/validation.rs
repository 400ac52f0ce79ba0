//! Input validation that collects every failing field, so one 422 names them all.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            code,
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing failed, else the collected errors.
    pub fn finish(self) -> Result<(), crate::DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::DomainError::Validation(self))
        }
    }

    /// Trims a required text field and checks its length in characters.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, "required", format!("{field} must not be empty"));
        } else if v.chars().count() > max {
            self.add(
                field,
                "too_long",
                format!("{field} must be at most {max} characters"),
            );
        }
        v.to_owned()
    }

    /// Trims an optional text field; empty becomes `None`.
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let v = value.map(str::trim).filter(|v| !v.is_empty())?;
        if v.chars().count() > max {
            self.add(
                field,
                "too_long",
                format!("{field} must be at most {max} characters"),
            );
        }
        Some(v.to_owned())
    }

    /// An optional e-mail address, trimmed; empty becomes `None`.
    pub fn optional_email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let v = value.map(str::trim).filter(|v| !v.is_empty())?;
        if !is_valid_email(v) {
            self.add(
                field,
                "invalid_email",
                format!("{field} is not a valid e-mail address"),
            );
        }
        Some(v.to_owned())
    }

    /// A required e-mail address, trimmed.
    pub fn email(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        if !is_valid_email(v) {
            self.add(
                field,
                "invalid_email",
                format!("{field} is not a valid e-mail address"),
            );
        }
        v.to_owned()
    }
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted
/// domain of letters, digits and hyphens, no spaces, at most 254 characters.
pub fn is_valid_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.com", "ü@zürich.ch"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@b..c", "a@-b.c", "a@@b.c",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn collects_every_field() {
        let mut v = ValidationErrors::new();
        v.required_text("name", "  ", 10);
        v.required_text("title", "abcdefghijk", 10);
        assert_eq!(v.0.len(), 2);
        assert_eq!(v.0[0].code, "required");
        assert_eq!(v.0[1].code, "too_long");
    }
}
