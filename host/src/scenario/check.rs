//! Matching what a plugin did against what a scenario expects.

use serde::Deserialize;
use serde_json::Value;

/// Expected text: exact (a plain string), `{contains: s}` or `{matches: regex}`.
#[derive(Debug, Clone)]
pub enum Text {
    /// Exactly this.
    Exact(String),
    /// Contains this.
    Contains(String),
    /// Matches this regular expression (anywhere; anchor it with `^…$`).
    Matches(regex::Regex),
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = Value::deserialize(deserializer)?;
        Text::from_value(value).map_err(D::Error::custom)
    }
}

impl Text {
    fn from_value(value: Value) -> Result<Self, String> {
        const HINT: &str =
            "expected text: a string (exact), {contains: \"...\"} or {matches: \"regex\"}";
        match value {
            Value::String(s) => Ok(Self::Exact(s)),
            // YAML `42` or `true` where a reply is expected means the text "42".
            Value::Number(n) => Ok(Self::Exact(n.to_string())),
            Value::Bool(b) => Ok(Self::Exact(b.to_string())),
            Value::Object(map) if map.len() == 1 => {
                let (key, value) = map.into_iter().next().ok_or(HINT)?;
                let Value::String(text) = value else {
                    return Err(format!("`{key}` takes a string; {HINT}"));
                };
                match key.as_str() {
                    "contains" => Ok(Self::Contains(text)),
                    "matches" => regex::Regex::new(&text)
                        .map(Self::Matches)
                        .map_err(|e| format!("`matches` is not a valid regex: {e}")),
                    other => Err(format!("unknown matcher `{other}`; {HINT}")),
                }
            }
            _ => Err(HINT.into()),
        }
    }

    /// Whether `text` is what is expected.
    pub fn accepts(&self, text: &str) -> bool {
        match self {
            Self::Exact(s) => s == text,
            Self::Contains(s) => text.contains(s.as_str()),
            Self::Matches(re) => re.is_match(text),
        }
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(s) => write!(f, "{s:?}"),
            Self::Contains(s) => write!(f, "(contains {s:?})"),
            Self::Matches(re) => write!(f, "(matches /{}/)", re.as_str()),
        }
    }
}

/// Whether `actual` holds at least what `expected` holds: objects may have
/// more fields, everything else must be equal (numbers by value).
pub fn json_subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => want
            .iter()
            .all(|(k, v)| have.get(k).is_some_and(|h| json_subset(v, h))),
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| json_subset(w, h))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => expected == actual,
    }
}

/// Whether `have` matches `want` item by item (same length).
pub fn all_accept(want: &[Text], have: &[String]) -> bool {
    want.len() == have.len() && want.iter().zip(have).all(|(w, h)| w.accepts(h))
}

/// `["a", (contains "b")]`, for messages.
pub fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// `["a", "b"]`, for messages.
pub fn quoted(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: Value) -> Result<Text, String> {
        Text::from_value(value)
    }

    #[test]
    fn text_matchers() {
        assert!(text(json!("hi")).unwrap().accepts("hi"));
        assert!(!text(json!("hi")).unwrap().accepts("hi "));
        assert!(text(json!({"contains": "ell"})).unwrap().accepts("hello"));
        assert!(
            text(json!({"matches": "^#\\d+:"}))
                .unwrap()
                .accepts("#12: x")
        );
        assert!(
            !text(json!({"matches": "^#\\d+:"}))
                .unwrap()
                .accepts("x #12:")
        );
        assert!(text(json!(42)).unwrap().accepts("42"));
        assert!(
            text(json!({"matches": "("}))
                .unwrap_err()
                .contains("not a valid regex")
        );
        assert!(
            text(json!({"like": "x"}))
                .unwrap_err()
                .contains("unknown matcher")
        );
        assert!(text(json!([1])).unwrap_err().contains("contains"));
    }

    #[test]
    fn json_subset_allows_extra_fields_only() {
        let have = json!({"channel": "a", "text": "hi", "n": 1, "list": [1, 2]});
        assert!(json_subset(&json!({"channel": "a"}), &have));
        assert!(json_subset(&json!({"n": 1.0, "list": [1, 2]}), &have));
        assert!(!json_subset(&json!({"channel": "b"}), &have));
        assert!(!json_subset(&json!({"missing": null}), &have));
        assert!(!json_subset(&json!({"list": [1]}), &have));
    }
}
