//! The demo catalogue's data, deterministic so the tests and the seed agree: products with
//! their listing entries, the config, the static assets and the users; and the seed that
//! writes them.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use super::catalogue::{attr_n, attr_s, n, s, Catalogue, Item};
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
    items_of(demo_product(id))
}

/// Changes product `id`'s price to `cents` in the catalogue (the product and its listing
/// entries; the old price's listing entries are deleted), so a user can watch a purge work.
/// The product is created when it does not exist (ending a cached 404 by a purge).
pub async fn set_price(catalogue: &Catalogue, id: u32, cents: u64) -> Result<(), OriginError> {
    let current = catalogue.get(&format!("product#{id}")).await?;
    let mut product = current.clone().unwrap_or_else(|| demo_product(id));
    let old_price = current.as_ref().map(|p| attr_n(p, "price"));
    product.retain(|k, _| !matches!(k.as_str(), "pk" | "sk"));
    product.insert("price".into(), n(cents));
    if let Some(old) = old_price.filter(|old| *old != cents) {
        let category = attr_s(&product, "category").to_owned();
        for list in ["all", category.as_str()] {
            catalogue
                .delete(&format!("list#{list}"), &format!("price#{old:09}#{id:07}"))
                .await?;
        }
    }
    catalogue.write_items(items_of(product)).await
}

/// The product item `product` and its four listing entries.
fn items_of(product: Item) -> Vec<Item> {
    let id = attr_n(&product, "id");
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

/// Seeds `catalogue` with products `1..=products`, the config, the static assets and the
/// users.
pub async fn seed(catalogue: &Catalogue, products: u32) -> Result<(), OriginError> {
    catalogue.write_items(fixed_items()).await?;
    let mut items = Vec::new();
    for id in 1..=products {
        items.extend(product_items(id));
        if items.len() >= 500 {
            catalogue.write_items(std::mem::take(&mut items)).await?;
        }
    }
    catalogue.write_items(items).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_body_is_poorly_compressible() {
        let body = generated_body(10_000);
        assert_eq!(body.len(), 10_000);
        assert_eq!(body, generated_body(10_000));
    }
}
