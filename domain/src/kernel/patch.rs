//! Helpers for partial updates (PATCH bodies).

use serde::{Deserialize, Deserializer};

/// Distinguishes an absent field (`None`, via `#[serde(default)]`) from an
/// explicit `null` (`Some(None)`), so a PATCH can clear a field.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
