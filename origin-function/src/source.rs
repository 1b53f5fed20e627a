//! The source of truth: the demo API of reference-rules.md over a DynamoDB catalogue table.
//! A load really reads the table (GetItem / Query), so its cost is real.
//!
//! Catalogue schema (`pk` hash, `sk` range, both strings):
//! - `product#<id>` / `#`: `id`, `name`, `category`, `price` (cents), `stock`, `description`;
//! - `list#all` and `list#<category>` / `id#<id:07>` and `price#<cents:09>#<id:07>`: a
//!   product summary, one per listing order;
//! - `config` / `#`: `body` (the JSON of `/api/config`);
//! - `static#<name>` / `#`: `contentType`, `body`, or `generatedBytes` for a generated body;
//! - `user#<n>` / `#`: `id`, `name`, `email`, `plan`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use serde_json::{json, Value};

use crate::error::OriginError;

/// Categories of the demo catalogue.
pub const CATEGORIES: [&str; 10] = [
    "books", "games", "music", "garden", "kitchen", "sports", "toys", "tools", "beauty", "office",
];
/// Users `1..=USERS` exist; user *n*'s demo token is `user-n`.
pub const USERS: u32 = 100;
const ADJECTIVES: [&str; 8] = ["red", "blue", "small", "large", "classic", "modern", "quiet", "bright"];
const NOUNS: [&str; 8] = [
    "lamp", "chair", "kettle", "guide", "puzzle", "speaker", "racket", "brush",
];

/// What the source reads of a request (canonical path and query; headers the app reads).
#[derive(Debug, Clone, Copy)]
pub struct SourceRequest<'a> {
    /// The canonical path.
    pub path: &'a str,
    /// The canonical query string.
    pub query: &'a str,
    /// The host links are built from (`X-Forwarded-Host` when present, else `Host`).
    pub link_host: &'a str,
    /// The `Authorization` value, if any.
    pub authorization: Option<&'a str>,
}

/// The source's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceResponse {
    /// The status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: String,
}

impl SourceResponse {
    fn json(status: u16, value: &Value) -> Self {
        SourceResponse {
            status,
            content_type: "application/json".into(),
            body: value.to_string(),
        }
    }

    fn error(status: u16, error: &str) -> Self {
        Self::json(status, &json!({ "error": error }))
    }
}

/// The catalogue: the demo API's data.
#[derive(Debug, Clone)]
pub struct Catalogue {
    client: Client,
    table: String,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

type Item = HashMap<String, AttributeValue>;

fn attr_s<'i>(item: &'i Item, name: &str) -> &'i str {
    item.get(name).and_then(|v| v.as_s().ok()).map_or("", String::as_str)
}

fn attr_n(item: &Item, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Decodes `%XX` and `+` (form encoding, as web frameworks read query values).
fn decode_component(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit() => {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|item| match item.split_once('=') {
        Some((k, v)) if k == name => Some(v),
        None if item == name => Some(""),
        _ => None,
    })
}

/// The demo product with id `id` (deterministic, so tests and seed agree).
pub fn demo_product(id: u32) -> Item {
    let category = CATEGORIES[(id as usize) % CATEGORIES.len()];
    let name = format!(
        "{} {} {id}",
        ADJECTIVES[(id as usize / 3) % ADJECTIVES.len()],
        NOUNS[(id as usize / 7) % NOUNS.len()]
    );
    let price = 99 + u64::from(id).wrapping_mul(7919) % 100_000;
    let mut item = Item::new();
    item.insert("id".into(), n(u64::from(id)));
    item.insert("name".into(), s(&name));
    item.insert("nameLc".into(), s(&name.to_lowercase()));
    item.insert("category".into(), s(category));
    item.insert("price".into(), n(price));
    item.insert("stock".into(), n(u64::from(id % 50)));
    item.insert("description".into(), s(&format!("The {name}, in {category}.")));
    item
}

/// Every catalogue item of product `id`: the product and its four listing entries.
pub fn product_items(id: u32) -> Vec<Item> {
    let product = demo_product(id);
    let price = attr_n(&product, "price");
    let category = attr_s(&product, "category").to_owned();
    let mut items = Vec::with_capacity(5);
    let mut p = product.clone();
    p.insert("pk".into(), s(&format!("product#{id}")));
    p.insert("sk".into(), s("#"));
    items.push(p);
    for list in ["all", category.as_str()] {
        for sk in [format!("id#{id:07}"), format!("price#{price:09}#{id:07}")] {
            let mut summary: Item = ["id", "name", "nameLc", "category", "price"]
                .iter()
                .filter_map(|k| product.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect();
            summary.insert("pk".into(), s(&format!("list#{list}")));
            summary.insert("sk".into(), s(&sk));
            items.push(summary);
        }
    }
    items
}

/// The non-product items: config, static assets, users.
pub fn fixed_items() -> Vec<Item> {
    let mut items = Vec::new();
    let mut put = |pk: &str, attrs: Vec<(&str, AttributeValue)>| {
        let mut item: Item = attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        item.insert("pk".into(), s(pk));
        item.insert("sk".into(), s("#"));
        items.push(item);
    };
    let config = json!({ "currency": "EUR", "features": { "reviews": true, "wishlist": false }, "version": 1 });
    put("config", vec![("body", s(&config.to_string()))]);
    put(
        "static#app.css",
        vec![
            ("contentType", s("text/css")),
            ("body", s("body{font-family:sans-serif}\n")),
        ],
    );
    put(
        "static#app.js",
        vec![
            ("contentType", s("text/javascript")),
            ("body", s("console.log('demo');\n")),
        ],
    );
    // A large, poorly compressible asset: over DynamoDB's 400 KB item limit even gzipped.
    put(
        "static#large.txt",
        vec![("contentType", s("text/plain")), ("generatedBytes", n(800_000))],
    );
    for u in 1..=USERS {
        put(
            &format!("user#{u}"),
            vec![
                ("id", n(u64::from(u))),
                ("name", s(&format!("User {u}"))),
                ("email", s(&format!("user{u}@example.com"))),
                ("plan", s(if u % 10 == 0 { "pro" } else { "free" })),
            ],
        );
    }
    items
}

/// A deterministic, poorly compressible text body of `len` bytes (xorshift over 62 symbols).
pub fn generated_body(len: usize) -> String {
    const SYMBOLS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            SYMBOLS[(x % SYMBOLS.len() as u64) as usize] as char
        })
        .collect()
}

