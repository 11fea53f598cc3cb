//! Reading optional response members leniently.
//!
//! A member the docs do not guarantee is optional in the generated types; this makes it optional
//! in *type* as well as in presence: a value of another type than documented (`"progress": 42.5`
//! where an integer was documented, a date without its offset) reads as absent instead of
//! failing the whole answer. The generated response types use it on every optional member
//! (`#[serde(default, deserialize_with = "cutout_runtime::lenient::optional")]`); required
//! members stay strict, since a workflow cannot go on without them.

use serde::de::{Deserialize, DeserializeOwned, Deserializer};

/// Deserializes an optional member: `null`, or a value that does not fit `T`, is `None`.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    if value.is_null() {
        return Ok(None);
    }
    match serde_json::from_value(value) {
        Ok(value) => Ok(Some(value)),
        Err(error) => {
            tracing::debug!(%error, "an optional member of an answer has an undocumented type; read as absent");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Status {
        id: String,
        #[serde(default, deserialize_with = "super::optional")]
        progress: Option<i64>,
        #[serde(default, deserialize_with = "super::optional")]
        tags: Option<Vec<String>>,
    }

    #[test]
    fn a_mistyped_optional_member_reads_as_absent() {
        let read = |json: &str| serde_json::from_str::<Status>(json);
        let status = read(r#"{"id":"a","progress":42.5,"tags":"one"}"#).unwrap();
        assert_eq!((status.progress, status.tags), (None, None));
        let status = read(r#"{"id":"a","progress":42,"tags":["one"]}"#).unwrap();
        assert_eq!(status.progress, Some(42));
        assert_eq!(status.tags, Some(vec!["one".to_owned()]));
        let status = read(r#"{"id":"a","progress":null}"#).unwrap();
        assert_eq!(status.progress, None);
        // Required members stay strict.
        assert!(read(r#"{"id":7}"#).is_err());
    }
}
