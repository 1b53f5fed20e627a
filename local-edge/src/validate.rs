//! CloudFront's checks on a Lambda@Edge function's answer: any violation is a `502` with
//! `X-Cache: LambdaValidationError from cloudfront`. The rules themselves live in
//! `edge_policy::cloudfront`; this module applies them to whole answers.

use edge_policy::cloudfront::{check_headers, check_response, check_url, Trigger};
use edge_policy::event::{fields, HandlerResult, Headers, Request, Response};
use serde_json::Value;

/// What a request trigger answered.
#[derive(Debug, Clone)]
pub enum RequestAnswer {
    /// CloudFront goes on with this request.
    Request(Request),
    /// A generated response (viewer-request ones are not cached).
    Generated(Response),
}

fn header_bytes(headers: &Option<Headers>) -> usize {
    headers.as_ref().map_or(0, |h| {
        h.iter()
            .map(|(n, vs)| vs.iter().map(|v| n.len() + v.value.len() + 4).sum::<usize>())
            .sum()
    })
}

fn check_generated(trigger: Trigger, response: &Response) -> Result<(), String> {
    let size = header_bytes(&response.headers) + response.body.as_ref().map_or(0, String::len);
    check_response(trigger, &response.status, Some(size)).map_err(|v| v.describe())?;
    let empty = Headers::new();
    check_headers(trigger, &[], &fields(response.headers.as_ref().unwrap_or(&empty))).map_err(|v| v.describe())
}

/// Validates a viewer-request or origin-request answer against the request it was given.
pub fn request_answer(trigger: Trigger, before: &Request, answer: Value) -> Result<RequestAnswer, String> {
    if answer.is_null() {
        return Err("the function returned nothing".into());
    }
    match serde_json::from_value::<HandlerResult>(answer).map_err(|e| format!("not a request or response: {e}"))? {
        HandlerResult::Request(after) => {
            check_url(&after.uri, &after.querystring).map_err(|v| v.describe())?;
            let empty = Headers::new();
            let b = fields(before.headers.as_ref().unwrap_or(&empty));
            let a = fields(after.headers.as_ref().unwrap_or(&empty));
            check_headers(trigger, &b, &a).map_err(|v| v.describe())?;
            Ok(RequestAnswer::Request(after))
        }
        HandlerResult::Response(generated) => {
            check_generated(trigger, &generated)?;
            Ok(RequestAnswer::Generated(generated))
        }
    }
}

/// Validates an origin-response or viewer-response answer against the response it was given.
pub fn response_answer(trigger: Trigger, before: &Response, answer: Value) -> Result<Response, String> {
    if answer.is_null() {
        return Err("the function returned nothing".into());
    }
    let after: Response = serde_json::from_value(answer).map_err(|e| format!("not a response: {e}"))?;
    check_response(trigger, &after.status, None).map_err(|v| v.describe())?;
    // lambda-edge-rules.md: viewer-response "may not change the status".
    if trigger == Trigger::ViewerResponse && after.status.trim() != before.status.trim() {
        return Err(format!(
            "viewer-response changed the status from {} to {}",
            before.status, after.status
        ));
    }
    let empty = Headers::new();
    let b = fields(before.headers.as_ref().unwrap_or(&empty));
    let a = fields(after.headers.as_ref().unwrap_or(&empty));
    check_headers(trigger, &b, &a).map_err(|v| v.describe())?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> Request {
        serde_json::from_value(
            json!({"clientIp": "1.2.3.4", "method": "GET", "uri": "/a", "querystring": "",
            "headers": {"host": [{"key": "Host", "value": "h"}]}}),
        )
        .unwrap()
    }

    #[test]
    fn a_valid_rewrite_passes() {
        let answer = json!({"clientIp": "1.2.3.4", "method": "GET", "uri": "/b", "querystring": "a=1",
            "headers": {"host": [{"key": "Host", "value": "h"}]}});
        assert!(matches!(
            request_answer(Trigger::ViewerRequest, &request(), answer),
            Ok(RequestAnswer::Request(_))
        ));
    }

    #[test]
    fn cloudfronts_rules_are_enforced() {
        let bad_uri = json!({"clientIp": "1", "method": "GET", "uri": "b", "querystring": "", "headers": {"host": [{"value": "h"}]}});
        assert!(request_answer(Trigger::ViewerRequest, &request(), bad_uri)
            .unwrap_err()
            .contains("'/'"));
        let host_changed = json!({"clientIp": "1", "method": "GET", "uri": "/", "querystring": "", "headers": {"host": [{"value": "x"}]}});
        assert!(request_answer(Trigger::ViewerRequest, &request(), host_changed)
            .unwrap_err()
            .contains("host"));
        let added = json!({"clientIp": "1", "method": "GET", "uri": "/", "querystring": "",
            "headers": {"host": [{"value": "h"}], "x-cache": [{"value": "x"}]}});
        assert!(request_answer(Trigger::ViewerRequest, &request(), added)
            .unwrap_err()
            .contains("x-cache"));
        assert!(request_answer(Trigger::ViewerRequest, &request(), Value::Null).is_err());
        let status = json!({"status": "700"});
        assert!(request_answer(Trigger::ViewerRequest, &request(), status)
            .unwrap_err()
            .contains("200-599"));
        let big = json!({"status": "200", "body": "x".repeat(41 * 1024)});
        assert!(request_answer(Trigger::ViewerRequest, &request(), big).is_err());
    }

    #[test]
    fn viewer_response_may_not_change_the_status() {
        let before: Response = serde_json::from_value(json!({"status": "200", "headers": {}})).unwrap();
        let same = json!({"status": "200", "headers": {"x-a": [{"value": "1"}]}});
        assert!(response_answer(Trigger::ViewerResponse, &before, same).is_ok());
        let changed = json!({"status": "404", "headers": {}});
        assert!(response_answer(Trigger::ViewerResponse, &before, changed)
            .unwrap_err()
            .contains("status"));
        let origin = json!({"status": "404", "headers": {}});
        assert!(response_answer(Trigger::OriginResponse, &before, origin).is_ok());
    }
}
