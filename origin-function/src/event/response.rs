//! The response payload: an [`HttpResponse`], serialized as the function URL / REST proxy
//! response (`statusCode`, `headers`, `body`, `isBase64Encoded`).

use lambda_http::http::header::HeaderMap;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// An HTTP response, serialized as the function URL / REST proxy response payload.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// The status.
    pub status: u16,
    /// The headers (one value each).
    pub headers: HeaderMap,
    /// The body (text: the demo's bodies are JSON, CSS, JavaScript and text).
    pub body: String,
}

impl Serialize for HttpResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Headers<'a>(&'a HeaderMap);
        impl Serialize for Headers<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.keys_len()))?;
                for name in self.0.keys() {
                    let mut values = self.0.get_all(name).iter().filter_map(|v| v.to_str().ok());
                    match (values.next(), values.next()) {
                        (Some(one), None) => map.serialize_entry(name.as_str(), one)?,
                        (first, second) => {
                            let all: Vec<&str> = first.into_iter().chain(second).chain(values).collect();
                            map.serialize_entry(name.as_str(), &all.join(", "))?;
                        }
                    }
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("statusCode", &self.status)?;
        map.serialize_entry("headers", &Headers(&self.headers))?;
        map.serialize_entry("body", &self.body)?;
        map.serialize_entry("isBase64Encoded", &false)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::header::HeaderValue;

    use super::*;

    #[test]
    fn responses_serialize_as_the_lambda_payload() {
        let mut headers = HeaderMap::new();
        headers.insert("cache-control", HeaderValue::from_static("no-store"));
        let r = HttpResponse {
            status: 404,
            headers,
            body: "{}".into(),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"statusCode": 404, "headers": {"cache-control": "no-store"}, "body": "{}",
                "isBase64Encoded": false})
        );
    }
}
