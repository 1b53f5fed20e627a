//! CloudFront standard access logs (legacy format) as a trace: the sample in bench/, real-
//! format lines with every escape, and a clear error with its line on a malformed one.

use replay::access_log::{parse, result_types, trace, LogError};

fn sample() -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/cloudfront-sample.log"))
        .unwrap()
}

/// A file with the fields CloudFront logged before 2019 and only some of today's, tab-separated.
const FIELDS: &str = "#Fields: date time x-edge-location cs-method cs-uri-stem sc-status cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type time-taken";

fn log(records: &[&str]) -> String {
    let mut text = format!("#Version: 1.0\n{FIELDS}\n");
    for r in records {
        text.push_str(&r.replace(' ', "\t"));
        text.push('\n');
    }
    text
}

#[test]
fn the_sample_log_reads_in_arrival_order_with_every_value_decoded_once() {
    let records = parse(&sample()).unwrap();
    assert_eq!(records.len(), 22);
    // The Hit on line 3 finished at 10:00:03 after 1 ms; the Miss on line 4 at 10:00:02
    // after 46 ms, so it came first.
    assert_eq!((records[0].line, records[1].line), (4, 3));
    assert!(records.windows(2).all(|w| w[0].arrived_ms <= w[1].arrived_ms));
    let at = |line: usize| records.iter().find(|r| r.line == line).unwrap();
    let header = |n: &str, v: &str| (n.to_owned(), v.to_owned());
    assert_eq!(
        at(4).headers,
        [
            header("user-agent", "Mozilla/5.0 (X11)"),
            header("referer", "https://shop.example/")
        ]
    );
    // The viewer's own %6F stays %6F: `%256F` is decoded once.
    assert_eq!(at(6).path, "/api/products?sort=price&category=b%6Foks");
    assert_eq!(at(11).headers[1], header("cookie", "session=abc; theme=dark"));
    assert_eq!(at(13).path, "/search?q=red%20shoes");
    assert_eq!(at(20).path, "/static/100%25%20off.png");
    assert_eq!((at(17).method.as_str(), at(15).status), ("HEAD", 404));
    assert_eq!((at(3).edge_location.as_str(), at(3).location()), ("IAD89-C1", "IAD89"));
    let counts = result_types(&records);
    assert_eq!((counts["Hit"], counts["Miss"], counts["Error"]), (8, 12, 2));
    // As a trace: from the first arrival, the assumed Accept-Encoding on every request.
    let t = trace(&records, Some("gzip, br"));
    assert_eq!(t[0].at_ms, 0);
    assert_eq!(t[1].at_ms, 1_000 - 1 + 46, "10:00:03 - 1 ms, from 10:00:02 - 46 ms");
    assert!(t
        .iter()
        .all(|r| r.headers.iter().any(|(n, v)| n == "accept-encoding" && v == "gzip, br")));
    assert!(trace(&records, None)[0]
        .headers
        .iter()
        .all(|(n, _)| n != "accept-encoding"));
}

#[test]
fn real_format_lines_keep_escapes_empty_values_and_percent_signs() {
    let text = log(&[
        // Out of order: this one finished last.
        "2026-11-30 10:00:09 FRA56-P3 GET /a%2520b 200 Mozilla/5.0%20(%22quoted%22%09tab) q=%2526amp&x=%25 a%3Db Hit 0.001",
        "2026-11-30 10:00:01 IAD89-C1 GET /api/products 200 - - - Miss 0.100",
        "2026-11-30 10:00:05 IAD89-C1 GET /caf%25C3%25A9 000 - utm_source=x%2520y - Error -",
    ]);
    let r = parse(&text).unwrap();
    assert_eq!(r.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 5, 3]);
    // `-` is an empty value: no query, no header.
    assert_eq!((r[0].path.as_str(), r[0].headers.len()), ("/api/products", 0));
    // The viewer sent %C3%A9 (encoded once by the viewer, once more by the log).
    assert_eq!((r[1].path.as_str(), r[1].status), ("/caf%C3%A9?utm_source=x%20y", 0));
    assert_eq!(r[1].arrived_ms % 1000, 0, "no time-taken: the finish time");
    assert_eq!(r[2].path, "/a%20b?q=%26amp&x=%");
    assert_eq!(
        r[2].headers,
        [
            ("user-agent".to_owned(), "Mozilla/5.0 (\"quoted\"\ttab)".to_owned()),
            ("cookie".to_owned(), "a=b".to_owned())
        ]
    );
    // Blank lines and repeated headers (concatenated files) are fine.
    assert_eq!(parse(&format!("{text}\n{text}")).unwrap().len(), 6);
}

#[test]
fn a_malformed_line_is_an_error_that_names_it() {
    let err = |text: &str| parse(text).unwrap_err();
    let good = "2026-11-30 10:00:01 IAD89-C1 GET /a 200 - - - Hit 0.001";
    assert_eq!(
        err(&log(&[good, "2026-11-30 10:00:02 IAD89-C1 GET /a 200"])),
        LogError::FieldCount {
            line: 4,
            found: 6,
            expected: 11
        }
    );
    let e = err(&log(&[
        good,
        good,
        "2026-11-30 10:00:02 IAD89-C1 GET /a 200 - q=50% - Hit 0.001",
    ]));
    assert_eq!(
        e.to_string(),
        "line 5: cs-uri-query \"q=50%\": a % not followed by two hex digits (CloudFront writes % as %25)"
    );
    let e = err(&log(&["2026-11-31x 10:00:01 IAD89-C1 GET /a 200 - - - Hit 0.001"]));
    assert!(e.to_string().starts_with("line 3: date time"), "{e}");
    let e = err(&log(&["2026-11-30 10:00:01 IAD89-C1 GET /a OK - - - Hit 0.001"]));
    assert!(e.to_string().starts_with("line 3: sc-status \"OK\""), "{e}");
    assert_eq!(err(good), LogError::NoFields { line: 1 });
    assert_eq!(
        err("#Fields: date time cs-uri-stem\n"),
        LogError::MissingField {
            line: 1,
            field: "x-edge-location"
        }
    );
}
