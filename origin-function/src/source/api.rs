//! The demo API of reference-rules.md: what it reads of a request ([`SourceRequest`]: the
//! canonical path and query, the link host, the viewer's credential), and routing each path
//! to the catalogue reads and the answer it builds.

use serde_json::json;

use super::answers::{product_json, user_json, SourceResponse};
use super::catalogue::{attr_n, attr_s, Catalogue, Listing};
use super::demo::{generated_body, CATEGORIES, USERS};
use crate::error::OriginError;

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

/// Answers one request of the demo API from `catalogue`.
pub async fn answer(catalogue: &Catalogue, req: &SourceRequest<'_>) -> Result<SourceResponse, OriginError> {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "products"] => list_products(catalogue, req).await,
        ["api", "products", id] => product(catalogue, id, req.link_host).await,
        ["api", "config"] => match catalogue.get("config").await? {
            Some(item) => Ok(SourceResponse {
                status: 200,
                content_type: "application/json".into(),
                body: attr_s(&item, "body").to_owned(),
                surrogate_key: None,
            }),
            None => Ok(SourceResponse::error(404, "not_found")),
        },
        ["static", name] if !name.is_empty() => asset(catalogue, name).await,
        ["api", "users", id] => user(catalogue, id.parse().ok(), req.authorization).await,
        ["api", "me"] => match bearer_user(req.authorization) {
            Some(u) => user(catalogue, Some(u), req.authorization).await,
            None => Ok(SourceResponse::error(401, "unauthorized")),
        },
        _ => Ok(SourceResponse::error(404, "not_found")),
    }
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

/// The user the `Authorization` header names (`Bearer user-n`), if any.
fn bearer_user(authorization: Option<&str>) -> Option<u32> {
    let token = authorization?.trim().strip_prefix("Bearer ")?.trim();
    let n: u32 = token.strip_prefix("user-")?.parse().ok()?;
    (1..=USERS).contains(&n).then_some(n)
}

async fn product(catalogue: &Catalogue, id: &str, link_host: &str) -> Result<SourceResponse, OriginError> {
    let Some(id) = id
        .parse::<u32>()
        .ok()
        .filter(|_| id.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Ok(SourceResponse::error(404, "not_found"));
    };
    // Tags (purge.md): the product and its category; a 404 carries the product's tag too, so
    // creating the product and purging its tag ends the negative answer at once.
    match catalogue.get(&format!("product#{id}")).await? {
        Some(item) => {
            let tags = format!("product:{id} category:{}", attr_s(&item, "category"));
            Ok(SourceResponse::json(200, &product_json(&item, link_host)).tagged(tags))
        }
        None => Ok(SourceResponse::error(404, "not_found").tagged(format!("product:{id}"))),
    }
}

async fn list_products(catalogue: &Catalogue, req: &SourceRequest<'_>) -> Result<SourceResponse, OriginError> {
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
        return Ok(
            SourceResponse::json(200, &json!({ "items": [], "page": page, "per_page": per_page }))
                .tagged("products".into()),
        );
    }
    let q = param("q").map(|q| q.to_lowercase()).filter(|q| !q.is_empty());
    let pk = format!("list#{}", category.as_deref().unwrap_or("all"));
    let listing = Listing {
        pk: &pk,
        prefix,
        forward,
        name_contains: q.as_deref(),
    };
    let found = catalogue
        .list(listing, ((page - 1) * per_page + per_page) as usize)
        .await?;
    let shown: Vec<_> = found
        .iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .collect();
    let items: Vec<_> = shown.iter().map(|i| product_json(i, req.link_host)).collect();
    // Tags: `products`, and the categories it shows (or filters on).
    let mut tags = vec!["products".to_owned()];
    let shown_categories = shown.iter().map(|i| attr_s(i, "category")).chain(category.as_deref());
    for c in shown_categories.filter(|c| !c.is_empty()) {
        let tag = format!("category:{c}");
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let mut body = json!({ "items": items, "page": page, "per_page": per_page, "sort": sort });
    if let Some(c) = category {
        body["category"] = json!(c);
    }
    if let Some(q) = q {
        body["q"] = json!(q);
    }
    Ok(SourceResponse::json(200, &body).tagged(tags.join(" ")))
}

async fn asset(catalogue: &Catalogue, name: &str) -> Result<SourceResponse, OriginError> {
    match catalogue.get(&format!("static#{name}")).await? {
        Some(item) => {
            let body = match item.get("generatedBytes") {
                Some(_) => generated_body(attr_n(&item, "generatedBytes") as usize),
                None => attr_s(&item, "body").to_owned(),
            };
            Ok(SourceResponse {
                status: 200,
                content_type: attr_s(&item, "contentType").to_owned(),
                body,
                surrogate_key: None,
            })
        }
        None => Ok(SourceResponse::error(404, "not_found")),
    }
}

async fn user(
    catalogue: &Catalogue,
    id: Option<u32>,
    authorization: Option<&str>,
) -> Result<SourceResponse, OriginError> {
    let Some(caller) = bearer_user(authorization) else {
        return Ok(SourceResponse::error(401, "unauthorized"));
    };
    let Some(id) = id.filter(|i| (1..=USERS).contains(i)) else {
        return Ok(SourceResponse::error(404, "not_found"));
    };
    if id != caller {
        return Ok(SourceResponse::error(403, "forbidden"));
    }
    match catalogue.get(&format!("user#{id}")).await? {
        Some(item) => Ok(SourceResponse::json(200, &user_json(&item))),
        None => Ok(SourceResponse::error(404, "not_found")),
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
}
