//! What an explanation, the live page and its JSON never show: a credential or the origin's
//! secret. `Authorization`, `Proxy-Authorization`, `X-Viewer-Authorization` and each origin
//! custom header (`X-Origin-Verify`, whose value is the shared secret) appear as the name
//! with [`REDACTED`]; a cookie as its name with [`REDACTED`]; and any text that holds the
//! secret itself has it replaced, wherever it came from (a viewer may send it in a URL).

use super::EdgeExplanation;
use crate::distribution::Distribution;

/// What stands for a value that is not shown.
pub const REDACTED: &str = "[redacted]";

/// Headers whose value is a credential, whatever the distribution.
const CREDENTIALS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    edge_policy::headers::VIEWER_AUTHORIZATION,
    "x-origin-verify",
];

/// The names and values to take out.
#[derive(Debug, Clone, Default)]
pub struct Redaction {
    names: Vec<String>,
    values: Vec<String>,
}

impl Redaction {
    /// The credentials' names, the distribution's origin custom headers (which carry the
    /// secret), and `secret` itself.
    pub fn new(distribution: &Distribution, secret: Option<&str>) -> Self {
        let mut names: Vec<String> = CREDENTIALS.iter().map(|n| (*n).to_owned()).collect();
        for custom in &distribution.origin.custom_headers {
            let name = custom.name.to_ascii_lowercase();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Redaction {
            names,
            values: secret
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .into_iter()
                .collect(),
        }
    }

    /// Whether the header `name` (lower-case) carries a credential or the secret.
    pub fn is_secret_header(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// `text` with every secret value replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            out = out.replace(value.as_str(), REDACTED);
        }
        out
    }

    /// A header's value as it may be shown.
    pub fn header(&self, name: &str, value: &str) -> String {
        match name {
            "cookie" => cookies(value, "; "),
            "set-cookie" => {
                let name = value.split_once('=').map_or(value, |(n, _)| n).trim();
                format!("{}={REDACTED}", self.text(name))
            }
            name if self.is_secret_header(name) => REDACTED.to_owned(),
            _ => self.text(value),
        }
    }

    /// A key (`host/path?query|name=value|…`) as it may be shown: each keyed cookie and
    /// secret header's value replaced.
    pub fn key(&self, key: &str) -> String {
        let mut parts = key.split('|');
        let mut out = self.text(parts.next().unwrap_or(""));
        for component in parts {
            out.push('|');
            match component.split_once('=') {
                Some(("cookie", value)) => {
                    out.push_str("cookie=");
                    out.push_str(&cookies(value, "; "));
                }
                Some((name, _)) if self.is_secret_header(name) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(&self.text(component)),
            }
        }
        out
    }

    /// The explanation with every credential, cookie value and secret taken out.
    pub fn explanation(&self, mut e: EdgeExplanation) -> EdgeExplanation {
        e.received = self.text(&e.received);
        e.behaviour.raw_path = self.text(&e.behaviour.raw_path);
        if let Some(policy) = e.policy.as_mut() {
            for note in &mut policy.headers {
                if let Some(value) = note.value.as_mut() {
                    *value = self.header(&note.name, value);
                }
            }
            policy.key = policy.key.as_deref().map(|k| self.key(k));
        }
        if let Some(key) = e.cloudfront.key.as_mut() {
            key.text = self.key(&key.text);
            for (name, value) in &mut key.key.headers {
                *value = self.header(name, value);
            }
            for cookie in &mut key.key.cookies {
                *cookie = cookies(cookie, "; ");
            }
        }
        e.origin.key = e.origin.key.as_deref().map(|k| self.key(k));
        e
    }
}

/// `a=1; b=2` → `a=[redacted]; b=[redacted]`: the names stay, the values go.
fn cookies(value: &str, separator: &str) -> String {
    value
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| format!("{}={REDACTED}", c.split_once('=').map_or(c, |(n, _)| n).trim()))
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::fixtures::deployed;

    #[test]
    fn credentials_cookies_and_the_secret_never_show() {
        let r = Redaction::new(&deployed(), Some("s3cr3t"));
        assert_eq!(r.header("authorization", "Bearer user-7"), REDACTED);
        assert_eq!(r.header("x-viewer-authorization", "Bearer user-7"), REDACTED);
        assert_eq!(r.header("x-origin-verify", "guess"), REDACTED);
        assert_eq!(
            r.header("cookie", "session=abc; theme=dark"),
            "session=[redacted]; theme=[redacted]"
        );
        assert_eq!(r.header("set-cookie", "session=abc; Path=/"), "session=[redacted]");
        assert_eq!(r.header("user-agent", "curl s3cr3t"), "curl [redacted]");
        assert_eq!(
            r.key("h/p?q=s3cr3t|cookie=theme=dark; a=b|x-tenant=t"),
            "h/p?q=[redacted]|cookie=theme=[redacted]; a=[redacted]|x-tenant=t"
        );
    }
}
