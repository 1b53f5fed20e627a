//! Building the demo API's answers: the JSON of a product, a user, an error.

use serde_json::{json, Value};

use super::catalogue::{attr_n, attr_s, Item};

/// The source's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceResponse {
    /// The status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: String,
    /// The `Surrogate-Key` the demo API attaches (purge tags, purge.md "Tags"): read by the
    /// cache layer for the L2 entry and the tag index, never sent to a viewer.
    pub surrogate_key: Option<String>,
}

impl SourceResponse {
    /// `value` as a JSON answer with `status`.
    pub fn json(status: u16, value: &Value) -> Self {
        SourceResponse {
            status,
            content_type: "application/json".into(),
            body: value.to_string(),
            surrogate_key: None,
        }
    }

    /// The same answer tagged with `surrogate_key` (space-separated tags).
    pub fn tagged(self, surrogate_key: String) -> Self {
        SourceResponse {
            surrogate_key: Some(surrogate_key),
            ..self
        }
    }

    /// An error answer: `{"error": error}` with `status`.
    pub fn error(status: u16, error: &str) -> Self {
        Self::json(status, &json!({ "error": error }))
    }
}

/// A product (or a listing's summary of one), its links built on `link_host`.
pub(super) fn product_json(item: &Item, link_host: &str) -> Value {
    let id = attr_n(item, "id");
    let mut v = json!({
        "id": id,
        "name": attr_s(item, "name"),
        "category": attr_s(item, "category"),
        "price": { "amount": attr_n(item, "price"), "currency": "EUR", "unit": "cents" },
        "links": { "self": format!("https://{link_host}/api/products/{id}") },
    });
    if item.contains_key("description") {
        v["description"] = json!(attr_s(item, "description"));
        v["stock"] = json!(attr_n(item, "stock"));
    }
    v
}

/// A user's own record.
pub(super) fn user_json(item: &Item) -> Value {
    json!({
        "id": attr_n(item, "id"),
        "name": attr_s(item, "name"),
        "email": attr_s(item, "email"),
        "plan": attr_s(item, "plan"),
    })
}