fn product_json(item: &Item, link_host: &str) -> Value {
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

/// The user the `Authorization` header names (`Bearer user-n`), if any.
fn bearer_user(authorization: Option<&str>) -> Option<u32> {
    let token = authorization?.trim().strip_prefix("Bearer ")?.trim();
    let n: u32 = token.strip_prefix("user-")?.parse().ok()?;
    (1..=USERS).contains(&n).then_some(n)
}

impl Catalogue {
    /// The catalogue in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Catalogue {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, pk: &str) -> Result<Option<Item>, OriginError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s("#"))
            .send()
            .await
            .map_err(|e| OriginError::Source(format!("GetItem: {e}")))?;
        Ok(out.item)
    }

    /// Answers one request of the demo API.
    pub async fn load(&self, req: &SourceRequest<'_>) -> Result<SourceResponse, OriginError> {
        let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["api", "products"] => self.list_products(req).await,
            ["api", "products", id] => self.product(id, req.link_host).await,
            ["api", "config"] => match self.get("config").await? {
                Some(item) => Ok(SourceResponse {
                    status: 200,
                    content_type: "application/json".into(),
                    body: attr_s(&item, "body").to_owned(),
                }),
                None => Ok(SourceResponse::error(404, "not_found")),
            },
            ["static", name] if !name.is_empty() => self.asset(name).await,
            ["api", "users", id] => self.user(id.parse().ok(), req.authorization).await,
            ["api", "me"] => match bearer_user(req.authorization) {
                Some(u) => self.user(Some(u), req.authorization).await,
                None => Ok(SourceResponse::error(401, "unauthorized")),
            },
            _ => Ok(SourceResponse::error(404, "not_found")),
        }
    }

    async fn product(&self, id: &str, link_host: &str) -> Result<SourceResponse, OriginError> {
        let Some(id) = id
            .parse::<u32>()
            .ok()
            .filter(|_| id.bytes().all(|b| b.is_ascii_digit()))
        else {
            return Ok(SourceResponse::error(404, "not_found"));
        };
        match self.get(&format!("product#{id}")).await? {
            Some(item) => Ok(SourceResponse::json(200, &product_json(&item, link_host))),
            None => Ok(SourceResponse::error(404, "not_found")),
        }
    }

    async fn list_products(&self, req: &SourceRequest<'_>) -> Result<SourceResponse, OriginError> {
        let param = |name: &str| query_param(req.query, name).map(decode_component);
        let number = |name: &str, default: u32, max: u32| match param(name) {
            None => Some(default),
            Some(v) => v.parse::<u32>().ok().filter(|v| (1..=max).contains(v)),
        };
        let (Some(page), Some(per_page)) = (number("page", 1, 500), number("per_page", 20, 100)) else {
            return Ok(SourceResponse::error(400, "bad_request"));
        };
        let sort = param("sort").unwrap_or_else(|| "id".into());
        let (prefix, forward) = match sort.as_str() {
            "id" => ("id#", true),
            "-id" => ("id#", false),
            "price" => ("price#", true),
            "-price" => ("price#", false),
            _ => return Ok(SourceResponse::error(400, "bad_request")),
        };
        let category = param("category");
        if category.as_deref().is_some_and(|c| !CATEGORIES.contains(&c)) {
            return Ok(SourceResponse::json(
                200,
                &json!({ "items": [], "page": page, "per_page": per_page }),
            ));
        }
        let q = param("q").map(|q| q.to_lowercase()).filter(|q| !q.is_empty());
        let pk = format!("list#{}", category.as_deref().unwrap_or("all"));
        let wanted = ((page - 1) * per_page + per_page) as usize;
        let mut found: Vec<Item> = Vec::new();
        let mut start: Option<Item> = None;
        // Reads pages until enough items matched (a filter applies after the read limit).
        for _ in 0..50 {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s(prefix))
                .scan_index_forward(forward)
                .limit(i32::try_from(wanted - found.len()).unwrap_or(1000).clamp(1, 1000))
                .set_exclusive_start_key(start.take());
            if let Some(q) = &q {
                query = query
                    .filter_expression("contains(nameLc, :q)")
                    .expression_attribute_values(":q", s(q));
            }
            let out = query
                .send()
                .await
                .map_err(|e| OriginError::Source(format!("Query: {e}")))?;
            found.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if found.len() >= wanted || start.is_none() {
                break;
            }
        }
        let items: Vec<Value> = found
            .iter()
            .skip(((page - 1) * per_page) as usize)
            .take(per_page as usize)
            .map(|i| product_json(i, req.link_host))
            .collect();
        let mut body = json!({ "items": items, "page": page, "per_page": per_page, "sort": sort });
        if let Some(c) = category {
            body["category"] = json!(c);
        }
        if let Some(q) = q {
            body["q"] = json!(q);
        }
        Ok(SourceResponse::json(200, &body))
    }

    async fn asset(&self, name: &str) -> Result<SourceResponse, OriginError> {
        match self.get(&format!("static#{name}")).await? {
            Some(item) => {
                let body = match item.get("generatedBytes") {
                    Some(_) => generated_body(attr_n(&item, "generatedBytes") as usize),
                    None => attr_s(&item, "body").to_owned(),
                };
                Ok(SourceResponse {
                    status: 200,
                    content_type: attr_s(&item, "contentType").to_owned(),
                    body,
                })
            }
            None => Ok(SourceResponse::error(404, "not_found")),
        }
    }

    async fn user(&self, id: Option<u32>, authorization: Option<&str>) -> Result<SourceResponse, OriginError> {
        let Some(caller) = bearer_user(authorization) else {
            return Ok(SourceResponse::error(401, "unauthorized"));
        };
        let Some(id) = id.filter(|i| (1..=USERS).contains(i)) else {
            return Ok(SourceResponse::error(404, "not_found"));
        };
        if id != caller {
            return Ok(SourceResponse::error(403, "forbidden"));
        }
        match self.get(&format!("user#{id}")).await? {
            Some(item) => Ok(SourceResponse::json(
                200,
                &json!({
                    "id": attr_n(&item, "id"),
                    "name": attr_s(&item, "name"),
                    "email": attr_s(&item, "email"),
                    "plan": attr_s(&item, "plan"),
                }),
            )),
            None => Ok(SourceResponse::error(404, "not_found")),
        }
    }

    /// Writes `items` with BatchWriteItem (25 per call), retrying unprocessed items.
    pub async fn write_items(&self, items: Vec<Item>) -> Result<(), OriginError> {
        let mut pending: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| OriginError::Source(format!("PutRequest: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let mut rounds = 0;
        while !pending.is_empty() {
            let rest = pending.split_off(pending.len().min(25));
            let batch = std::mem::replace(&mut pending, rest);
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(|e| OriginError::Source(format!("BatchWriteItem: {e:?}")))?;
            if let Some(unprocessed) = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)) {
                if !unprocessed.is_empty() {
                    rounds += 1;
                    if rounds > 100 {
                        return Err(OriginError::Source("BatchWriteItem: unprocessed items remain".into()));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20 * rounds.min(10))).await;
                    pending.extend(unprocessed);
                }
            }
        }
        Ok(())
    }

    /// Seeds products `1..=products`, the config, the static assets and the users.
    pub async fn seed(&self, products: u32) -> Result<(), OriginError> {
        self.write_items(fixed_items()).await?;
        let mut items = Vec::new();
        for id in 1..=products {
            items.extend(product_items(id));
            if items.len() >= 500 {
                self.write_items(std::mem::take(&mut items)).await?;
            }
        }
        self.write_items(items).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_like_a_web_framework() {
        assert_eq!(decode_component("red%20lamp+x%zz%4"), "red lamp x%zz%4");
        assert_eq!(query_param("a=1&page=2&q", "page"), Some("2"));
        assert_eq!(query_param("a=1&page=2&q", "q"), Some(""));
        assert_eq!(query_param("a=1", "b"), None);
    }

    #[test]
    fn tokens_name_users_one_to_a_hundred() {
        assert_eq!(bearer_user(Some("Bearer user-7")), Some(7));
        assert_eq!(bearer_user(Some("Bearer user-101")), None);
        assert_eq!(bearer_user(Some("Basic user-7")), None);
        assert_eq!(bearer_user(None), None);
    }

    #[test]
    fn the_generated_body_is_poorly_compressible() {
        let body = generated_body(10_000);
        assert_eq!(body.len(), 10_000);
        assert_eq!(body, generated_body(10_000));
    }
}
