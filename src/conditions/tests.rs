//! The condition language against Gatus's own cases (`config/endpoint/condition_test.go`,
//! rewritten here), our additions, the deliberate differences, and hostile input.

use crate::event::Phases;

use super::*;

fn ctx() -> Context<'static> {
    Context::new()
}

fn body(text: &'static str) -> Context<'static> {
    Context::new().body(text.as_bytes())
}

fn status(code: u16) -> Context<'static> {
    Context::new().status(Some(code))
}

fn response_time(ms: u64) -> Context<'static> {
    Context::new().response_time_ms(ms)
}

fn cert(ms: i64) -> Context<'static> {
    Context::new().certificate_expiration_ms(Some(ms))
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

const HTML_JOHN: &str = r#"<!DOCTYPE html><html lang="en"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /></head><body><div id="user">john.doe</div></body></html>"#;
const HTML_JANE: &str = r#"<!DOCTYPE html><html lang="en"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /></head><body><div id="user">jane.doe</div></body></html>"#;

/// (condition, what the probe saw, success, resolved).
type Case = (&'static str, Context<'static>, bool, &'static str);

fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (text, ctx, success, resolved) in cases {
        let condition = match Condition::parse(text) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{text}: does not parse: {e}"));
                continue;
            }
        };
        let got = condition.evaluate(&ctx);
        let want = ConditionResult {
            condition: text.to_owned(),
            success,
            resolved: resolved.to_owned(),
        };
        if got != want {
            failures.push(format!("{text}:\n  got  {got:?}\n  want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every case of Gatus's `TestCondition_evaluate` that does not depend on its display options
/// or on suites, with the same result and the same display.
#[test]
fn conditions_evaluate_as_in_gatus() {
    check(vec![
        (
            "[IP] == 127.0.0.1",
            ctx().ip("127.0.0.1"),
            true,
            "[IP] == 127.0.0.1",
        ),
        ("[STATUS] == 200", status(200), true, "[STATUS] == 200"),
        (
            "[STATUS] == 200",
            status(500),
            false,
            "[STATUS] (500) == 200",
        ),
        ("[STATUS] < 300", status(201), true, "[STATUS] < 300"),
        ("[STATUS] < 300", status(404), false, "[STATUS] (404) < 300"),
        (
            "[RESPONSE_TIME] < 500",
            response_time(50),
            true,
            "[RESPONSE_TIME] < 500",
        ),
        (
            "[RESPONSE_TIME] < 1s",
            response_time(50),
            true,
            "[RESPONSE_TIME] < 1s",
        ),
        (
            "[RESPONSE_TIME] > 500",
            response_time(750),
            true,
            "[RESPONSE_TIME] > 500",
        ),
        (
            "[RESPONSE_TIME] > 1s",
            response_time(2000),
            true,
            "[RESPONSE_TIME] > 1s",
        ),
        (
            "[RESPONSE_TIME] >= 500",
            response_time(500),
            true,
            "[RESPONSE_TIME] >= 500",
        ),
        (
            "[RESPONSE_TIME] >= 500",
            response_time(499),
            false,
            "[RESPONSE_TIME] (499) >= 500",
        ),
        (
            "[RESPONSE_TIME] <= 500",
            response_time(500),
            true,
            "[RESPONSE_TIME] <= 500",
        ),
        (
            "[RESPONSE_TIME] <= 500",
            response_time(25),
            true,
            "[RESPONSE_TIME] <= 500",
        ),
        (
            "[RESPONSE_TIME] <= 500",
            response_time(750),
            false,
            "[RESPONSE_TIME] (750) <= 500",
        ),
        ("[BODY] == test", body("test"), true, "[BODY] == test"),
        ("[BODY] == 123", body("123"), true, "[BODY] == 123"),
        ("[BODY] < 124", body("123"), true, "[BODY] < 124"),
        ("[BODY] > 122", body("123"), true, "[BODY] > 122"),
        ("[BODY] > 123", body("100"), false, "[BODY] (100) > 123"),
        (
            "[BODY].status == UP",
            body(r#"{"status":"UP"}"#),
            true,
            "[BODY].status == UP",
        ),
        (
            "[BODY].data.name == john",
            body(r#"{"data": {"id": 1, "name": "john"}}"#),
            true,
            "[BODY].data.name == john",
        ),
        (
            "[BODY].data.name == john",
            body(r#"{"data": {"id": 1}}"#),
            false,
            "[BODY].data.name (INVALID) == john",
        ),
        (
            "len([BODY].data.name) == john",
            body(r#"{"data": {"id": 1}}"#),
            false,
            "len([BODY].data.name) (INVALID) == john",
        ),
        (
            "[BODY].user.firstName != [BODY].user.lastName",
            body(r#"{"user": {"firstName": "john", "lastName": "doe"}}"#),
            true,
            "[BODY].user.firstName != [BODY].user.lastName",
        ),
        (
            "[BODY].user.firstName == [BODY].user.lastName",
            body(r#"{"user": {"firstName": "john", "lastName": "doe"}}"#),
            false,
            "[BODY].user.firstName (john) == [BODY].user.lastName (doe)",
        ),
        (
            "[BODY][0].id == 1",
            body(r#"[{"id": 1}, {"id": 2}]"#),
            true,
            "[BODY][0].id == 1",
        ),
        (
            "[BODY].data == OK",
            body(r#"{"data": null}""#),
            false,
            "[BODY].data (INVALID) == OK",
        ),
        (
            "[BODY].items[0] == OK",
            body(r#"{"items": [null, null]}""#),
            false,
            "[BODY].items[0] (INVALID) == OK",
        ),
        (
            "[BODY].data == OK",
            body("null"),
            false,
            "[BODY].data (INVALID) == OK",
        ),
        (
            "[BODY][0].name == test",
            body(r#"{"statusCode": 500, "message": "Internal Server Error"}"#),
            false,
            "[BODY][0].name (INVALID) == test",
        ),
        (
            "[BODY].data.id == 1",
            body(r#"{"data": {"id": 1}}"#),
            true,
            "[BODY].data.id == 1",
        ),
        (
            "[BODY].data[1].id == 2",
            body(r#"{"data": [{"id": 1}, {"id": 2}, {"id": 3}]}"#),
            true,
            "[BODY].data[1].id == 2",
        ),
        (
            "[BODY].data.id > 0",
            body(r#"{"data": {"id": 1}}"#),
            true,
            "[BODY].data.id > 0",
        ),
        // Hexadecimal, octal and binary integers.
        (
            "[BODY].data > 0",
            body(r#"{"data": "0x1"}"#),
            true,
            "[BODY].data > 0",
        ),
        (
            "[BODY].data == 1",
            body(r#"{"data": "0x1"}"#),
            true,
            "[BODY].data == 1",
        ),
        (
            "[BODY].data == 0x1",
            body(r#"{"data": "0x1"}"#),
            true,
            "[BODY].data == 0x1",
        ),
        (
            "[BODY].data == 2",
            body(r#"{"data": "0x2"}"#),
            true,
            "[BODY].data == 2",
        ),
        (
            "[BODY].data == 15",
            body(r#"{"data": "0xF"}"#),
            true,
            "[BODY].data == 15",
        ),
        (
            "[BODY].data == 12648243",
            body(r#"{"data": "0xC0ff33"}"#),
            true,
            "[BODY].data == 12648243",
        ),
        (
            "len([BODY].data) == 3",
            body(r#"{"data": "0x1"}"#),
            true,
            "len([BODY].data) == 3",
        ),
        (
            "[BODY].data >= 1",
            body(r#"{"data": "0x01"}"#),
            true,
            "[BODY].data >= 1",
        ),
        (
            "len([BODY].data) == 4",
            body(r#"{"data": "0x01"}"#),
            true,
            "len([BODY].data) == 4",
        ),
        (
            "[BODY].data > 0",
            body(r#"{"data": "0o1"}"#),
            true,
            "[BODY].data > 0",
        ),
        (
            "[BODY].data == 2",
            body(r#"{"data": "0o2"}"#),
            true,
            "[BODY].data == 2",
        ),
        (
            "[BODY].data == 0o2",
            body(r#"{"data": "0o2"}"#),
            true,
            "[BODY].data == 0o2",
        ),
        (
            "[BODY].data > 0",
            body(r#"{"data": "0b1"}"#),
            true,
            "[BODY].data > 0",
        ),
        (
            "[BODY].data == 2",
            body(r#"{"data": "0b0010"}"#),
            true,
            "[BODY].data == 2",
        ),
        (
            "[BODY].data == 0b10",
            body(r#"{"data": "0b0010"}"#),
            true,
            "[BODY].data == 0b10",
        ),
        (
            "[BODY].data.id > 5",
            body(r#"{"data": {"id": 1}}"#),
            false,
            "[BODY].data.id (1) > 5",
        ),
        (
            "[BODY].balance > 100",
            body(r#"{"balance": "123.40000000000005"}"#),
            true,
            "[BODY].balance > 100",
        ),
        (
            "[BODY].data.id < 5",
            body(r#"{"data": {"id": 2}}"#),
            true,
            "[BODY].data.id < 5",
        ),
        (
            "[BODY].data.id < 5",
            body(r#"{"data": {"id": 10}}"#),
            false,
            "[BODY].data.id (10) < 5",
        ),
        (
            "[CONNECTED] == true",
            ctx().connected(true),
            true,
            "[CONNECTED] == true",
        ),
        (
            "[CONNECTED] == true",
            ctx().connected(false),
            false,
            "[CONNECTED] (false) == true",
        ),
        (
            "[CERTIFICATE_EXPIRATION] == 0",
            ctx(),
            true,
            "[CERTIFICATE_EXPIRATION] == 0",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 2419200000",
            cert(60 * DAY_MS),
            true,
            "[CERTIFICATE_EXPIRATION] > 2419200000",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 2419200000",
            cert(14 * DAY_MS),
            false,
            "[CERTIFICATE_EXPIRATION] (336h) > 2419200000",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 12h",
            cert(DAY_MS),
            true,
            "[CERTIFICATE_EXPIRATION] > 12h",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            cert(DAY_MS),
            false,
            "[CERTIFICATE_EXPIRATION] (24h) > 48h",
        ),
        ("1 == 2", ctx(), false, "1 == 2"),
        // len()
        (
            "len([BODY].data.name) == 4",
            body(r#"{"data": {"name": "john"}}"#),
            true,
            "len([BODY].data.name) == 4",
        ),
        (
            "len([BODY]) == 3",
            body(r#"[{"id": 1}, {"id": 2}, {"id": 3}]"#),
            true,
            "len([BODY]) == 3",
        ),
        (
            "len([BODY].data) == 3",
            body(r#"{"data": [{"id": 1}, {"id": 2}, {"id": 3}]}"#),
            true,
            "len([BODY].data) == 3",
        ),
        (
            "len([BODY].data) == 8",
            body(r#"{"name": "john.doe"}"#),
            false,
            "len([BODY].data) (INVALID) == 8",
        ),
        (
            "len([BODY]) == 8",
            body("john.doe"),
            true,
            "len([BODY]) == 8",
        ),
        (
            "len([BODY].name) == 8",
            body(r#"{"name": "john.doe"}"#),
            true,
            "len([BODY].name) == 8",
        ),
        (
            "len([BODY].age) == 2",
            body(r#"{"age":18}"#),
            true,
            "len([BODY].age) == 2",
        ),
        (
            "len([BODY].adult) == 4",
            body(r#"{"adult":true}"#),
            true,
            "len([BODY].adult) == 4",
        ),
        (
            "len([BODY][0]) == 23",
            body(r#"[{"age":18,"adult":true}]"#),
            true,
            "len([BODY][0]) == 23",
        ),
        (
            "len([BODY][0].age) == 2",
            body(r#"[{"age":18,"adult":true}]"#),
            true,
            "len([BODY][0].age) == 2",
        ),
        (
            "len([BODY][0].adult) == 4",
            body(r#"[{"age":18,"adult":true}]"#),
            true,
            "len([BODY][0].adult) == 4",
        ),
        (
            "len([BODY]) == 20",
            body(r#"{"name": "john.doe"}"#),
            true,
            "len([BODY]) == 20",
        ),
        // pat()
        (
            "[BODY] == pat(*john*)",
            body(r#"{"name": "john.doe"}"#),
            true,
            "[BODY] == pat(*john*)",
        ),
        (
            "[BODY].name == pat(john*)",
            body(r#"{"name": "john.doe"}"#),
            true,
            "[BODY].name == pat(john*)",
        ),
        (
            "[BODY].name == pat(bob*)",
            body(r#"{"name": "john.doe"}"#),
            false,
            "[BODY].name (john.doe) == pat(bob*)",
        ),
        (
            r#"[BODY] == pat(*<div id="user">john.doe</div>*)"#,
            body(HTML_JOHN),
            true,
            r#"[BODY] == pat(*<div id="user">john.doe</div>*)"#,
        ),
        (
            r#"[BODY] == pat(*<div id="user">john.doe</div>*)"#,
            body(HTML_JANE),
            false,
            r#"[BODY] (<!DOCTYPE html><html lang...(truncated)) == pat(*<div id="user">john.doe</div>*)"#,
        ),
        (
            r#"pat(*<div id="user">john.doe</div>*) == [BODY]"#,
            body(HTML_JANE),
            false,
            r#"pat(*<div id="user">john.doe</div>*) == [BODY] (<!DOCTYPE html><html lang...(truncated))"#,
        ),
        (
            "[BODY].data == pat(*Whatever*)",
            body(r#"{"data": ["hello", "world", "Whatever"]}"#),
            true,
            "[BODY].data == pat(*Whatever*)",
        ),
        (
            "[IP] == pat(10.*)",
            ctx().ip("10.0.0.0"),
            true,
            "[IP] == pat(10.*)",
        ),
        (
            "[IP] == pat(10.*)",
            ctx().ip("255.255.255.255"),
            false,
            "[IP] (255.255.255.255) == pat(10.*)",
        ),
        (
            "[STATUS] == pat(4*)",
            status(404),
            true,
            "[STATUS] == pat(4*)",
        ),
        (
            "[STATUS] == pat(4*)",
            status(200),
            false,
            "[STATUS] (200) == pat(4*)",
        ),
        // any()
        (
            "[BODY].name == any(john.doe, jane.doe)",
            body(r#"{"name": "john.doe"}"#),
            true,
            "[BODY].name == any(john.doe, jane.doe)",
        ),
        (
            "[BODY].name == any(john.doe, jane.doe)",
            body(r#"{"name": "jane.doe"}"#),
            true,
            "[BODY].name == any(john.doe, jane.doe)",
        ),
        (
            "[BODY].name == any(john.doe, jane.doe)",
            body(r#"{"name": "bob"}"#),
            false,
            "[BODY].name (bob) == any(john.doe, jane.doe)",
        ),
        (
            "[STATUS] == any(200, 429)",
            status(200),
            true,
            "[STATUS] == any(200, 429)",
        ),
        (
            "[STATUS] == any(200, 429)",
            status(429),
            true,
            "[STATUS] == any(200, 429)",
        ),
        (
            "any(200, 429) == [STATUS]",
            status(429),
            true,
            "any(200, 429) == [STATUS]",
        ),
        (
            "[STATUS] == any(200, 429)",
            status(404),
            false,
            "[STATUS] (404) == any(200, 429)",
        ),
        // has()
        (
            "has([BODY].errors) == false",
            body("{}"),
            true,
            "has([BODY].errors) == false",
        ),
        (
            "has([BODY].article) == true",
            body(
                "{\n  \"article\": {\n    \"id\": 123,\n    \"title\": \"Hello, world!\",\n    \"tags\": [\"hello\", \"world\"]\n  }\n}",
            ),
            true,
            "has([BODY].article) == true",
        ),
        (
            "has([BODY].errors) == false",
            body(r#"{"errors": ["1"]}"#),
            false,
            "has([BODY].errors) (true) == false",
        ),
    ]);
}

/// Cases Gatus's tests do not cover, with the result Gatus's code gives.
#[test]
fn conditions_keep_gatus_semantics_beyond_its_tests() {
    check(vec![
        // Placeholders in any case; paths keep theirs.
        (
            "[status] == 200",
            status(500),
            false,
            "[status] (500) == 200",
        ),
        (
            "[Body].Status == UP",
            body(r#"{"status": "UP"}"#),
            false,
            "[Body].Status (INVALID) == UP",
        ),
        // Integers compare as numbers in any base, Go's leading-zero octal included.
        ("[STATUS] == 0xC8", status(200), true, "[STATUS] == 0xC8"),
        ("[STATUS] == 0310", status(200), true, "[STATUS] == 0310"),
        ("[BODY] == 1_000", body("1000"), true, "[BODY] == 1_000"),
        ("[BODY] == 1.0", body("1"), false, "[BODY] (1) == 1.0"),
        (
            "[STATUS] != 500",
            status(500),
            false,
            "[STATUS] (500) != 500",
        ),
        ("[STATUS] != 500", status(200), true, "[STATUS] != 500"),
        // any() compares text; pat() on both sides compares the patterns.
        (
            "[STATUS] == any(0xC8)",
            status(200),
            false,
            "[STATUS] (200) == any(0xC8)",
        ),
        ("pat(a*) == pat(a*)", ctx(), true, "pat(a*) == pat(a*)"),
        // No status (no response) is 0, as in Gatus.
        ("[STATUS] == 0", ctx(), true, "[STATUS] == 0"),
        // Ordering reads durations, integers in any base, and truncated floats.
        (
            "[STATUS] < 0x1F4",
            status(502),
            false,
            "[STATUS] (502) < 0x1F4 (500)",
        ),
        (
            "[BODY].load < 1.9",
            body(r#"{"load": 1.5}"#),
            false,
            "[BODY].load (1) < 1.9 (1)",
        ),
        (
            "[RESPONSE_TIME] < 1.5s",
            response_time(2000),
            false,
            "[RESPONSE_TIME] (2000) < 1.5s (1s)",
        ),
        (
            "[RESPONSE_TIME] < 500ms",
            response_time(750),
            false,
            "[RESPONSE_TIME] (750) < 500ms (0s)",
        ),
        (
            "[RESPONSE_TIME] < 0",
            response_time(50),
            false,
            "[RESPONSE_TIME] (50) < 0 (0s)",
        ),
        (
            "[RESPONSE_TIME] < 1h30m",
            response_time(50),
            true,
            "[RESPONSE_TIME] < 1h30m",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 720h",
            cert(-5000),
            false,
            "[CERTIFICATE_EXPIRATION] (-5s) > 720h",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            cert(DAY_MS + 15_000),
            false,
            "[CERTIFICATE_EXPIRATION] (24h0m15s) > 48h",
        ),
        (
            "[BODY].x < potato",
            body(r#"{"x": -1}"#),
            true,
            "[BODY].x < potato",
        ),
        // JSON numbers are Go's float64, written as %v writes them.
        (
            "[BODY].count == 1234567",
            body(r#"{"count": 1234567}"#),
            false,
            "[BODY].count (1.234567e+06) == 1234567",
        ),
        (
            "[BODY].count >= 1234567",
            body(r#"{"count": 1234567}"#),
            true,
            "[BODY].count >= 1234567",
        ),
        (
            "[BODY].n == 1",
            body(r#"{"n": 1.0}"#),
            true,
            "[BODY].n == 1",
        ),
        // Arrays and objects as Gatus writes them.
        (
            "[BODY].tags == [a b]",
            body(r#"{"tags": ["a", "b"]}"#),
            true,
            "[BODY].tags == [a b]",
        ),
        (
            "[BODY].tags == any([a])",
            body(r#"{"tags": ["a"]}"#),
            true,
            "[BODY].tags == any([a])",
        ),
        (
            "[BODY].o == {\"a\":1,\"b\":2}",
            body(r#"{"o": {"b": 2, "a": 1}}"#),
            true,
            "[BODY].o == {\"a\":1,\"b\":2}",
        ),
        (
            "len([BODY].tags) == 2",
            body(r#"{"tags": ["a", "b"]}"#),
            true,
            "len([BODY].tags) == 2",
        ),
        // The walk stops at a number, whatever keys follow (Gatus's walk).
        (
            "[BODY].a.b.c == 5",
            body(r#"{"a": 5}"#),
            true,
            "[BODY].a.b.c == 5",
        ),
        // [BODY] is trimmed; len([BODY]) counts the raw bytes, or the trimmed ones when the
        // body looks like an array but is not JSON.
        ("[BODY] == abc", body("  abc\n"), true, "[BODY] == abc"),
        (
            "len([BODY]) == 6",
            body("  abc\n"),
            true,
            "len([BODY]) == 6",
        ),
        ("len([BODY]) == 5", body("[abc]"), true, "len([BODY]) == 5"),
        (
            "len([BODY].name) == 2",
            body(r#"{"name": "é"}"#),
            true,
            "len([BODY].name) == 2",
        ),
        (
            "[BODY]. == {\"a\": 1}",
            body(r#"{"a": 1}"#),
            true,
            "[BODY]. == {\"a\": 1}",
        ),
        ("has([BODY]) == false", ctx(), true, "has([BODY]) == false"),
        (
            "has([STATUS]) == true",
            ctx(),
            true,
            "has([STATUS]) == true",
        ),
        ("has([IP]) == false", ctx(), true, "has([IP]) == false"),
        (
            "len([STATUS]) == 3",
            status(200),
            true,
            "len([STATUS]) == 3",
        ),
        (
            "len([CONNECTED]) == 5",
            ctx(),
            true,
            "len([CONNECTED]) == 5",
        ),
        // len()/has() of what is not a placeholder.
        ("len(abc) == 3", ctx(), false, "len(abc) (INVALID) == 3"),
        ("has(abc) == false", ctx(), true, "has(abc) == false"),
        // A bracketed word with a lower-case letter is text, as in Gatus.
        (
            "[BODY].tags == [a]",
            body(r#"{"tags": ["a"]}"#),
            true,
            "[BODY].tags == [a]",
        ),
        // Text after the operator's second appearance is ignored, as in Gatus.
        (
            "[STATUS] == 200 == 300",
            status(200),
            true,
            "[STATUS] == 200 == 300",
        ),
        (
            "[STATUS] == 200 == 300",
            status(300),
            false,
            "[STATUS] (300) == 200",
        ),
        // Spaces around sides do not count.
        (
            "  [STATUS]   ==   200 ",
            status(201),
            false,
            "[STATUS] (201) == 200",
        ),
    ]);
}

/// Headers, phases and regular expressions, which Gatus does not have.
#[test]
fn headers_phases_and_regexes_evaluate() {
    let headers = || {
        ctx()
            .header("Content-Type", "application/json; charset=utf-8")
            .header("Set-Cookie", "a=1")
            .header("set-cookie", "b=2")
            .header("ETag", "\"ab\"")
    };
    let phases = || {
        ctx().phases(Phases {
            dns: Some(12.7),
            connect: Some(10.9),
            tls: None,
            ttfb: Some(150.2),
            transfer: Some(1.0),
        })
    };
    check(vec![
        (
            "[HEADER].content-type == pat(application/json*)",
            headers(),
            true,
            "[HEADER].content-type == pat(application/json*)",
        ),
        (
            "[HEADER].Content-Type == text/html",
            headers(),
            false,
            "[HEADER].Content-Type (application/json; charset=utf-8) == text/html",
        ),
        (
            "[HEADER].set-cookie == a=1, b=2",
            headers(),
            true,
            "[HEADER].set-cookie == a=1, b=2",
        ),
        (
            "len([HEADER].etag) == 4",
            headers(),
            true,
            "len([HEADER].etag) == 4",
        ),
        (
            "[HEADER].X-Missing == x",
            headers(),
            false,
            "[HEADER].X-Missing (INVALID) == x",
        ),
        (
            "has([HEADER].x-missing) == false",
            headers(),
            true,
            "has([HEADER].x-missing) == false",
        ),
        (
            "has([header].etag) == true",
            headers(),
            true,
            "has([header].etag) == true",
        ),
        (
            "[HEADER].content-type =~ ^application/json",
            headers(),
            true,
            "[HEADER].content-type =~ ^application/json",
        ),
        ("[DNS_TIME] < 50", phases(), true, "[DNS_TIME] < 50"),
        (
            "[CONNECT_TIME] == 10",
            phases(),
            true,
            "[CONNECT_TIME] == 10",
        ),
        ("[TTFB] < 100", phases(), false, "[TTFB] (150) < 100"),
        ("[TTFB] < 1s", phases(), true, "[TTFB] < 1s"),
        (
            "[TLS_TIME] < 100",
            phases(),
            false,
            "[TLS_TIME] (INVALID) < 100",
        ),
        (
            "has([TLS_TIME]) == false",
            phases(),
            true,
            "has([TLS_TIME]) == false",
        ),
        (
            "has([DNS_TIME]) == true",
            phases(),
            true,
            "has([DNS_TIME]) == true",
        ),
        (
            r#"[BODY] =~ "status":\s*"UP""#,
            body(r#"{"status": "UP"}"#),
            true,
            r#"[BODY] =~ "status":\s*"UP""#,
        ),
        (
            "[BODY].status !~ ^DOWN$",
            body(r#"{"status": "UP"}"#),
            true,
            "[BODY].status !~ ^DOWN$",
        ),
        (
            "[BODY].status =~ ^DOWN$",
            body(r#"{"status": "UP"}"#),
            false,
            "[BODY].status (UP) =~ ^DOWN$",
        ),
        (
            "[BODY].status !~ ^UP$",
            body(r#"{"status": "UP"}"#),
            false,
            "[BODY].status (UP) !~ ^UP$",
        ),
        (
            "[BODY].missing !~ x",
            body("{}"),
            false,
            "[BODY].missing (INVALID) !~ x",
        ),
        (
            r"[STATUS] =~ ^2\d\d$",
            status(204),
            true,
            r"[STATUS] =~ ^2\d\d$",
        ),
        (
            r"[STATUS] =~ ^2\d\d$",
            status(502),
            false,
            r"[STATUS] (502) =~ ^2\d\d$",
        ),
        // A regex may contain =~ and !~, and operators without the spaces around them.
        (
            "[BODY] =~ a =~ b",
            body("xa =~ by"),
            true,
            "[BODY] =~ a =~ b",
        ),
        (
            r"[BODY] =~ a\s<\sb",
            body("a < b"),
            true,
            r"[BODY] =~ a\s<\sb",
        ),
    ]);
}

/// Where we differ from Gatus on purpose, at evaluation: an unresolved side fails whatever
/// the operator (Gatus: `!=` holds, `<` reads 0), and Gatus's trimming of durations.
#[test]
fn an_unresolved_side_fails_with_every_operator() {
    check(vec![
        (
            "[BODY].missing != x",
            body("{}"),
            false,
            "[BODY].missing (INVALID) != x",
        ),
        (
            "[BODY].missing < 5",
            body("{}"),
            false,
            "[BODY].missing (INVALID) < 5",
        ),
        (
            "[BODY].missing >= 0",
            body("{}"),
            false,
            "[BODY].missing (INVALID) >= 0 (0s)",
        ),
        (
            "len([BODY].missing) < 5",
            body("{}"),
            false,
            "len([BODY].missing) (INVALID) < 5",
        ),
        (
            "[BODY].a == [BODY].a",
            body("{}"),
            false,
            "[BODY].a (INVALID) == [BODY].a (INVALID)",
        ),
        (
            "[BODY].x == 1",
            body("not json"),
            false,
            "[BODY].x (INVALID) == 1",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 1h",
            cert(HOUR_MS / 2 + 10_000),
            false,
            "[CERTIFICATE_EXPIRATION] (30m10s) > 1h",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            cert(DAY_MS + 20 * 60_000),
            false,
            "[CERTIFICATE_EXPIRATION] (24h20m) > 48h",
        ),
    ]);
}

#[test]
fn resolved_values_are_cut_to_256_characters_on_a_character_boundary() {
    let long = "é".repeat(300);
    let long: &'static str = Box::leak(long.into_boxed_str());
    let c = Condition::parse("[BODY] == x").unwrap();
    let result = c.evaluate(&body(long));
    let want = format!("[BODY] ({}...(truncated)) == x", "é".repeat(256));
    assert_eq!(result.resolved, want);
    let short = "é".repeat(256);
    let short: &'static str = Box::leak(short.into_boxed_str());
    assert_eq!(
        c.evaluate(&body(short)).resolved,
        format!("[BODY] ({short}) == x")
    );
    // The condition as written is never cut.
    let long_condition = format!("[BODY] == {}", "y".repeat(1000));
    let c = Condition::parse(&long_condition).unwrap();
    let result = c.evaluate(&body("z"));
    assert_eq!(result.condition, long_condition);
    assert_eq!(
        result.resolved,
        format!("[BODY] (z) == {}", "y".repeat(1000))
    );
}

/// Gatus's `TestCondition_Validate`: what it accepts parses (but `[DOMAIN_EXPIRATION]`), what
/// it rejects is an error.
#[test]
fn parse_accepts_and_rejects_what_gatus_validates() {
    for text in [
        "[STATUS] == 200",
        "[STATUS] != 200",
        "[STATUS] <= 200",
        "[STATUS] >= 200",
        "[STATUS] < 200",
        "[STATUS] > 200",
        "[STATUS] == any(200, 201, 202, 203)",
        "[STATUS] == [BODY].status",
        "[CONNECTED] == true",
        "[RESPONSE_TIME] < 500",
        "[IP] == 127.0.0.1",
        "[BODY] == 1",
        "[BODY].test == wat",
        "[BODY].test.wat == wat",
        "[BODY].age == [BODY].id",
        "[BODY].users[0].id == 1",
        "len([BODY].users) == 100",
        "len([BODY].data) < 5",
        "has([BODY].errors) == false",
        "has([BODY].users[0].name) == true",
        "[BODY].name == pat(john*)",
        "[CERTIFICATE_EXPIRATION] > 48h",
        "raw == raw",
        // And more Gatus accepts.
        "[STATUS] < 0x1F4",
        "[CERTIFICATE_EXPIRATION] > 0s",
        "[CERTIFICATE_EXPIRATION] > -1.5h",
        "[RESPONSE_TIME] < 1e3",
        "[BODY].x < potato",
        "[BODY] == [a]",
        "[BODY] == [1, 2]",
        "[BODY].tags == any([UP])",
        "len(abc) == 3",
        "[STATUS] == ",
    ] {
        if let Err(e) = Condition::parse(text) {
            panic!("{text}: {e}");
        }
    }
    for text in [
        "[STATUS] ? 201",
        "[STATUS]==201",
        "[STATUS] = = 201",
        "[STATUS] ==",
        "[STATUS]",
        "",
    ] {
        assert_eq!(
            Condition::parse(text).map_err(|e| e.kind),
            Err(ConditionErrorKind::NoOperator),
            "{text}"
        );
    }
}

/// Where we differ from Gatus on purpose, at startup: what it silently evaluates to false (or
/// reads as text) is an error naming the condition.
#[test]
fn parse_rejects_what_cannot_be_meant() {
    use ConditionErrorKind as K;
    let unsupported = |p: &str, reason| K::Unsupported {
        placeholder: p.to_owned(),
        reason,
    };
    let not_a_number = |value: &str, placeholder: &str| K::NotANumber {
        value: value.to_owned(),
        placeholder: placeholder.to_owned(),
    };
    let cases: Vec<(&str, K)> = vec![
        ("[STAUTS] == 200", K::UnknownPlaceholder("[STAUTS]".into())),
        (
            "len([RESPONSETIME]) < 5",
            K::UnknownPlaceholder("[RESPONSETIME]".into()),
        ),
        ("[BODY].tags == [UP]", K::UnknownPlaceholder("[UP]".into())),
        (
            "[DOMAIN_EXPIRATION] > 720h",
            unsupported(
                "[DOMAIN_EXPIRATION]",
                "it needs WHOIS lookups over the internet",
            ),
        ),
        (
            "[domain_expiration] > 720h",
            unsupported(
                "[domain_expiration]",
                "it needs WHOIS lookups over the internet",
            ),
        ),
        (
            "[CONTEXT].user == x",
            unsupported("[CONTEXT]", "Uptimer has no suites of endpoints"),
        ),
        (
            "[STATUS]x == 200",
            K::Malformed("[STATUS]x".into(), "[STATUS]"),
        ),
        (
            "[BODY]x == 1",
            K::Malformed("[BODY]x".into(), "[BODY], [BODY].path or [BODY][index]"),
        ),
        (
            "[HEADER] == x",
            K::Malformed(
                "[HEADER]".into(),
                "[HEADER].<name> with a header name such as content-type",
            ),
        ),
        (
            "[HEADER]. == x",
            K::Malformed(
                "[HEADER].".into(),
                "[HEADER].<name> with a header name such as content-type",
            ),
        ),
        (
            "[HEADER].a b == x",
            K::Malformed(
                "[HEADER].a b".into(),
                "[HEADER].<name> with a header name such as content-type",
            ),
        ),
        ("[STATUS] < pat(2*)", K::FunctionNeedsEquality("pat")),
        ("any(1, 2) >= [STATUS]", K::FunctionNeedsEquality("any")),
        ("pat(a*) =~ x", K::FunctionNeedsEquality("pat")),
        (
            "[RESPONSE_TIME] < potato",
            not_a_number("potato", "[RESPONSE_TIME]"),
        ),
        ("4xx > [STATUS]", not_a_number("4xx", "[STATUS]")),
        (
            "[CERTIFICATE_EXPIRATION] > 30d",
            not_a_number("30d", "[CERTIFICATE_EXPIRATION]"),
        ),
        (
            "len([BODY].items) >= many",
            not_a_number("many", "len([BODY].items)"),
        ),
        ("[TTFB] <= ", not_a_number("", "[TTFB]")),
        ("[BODY] =~ a < b", K::OperatorInRegex("<")),
        ("[BODY] !~ x == y", K::OperatorInRegex("==")),
    ];
    for (text, kind) in cases {
        let err = Condition::parse(text).expect_err(text);
        assert_eq!(err.kind, kind, "{text}");
        assert_eq!(err.condition, text);
        assert!(
            err.to_string()
                .starts_with(&format!("condition `{text}`: ")),
            "{err}"
        );
    }
    let err = Condition::parse("[BODY] =~ (unclosed").unwrap_err();
    assert!(matches!(err.kind, K::BadRegex(_)), "{err}");
    assert!(
        err.to_string()
            .starts_with("condition `[BODY] =~ (unclosed`: bad regular expression"),
        "{err}"
    );
}

#[test]
fn error_messages_name_the_condition_and_the_fix() {
    let message = |text: &str| Condition::parse(text).unwrap_err().to_string();
    assert_eq!(
        message("[STATUS] ? 201"),
        "condition `[STATUS] ? 201`: expected `LEFT OPERATOR RIGHT` with one of ==, !=, <, <=, >, >=, =~, !~ and a space on each side of it"
    );
    assert_eq!(
        message("[DOMAIN_EXPIRATION] > 720h"),
        "condition `[DOMAIN_EXPIRATION] > 720h`: `[DOMAIN_EXPIRATION]` is not supported: it needs WHOIS lookups over the internet"
    );
    assert_eq!(
        message("[RESPONSE_TIME] < potato"),
        "condition `[RESPONSE_TIME] < potato`: `potato` is not a number or a duration (such as 500, 0x1F4, 1.5, 48h, 1s) and `[RESPONSE_TIME]` is a number"
    );
    assert!(message("[STAUTS] == 200").contains("unknown placeholder `[STAUTS]`"));
}

#[test]
fn placeholders_say_what_a_condition_reads() {
    let placeholders = |text: &str| {
        Condition::parse(text)
            .unwrap()
            .placeholders()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        placeholders("len([BODY].x) > [RESPONSE_TIME]"),
        [Placeholder::Body, Placeholder::ResponseTime]
    );
    assert_eq!(
        placeholders("[status] == any(200, 201)"),
        [Placeholder::Status]
    );
    assert_eq!(placeholders("[TTFB] < 100"), [Placeholder::Ttfb]);
    assert_eq!(placeholders("1 == 1"), []);
    assert_eq!(placeholders("has(abc) == false"), []);
    assert_eq!(placeholders("[BODY] =~ [STATUS]"), [Placeholder::Body]);
    let c = Condition::parse("[HEADER].ETag == [header].x-id").unwrap();
    assert_eq!(c.headers().collect::<Vec<_>>(), ["ETag", "x-id"]);
    assert!(!c.needs_body());
    assert!(Condition::parse("[BODY][0] == 1").unwrap().needs_body());
    assert!(!Condition::parse("[STATUS] == 200").unwrap().needs_body());
    for p in Placeholder::ALL {
        let text = match p {
            Placeholder::Header => "[HEADER].x == 1".to_owned(),
            Placeholder::DnsRcode => "[DNS_RCODE] == NOERROR".to_owned(),
            p => format!("{p} == 1"),
        };
        assert_eq!(placeholders(&text), [p], "{text}");
    }
}

#[test]
fn results_serialize_with_the_event_field_names() {
    let conditions = [
        Condition::parse("[STATUS] == 200").unwrap(),
        Condition::parse("[BODY].status == UP").unwrap(),
    ];
    let results = evaluate(&conditions, &status(502).body(br#"{"status": "DOWN"}"#));
    assert_eq!(
        serde_json::to_value(&results).unwrap(),
        serde_json::json!([
            {"condition": "[STATUS] == 200", "success": false, "resolved": "[STATUS] (502) == 200"},
            {"condition": "[BODY].status == UP", "success": false, "resolved": "[BODY].status (DOWN) == UP"},
        ])
    );
}

#[test]
fn conditions_read_from_and_write_to_configuration_as_text() {
    let c: Vec<Condition> =
        serde_json::from_str(r#"["[STATUS] == 200", "[BODY].a == 1"]"#).unwrap();
    assert_eq!(c[0], Condition::parse("[STATUS] == 200").unwrap());
    assert_eq!(
        serde_json::to_string(&c).unwrap(),
        r#"["[STATUS] == 200","[BODY].a == 1"]"#
    );
    let err = serde_json::from_str::<Vec<Condition>>(r#"["[STATUS] ? 200"]"#).unwrap_err();
    assert!(
        err.to_string().contains("condition `[STATUS] ? 200`"),
        "{err}"
    );
    assert_eq!(
        "[IP] == 1.1.1.1".parse::<Condition>().unwrap().to_string(),
        "[IP] == 1.1.1.1"
    );
}

/// A 10 KB JSON body read by three conditions is parsed once.
#[test]
fn three_body_conditions_parse_the_body_once() {
    let items: Vec<String> = (0..400)
        .map(|i| format!(r#"{{"id":{i},"name":"item-{i}"}}"#))
        .collect();
    let json = format!(
        r#"{{"status":"UP","data":{{"name":"x"}},"items":[{}]}}"#,
        items.join(",")
    );
    assert!(json.len() > 10_000, "{}", json.len());
    let conditions: Vec<Condition> = [
        "[BODY].status == UP",
        "len([BODY].items) == 400",
        "has([BODY].data.name) == true",
    ]
    .iter()
    .map(|c| Condition::parse(c).unwrap())
    .collect();
    let ctx = Context::new().status(Some(200)).body(json.as_bytes());
    assert_eq!(ctx.body_parses(), 0);
    let results = evaluate(&conditions, &ctx);
    assert!(results.iter().all(|r| r.success), "{results:?}");
    assert_eq!(ctx.body_parses(), 1);
    evaluate(&conditions, &ctx);
    assert_eq!(ctx.body_parses(), 1);

    // A body that is not JSON is tried once too.
    let ctx = body("<html>");
    evaluate(&conditions, &ctx);
    assert_eq!(ctx.body_parses(), 1);

    // Conditions that need no JSON parse nothing.
    let plain: Vec<Condition> = [
        "[STATUS] == 200",
        "[BODY] == pat(*UP*)",
        "len([BODY]) > 10",
        "has([BODY]) == true",
    ]
    .iter()
    .map(|c| Condition::parse(c).unwrap())
    .collect();
    let ctx = Context::new().status(Some(200)).body(json.as_bytes());
    assert!(evaluate(&plain, &ctx).iter().all(|r| r.success));
    assert_eq!(ctx.body_parses(), 0);
}

#[test]
fn hostile_bodies_give_false_or_invalid_never_a_panic() {
    // Nested beyond serde_json's limit: not JSON.
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let ctx = Context::new().body(deep.as_bytes());
    let result = Condition::parse("[BODY][0] == 1").unwrap().evaluate(&ctx);
    assert!(!result.success);
    assert_eq!(result.resolved, "[BODY][0] (INVALID) == 1");
    let len = Condition::parse("len([BODY]) == 200001")
        .unwrap()
        .evaluate(&ctx);
    assert!(len.success, "{len:?}");
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    let ctx = Context::new().body(deep_objects.as_bytes());
    assert!(
        !Condition::parse("[BODY].a.a == 1")
            .unwrap()
            .evaluate(&ctx)
            .success
    );

    // Large: 100 000 objects.
    let items: Vec<String> = (0..100_000).map(|i| format!(r#"{{"id":{i}}}"#)).collect();
    let large = format!("[{}]", items.join(","));
    let ctx = Context::new().body(large.as_bytes());
    let conditions = [
        Condition::parse("len([BODY]) == 100000").unwrap(),
        Condition::parse("[BODY][99999].id == 99999").unwrap(),
        Condition::parse("[BODY] == pat(*\"id\":99999*)").unwrap(),
    ];
    let results = evaluate(&conditions, &ctx);
    assert!(results.iter().all(|r| r.success), "{results:?}");
    // A failure shows the array cut, not 100 000 elements.
    let failed = Condition::parse("[BODY][0].id == 1")
        .unwrap()
        .evaluate(&ctx);
    assert_eq!(failed.resolved, "[BODY][0].id (0) == 1");
    let failed = Condition::parse("[BODY] == x").unwrap().evaluate(&ctx);
    assert!(
        failed.resolved.len() < 300 + 20,
        "{}",
        failed.resolved.len()
    );

    // Not UTF-8: read as text with replacement characters.
    let ctx = Context::new().body(b"\xff\xfe{\"a\":1}");
    assert!(
        !Condition::parse("[BODY].a == 1")
            .unwrap()
            .evaluate(&ctx)
            .success
    );
    assert_eq!(
        Condition::parse("[BODY] == x")
            .unwrap()
            .evaluate(&ctx)
            .resolved,
        "[BODY] (\u{FFFD}\u{FFFD}{\"a\":1}) == x"
    );
    let ctx = Context::new().body(b"{\"a\":\"\xff\"}");
    assert!(
        Condition::parse("[BODY].a == \u{FFFD}")
            .unwrap()
            .evaluate(&ctx)
            .success
    );
    assert!(
        Condition::parse("len([BODY]) == 9")
            .unwrap()
            .evaluate(&ctx)
            .success
    );
}

#[test]
fn very_long_conditions_parse_and_evaluate() {
    // A path of 500 000 keys: the walk stops at the number, as Gatus's does.
    let path = format!("[BODY]{} == 1", ".a".repeat(500_000));
    let c = Condition::parse(&path).unwrap();
    assert!(c.evaluate(&body(r#"{"a":{"a":1}}"#)).success);
    assert!(!c.evaluate(&body(r#"{"a":{"a":{"b":1}}}"#)).success);
    // An index chain of 100 000.
    let chain = format!("[BODY]{} == 1", "[0]".repeat(100_000));
    assert!(
        !Condition::parse(&chain)
            .unwrap()
            .evaluate(&body("[[1]]"))
            .success
    );
    // A pattern of 20 000 stars on a 10 KB body.
    let pattern = format!("[BODY] == pat({}b)", "*a".repeat(10_000));
    let text: &'static str = Box::leak("a".repeat(10_000).into_boxed_str());
    assert!(
        !Condition::parse(&pattern)
            .unwrap()
            .evaluate(&body(text))
            .success
    );
    // 10 000 operators.
    let many = vec!["1"; 10_000].join(" == ");
    assert!(Condition::parse(&many).unwrap().evaluate(&ctx()).success);
    // A regex too large to compile is an error, not a hang.
    let huge = format!("[BODY] =~ {}", "(a{1000}){1000}");
    assert!(matches!(
        Condition::parse(&huge).map_err(|e| e.kind),
        Err(ConditionErrorKind::BadRegex(_))
    ));
}

/// Invalid UTF-8 in a JSON body reads as U+FFFD (as Go's `json.Unmarshal` reads it), in a
/// value and in a key; escaped strings and repeated keys resolve as in Go (the last one).
#[test]
fn json_bodies_with_invalid_utf8_escapes_and_repeated_keys_resolve_as_in_go() {
    let cases: &[(&[u8], &str)] = &[
        (b"{\"status\":\"UP\xff\"}", "[BODY].status == UP\u{FFFD}"),
        (b"{\"st\xffatus\":\"UP\"}", "[BODY].st\u{FFFD}atus == UP"),
        // A cut-off three-byte sequence and a UTF-8-encoded surrogate: one U+FFFD per byte.
        (b"{\"s\":\"U\xe2\x82P\"}", "[BODY].s == U\u{FFFD}\u{FFFD}P"),
        (
            b"{\"s\":\"\xed\xa0\x80\"}",
            "[BODY].s == \u{FFFD}\u{FFFD}\u{FFFD}",
        ),
        (br#"{"status":"U\u0050"}"#, "[BODY].status == UP"),
        (br#"{"st\u0061tus":"UP"}"#, "[BODY].status == UP"),
        (br#"{"status":"DOWN","status":"UP"}"#, "[BODY].status == UP"),
        (br#"{"a":{"b":1,"b":2}}"#, "[BODY].a == {\"b\":2}"),
    ];
    for (body, condition) in cases {
        let ctx = Context::new().status(Some(200)).body(body);
        let results = evaluate(&[Condition::parse(condition).unwrap()], &ctx);
        assert!(results[0].success, "{condition}: {results:?}");
    }
}

fn answers(items: &[&str]) -> Context<'static> {
    Context::new().dns_answers(items.iter().map(|s| s.to_string()))
}

fn loss(percent: f64) -> Context<'static> {
    Context::new().packet_loss(percent)
}

/// `[DNS_RCODE]` is the response code by name, as Gatus writes it; without a response it is
/// empty, as Gatus's is.
#[test]
fn dns_rcode_compares_the_response_code_by_name() {
    let rcode = |name: &str| Context::new().dns_rcode(name);
    check(vec![
        (
            "[DNS_RCODE] == NOERROR",
            rcode("NOERROR"),
            true,
            "[DNS_RCODE] == NOERROR",
        ),
        (
            "[DNS_RCODE] == NOERROR",
            rcode("NXDOMAIN"),
            false,
            "[DNS_RCODE] (NXDOMAIN) == NOERROR",
        ),
        (
            "[DNS_RCODE] == NOERROR",
            ctx(),
            false,
            "[DNS_RCODE] () == NOERROR",
        ),
        (
            "[dns_rcode] != SERVFAIL",
            rcode("NOERROR"),
            true,
            "[dns_rcode] != SERVFAIL",
        ),
        (
            "[DNS_RCODE] != SERVFAIL",
            rcode("SERVFAIL"),
            false,
            "[DNS_RCODE] (SERVFAIL) != SERVFAIL",
        ),
        (
            "[DNS_RCODE] == any(NOERROR, NXDOMAIN)",
            rcode("NXDOMAIN"),
            true,
            "[DNS_RCODE] == any(NOERROR, NXDOMAIN)",
        ),
        (
            "[DNS_RCODE] == any(NOERROR, NXDOMAIN)",
            rcode("REFUSED"),
            false,
            "[DNS_RCODE] (REFUSED) == any(NOERROR, NXDOMAIN)",
        ),
        (
            "[DNS_RCODE] == pat(NX*)",
            rcode("NXDOMAIN"),
            true,
            "[DNS_RCODE] == pat(NX*)",
        ),
        (
            "[DNS_RCODE] =~ ^(NOERROR|NXDOMAIN)$",
            rcode("SERVFAIL"),
            false,
            "[DNS_RCODE] (SERVFAIL) =~ ^(NOERROR|NXDOMAIN)$",
        ),
        (
            "has([DNS_RCODE]) == true",
            ctx(),
            false,
            "has([DNS_RCODE]) (false) == true",
        ),
    ]);
    assert_eq!(rcode_name(0), Some("NOERROR"));
    assert_eq!(rcode_name(3), Some("NXDOMAIN"));
    assert_eq!(rcode_name(4), Some("NOTIMP"));
    assert_eq!(rcode_name(16), Some("BADSIG"));
    assert_eq!(rcode_name(12), None);
    for name in DNS_RCODES {
        let text = format!("[DNS_RCODE] == {name}");
        assert!(Condition::parse(&text).is_ok(), "{text}");
    }
}

/// `[DNS_ANSWERS]` holds when the comparison holds for any answer; `!=` and `!~` are the
/// negation (no answer is, no answer matches); a failed condition shows every answer.
#[test]
fn dns_answers_hold_when_any_answer_matches() {
    let two = || answers(&["93.184.216.34", "93.184.216.35"]);
    let mx = || answers(&["10 mail.example.org.", "20 backup-mail.example.org."]);
    check(vec![
        (
            "[DNS_ANSWERS] == 93.184.216.35",
            two(),
            true,
            "[DNS_ANSWERS] == 93.184.216.35",
        ),
        (
            "93.184.216.34 == [DNS_ANSWERS]",
            two(),
            true,
            "93.184.216.34 == [DNS_ANSWERS]",
        ),
        (
            "[DNS_ANSWERS] == 1.2.3.4",
            two(),
            false,
            "[DNS_ANSWERS] (93.184.216.34, 93.184.216.35) == 1.2.3.4",
        ),
        (
            "[DNS_ANSWERS] != 1.2.3.4",
            two(),
            true,
            "[DNS_ANSWERS] != 1.2.3.4",
        ),
        // Not "some answer differs": one of them is the address.
        (
            "[DNS_ANSWERS] != 93.184.216.34",
            two(),
            false,
            "[DNS_ANSWERS] (93.184.216.34, 93.184.216.35) != 93.184.216.34",
        ),
        (
            "[DNS_ANSWERS] == pat(*.example.org.)",
            mx(),
            true,
            "[DNS_ANSWERS] == pat(*.example.org.)",
        ),
        // Against a pattern the answers are not cut to 25 characters as a body is.
        (
            "[DNS_ANSWERS] == pat(*.example.com.)",
            mx(),
            false,
            "[DNS_ANSWERS] (10 mail.example.org., 20 backup-mail.example.org.) == pat(*.example.com.)",
        ),
        (
            "[DNS_ANSWERS] != pat(*.example.com.)",
            mx(),
            true,
            "[DNS_ANSWERS] != pat(*.example.com.)",
        ),
        (
            "[DNS_ANSWERS] == any(1.1.1.1, 93.184.216.35)",
            two(),
            true,
            "[DNS_ANSWERS] == any(1.1.1.1, 93.184.216.35)",
        ),
        (
            "[DNS_ANSWERS] =~ \\.35$",
            two(),
            true,
            "[DNS_ANSWERS] =~ \\.35$",
        ),
        (
            "[DNS_ANSWERS] !~ \\.35$",
            two(),
            false,
            "[DNS_ANSWERS] (93.184.216.34, 93.184.216.35) !~ \\.35$",
        ),
        (
            "[DNS_ANSWERS] !~ ^10\\.",
            two(),
            true,
            "[DNS_ANSWERS] !~ ^10\\.",
        ),
        (
            "[DNS_ANSWERS] == [IP]",
            two().ip("93.184.216.35"),
            true,
            "[DNS_ANSWERS] == [IP]",
        ),
        // No answers: nothing equals, nothing matches.
        (
            "[DNS_ANSWERS] == 1.2.3.4",
            ctx(),
            false,
            "[DNS_ANSWERS] () == 1.2.3.4",
        ),
        (
            "[DNS_ANSWERS] != 1.2.3.4",
            ctx(),
            true,
            "[DNS_ANSWERS] != 1.2.3.4",
        ),
        ("[DNS_ANSWERS] =~ .", ctx(), false, "[DNS_ANSWERS] () =~ ."),
        (
            "len([DNS_ANSWERS]) == 2",
            two(),
            true,
            "len([DNS_ANSWERS]) == 2",
        ),
        (
            "len([DNS_ANSWERS]) > 2",
            two(),
            false,
            "len([DNS_ANSWERS]) (2) > 2",
        ),
        (
            "has([DNS_ANSWERS]) == true",
            ctx(),
            false,
            "has([DNS_ANSWERS]) (false) == true",
        ),
        (
            "has([DNS_ANSWERS]) == true",
            two(),
            true,
            "has([DNS_ANSWERS]) == true",
        ),
    ]);
    // The slice form of the setter.
    let owned = vec!["10.0.0.1".to_owned()];
    let ctx = Context::new().dns_answers(&owned);
    let c = Condition::parse("[DNS_ANSWERS] == 10.0.0.1").unwrap();
    assert!(c.evaluate(&ctx).success);
}

/// A failed `[DNS_ANSWERS]` condition shows the answers joined, cut as any other value.
#[test]
fn many_dns_answers_are_cut_in_the_resolved_text() {
    let many: Vec<String> = (0..10_000)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
        .collect();
    let ctx = Context::new().dns_answers(many.clone());
    let result = Condition::parse("[DNS_ANSWERS] == 1.2.3.4")
        .unwrap()
        .evaluate(&ctx);
    assert!(!result.success);
    let joined = many.join(", ");
    let want = format!(
        "[DNS_ANSWERS] ({}...(truncated)) == 1.2.3.4",
        &joined[..MAX_RESOLVED_CHARS]
    );
    assert_eq!(result.resolved, want);
    // The last answer is still compared.
    assert!(
        Condition::parse("[DNS_ANSWERS] == 10.0.39.15")
            .unwrap()
            .evaluate(&ctx)
            .success
    );
    // Answers of many bytes per character, and huge ones, are cut on a character boundary.
    let wide = Context::new().dns_answers(["\"é\"".repeat(200), "x".repeat(1 << 20)]);
    let result = Condition::parse("[DNS_ANSWERS] == x")
        .unwrap()
        .evaluate(&wide);
    assert!(!result.success);
    assert!(result.resolved.ends_with("...(truncated)) == x"));
    assert!(result.resolved.chars().count() < MAX_RESOLVED_CHARS + 64);
}

/// `[PACKET_LOSS]` is a percent compared as a decimal number: 20.5 is more than 20 (Gatus's
/// integers would truncate it to 20), and shown as compared.
#[test]
fn packet_loss_compares_as_a_decimal_percent() {
    let third = 100.0 / 3.0;
    check(vec![
        ("[PACKET_LOSS] == 0", loss(0.0), true, "[PACKET_LOSS] == 0"),
        (
            "[PACKET_LOSS] == 0.0",
            loss(0.0),
            true,
            "[PACKET_LOSS] == 0.0",
        ),
        (
            "[PACKET_LOSS] == 0",
            loss(100.0),
            false,
            "[PACKET_LOSS] (100) == 0",
        ),
        ("[PACKET_LOSS] > 20", loss(20.5), true, "[PACKET_LOSS] > 20"),
        (
            "[PACKET_LOSS] < 20.5",
            loss(20.5),
            false,
            "[PACKET_LOSS] (20.5) < 20.5",
        ),
        (
            "[PACKET_LOSS] <= 33",
            loss(third),
            false,
            "[PACKET_LOSS] (33.333) <= 33",
        ),
        (
            "[packet_loss] < 33.4",
            loss(third),
            true,
            "[packet_loss] < 33.4",
        ),
        (
            "[PACKET_LOSS] != 100",
            loss(100.0),
            false,
            "[PACKET_LOSS] (100) != 100",
        ),
        (
            "[PACKET_LOSS] < 50",
            loss(66.667),
            false,
            "[PACKET_LOSS] (66.667) < 50",
        ),
        // Unset (no echo request sent) reads as Gatus's missing values: 0.
        ("[PACKET_LOSS] == 0", ctx(), true, "[PACKET_LOSS] == 0"),
        (
            "[PACKET_LOSS] == 0",
            loss(f64::NAN),
            true,
            "[PACKET_LOSS] == 0",
        ),
        // Outside 0–100 is clamped.
        (
            "[PACKET_LOSS] <= 100",
            loss(250.0),
            true,
            "[PACKET_LOSS] <= 100",
        ),
        ("[PACKET_LOSS] == 0", loss(-0.0), true, "[PACKET_LOSS] == 0"),
        (
            "[PACKET_LOSS] == any(0, 100)",
            loss(100.0),
            true,
            "[PACKET_LOSS] == any(0, 100)",
        ),
    ]);
}

/// What a new placeholder cannot mean is an error at startup, naming the fix.
#[test]
fn new_placeholders_reject_what_cannot_be_meant() {
    use ConditionErrorKind as K;
    let percent = |value: &str| K::NotAPercent {
        value: value.to_owned(),
        placeholder: "[PACKET_LOSS]".to_owned(),
    };
    let cases: Vec<(&str, K)> = vec![
        ("[PACKET_LOSS] < 5%", percent("5%")),
        ("[PACKET_LOSS] < 1s", percent("1s")),
        ("ten >= [PACKET_LOSS]", percent("ten")),
        ("[DNS_ANSWERS] > 1", K::ListOrdering("[DNS_ANSWERS]".into())),
        (
            "5 <= [dns_answers]",
            K::ListOrdering("[dns_answers]".into()),
        ),
        (
            "[DNS_RCODE] == NOERRROR",
            K::UnknownRcode("NOERRROR".into()),
        ),
        ("[DNS_RCODE] == noerror", K::UnknownRcode("noerror".into())),
        (
            "NXDOMIAN != [DNS_RCODE]",
            K::UnknownRcode("NXDOMIAN".into()),
        ),
        ("[DNS_RCODE] == 0", K::UnknownRcode("0".into())),
        (
            "[DNS_RCODE] == any(NOERROR, NXDOMIAN)",
            K::UnknownRcode("NXDOMIAN".into()),
        ),
        (
            "[DNS_ANSWERS]x == 1",
            K::Malformed("[DNS_ANSWERS]x".into(), "[DNS_ANSWERS]"),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            Condition::parse(text).map_err(|e| e.kind),
            Err(want),
            "{text}"
        );
    }
    for text in [
        "[PACKET_LOSS] < 0x10",
        "[PACKET_LOSS] <= 2.5",
        "len([DNS_ANSWERS]) >= 1",
        "[DNS_RCODE] == pat(nx*)",
        "[DNS_RCODE] =~ (?i)noerror",
        "[DNS_RCODE] == [BODY]",
    ] {
        assert!(Condition::parse(text).is_ok(), "{text}");
    }
    let message = |text: &str| Condition::parse(text).unwrap_err().to_string();
    assert_eq!(
        message("[PACKET_LOSS] < 5%"),
        "condition `[PACKET_LOSS] < 5%`: `5%` is not a number of percent (such as 0, 2.5 or 100, written without %) and `[PACKET_LOSS]` is one"
    );
    assert_eq!(
        message("[DNS_ANSWERS] > 1"),
        "condition `[DNS_ANSWERS] > 1`: `[DNS_ANSWERS]` is a list of records: compare it with ==, !=, =~ or !~ (a condition holds when it holds for any answer), or count it with len([DNS_ANSWERS])"
    );
    assert!(message("[DNS_RCODE] == NOERRROR").starts_with(
        "condition `[DNS_RCODE] == NOERRROR`: `NOERRROR` is not a DNS response code; [DNS_RCODE] is one of NOERROR, FORMERR,"
    ));
}

/// Every kind of check, and the placeholders it produces: the table of docs/conditions.md.
#[test]
fn each_kind_produces_the_placeholders_of_the_documented_table() {
    use crate::event::Kind;
    use Placeholder as P;
    let http = vec![
        P::Status,
        P::Ip,
        P::ResponseTime,
        P::Body,
        P::Connected,
        P::Header,
        P::DnsTime,
        P::ConnectTime,
        P::Ttfb,
    ];
    let https = vec![
        P::Status,
        P::Ip,
        P::ResponseTime,
        P::Body,
        P::Connected,
        P::CertificateExpiration,
        P::Header,
        P::DnsTime,
        P::ConnectTime,
        P::TlsTime,
        P::Ttfb,
    ];
    let tcp = vec![
        P::Ip,
        P::ResponseTime,
        P::Body,
        P::Connected,
        P::DnsTime,
        P::ConnectTime,
        P::Ttfb,
    ];
    let tls = vec![
        P::Ip,
        P::ResponseTime,
        P::Body,
        P::Connected,
        P::CertificateExpiration,
        P::DnsTime,
        P::ConnectTime,
        P::TlsTime,
        P::Ttfb,
    ];
    let starttls = vec![
        P::Ip,
        P::ResponseTime,
        P::Connected,
        P::CertificateExpiration,
        P::DnsTime,
        P::ConnectTime,
        P::TlsTime,
        P::Ttfb,
    ];
    let udp = vec![P::Ip, P::ResponseTime, P::Body, P::Connected, P::Ttfb];
    let icmp = vec![P::Ip, P::ResponseTime, P::Connected, P::Ttfb, P::PacketLoss];
    let dns = vec![
        P::Ip,
        P::ResponseTime,
        P::Body,
        P::Connected,
        P::Ttfb,
        P::DnsRcode,
        P::DnsAnswers,
    ];
    let grpc = tcp.clone();
    let grpcs = tls.clone();
    let push = vec![P::ResponseTime];
    let table = [
        (Kind::Http, http),
        (Kind::Https, https),
        (Kind::Tcp, tcp),
        (Kind::Tls, tls),
        (Kind::Starttls, starttls),
        (Kind::Udp, udp),
        (Kind::Icmp, icmp),
        (Kind::Dns, dns),
        (Kind::Grpc, grpc),
        (Kind::Grpcs, grpcs),
        (Kind::Push, push),
    ];
    assert_eq!(
        table.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        Kind::ALL,
        "every kind, once"
    );
    for (kind, want) in table {
        assert_eq!(
            Placeholder::produced(kind).collect::<Vec<_>>(),
            want,
            "{kind}"
        );
        for p in Placeholder::ALL {
            assert_eq!(p.produced_by(kind), want.contains(&p), "{p} on {kind}");
        }
    }
}

/// The first condition that reads a placeholder its check cannot produce is reported with
/// the placeholder, wherever it stands in the condition; one that can be met passes.
#[test]
fn check_kind_names_the_first_condition_a_kind_cannot_meet() {
    use crate::event::Kind;
    let parse = |texts: &[&str]| -> Vec<Condition> {
        texts.iter().map(|t| Condition::parse(t).unwrap()).collect()
    };
    let icmp = parse(&[
        "[CONNECTED] == true",
        "[PACKET_LOSS] < 10",
        "[RESPONSE_TIME] < 300",
        "[IP] == pat(127.*)",
        "[TTFB] < 100",
    ]);
    assert_eq!(check_kind(&icmp, Kind::Icmp), Ok(()));
    assert_eq!(
        check_kind(&icmp, Kind::Http),
        Err((1, Placeholder::PacketLoss))
    );
    let http_on_icmp = parse(&["[CONNECTED] == true", "200 == [STATUS]"]);
    assert_eq!(
        check_kind(&http_on_icmp, Kind::Icmp),
        Err((1, Placeholder::Status))
    );
    // Inside len() and has(), and on the right.
    let wrapped = parse(&["[RESPONSE_TIME] < 1s", "has([HEADER].etag) == true"]);
    assert_eq!(
        check_kind(&wrapped, Kind::Tcp),
        Err((1, Placeholder::Header))
    );
    let right = parse(&["[RESPONSE_TIME] < [CERTIFICATE_EXPIRATION]"]);
    assert_eq!(
        check_kind(&right, Kind::Tcp),
        Err((0, Placeholder::CertificateExpiration))
    );
    assert_eq!(check_kind(&right, Kind::Tls), Ok(()));
    assert_eq!(check_kind(&right, Kind::Grpcs), Ok(()));
    assert_eq!(
        check_kind(&right, Kind::Grpc),
        Err((0, Placeholder::CertificateExpiration))
    );
    // Gatus's documented examples of each kind are accepted.
    let gatus = [
        (
            Kind::Dns,
            &["[BODY] == 93.184.216.34", "[DNS_RCODE] == NOERROR"][..],
        ),
        (Kind::Icmp, &["[CONNECTED] == true"][..]),
        (Kind::Tcp, &["[CONNECTED] == true"][..]),
        (Kind::Udp, &["[CONNECTED] == true"][..]),
        (
            Kind::Tls,
            &["[CONNECTED] == true", "[CERTIFICATE_EXPIRATION] > 48h"][..],
        ),
        (
            Kind::Starttls,
            &["[CONNECTED] == true", "[CERTIFICATE_EXPIRATION] > 48h"][..],
        ),
        (
            Kind::Grpc,
            &["[CONNECTED] == true", "[BODY].status == SERVING"][..],
        ),
    ];
    for (kind, texts) in gatus {
        assert_eq!(check_kind(&parse(texts), kind), Ok(()), "{kind}");
    }
    assert_eq!(check_kind(&[], Kind::Push), Ok(()));
    assert_eq!(
        check_kind(&parse(&["[CONNECTED] == true"]), Kind::Push),
        Err((0, Placeholder::Connected))
    );
    // Literals only: nothing to produce.
    assert_eq!(check_kind(&parse(&["1 == 1"]), Kind::Push), Ok(()));
}

#[test]
fn not_produced_text_says_what_the_kind_produces() {
    use crate::event::Kind;
    assert_eq!(
        not_produced_text(Placeholder::Status, Kind::Icmp),
        "[STATUS] cannot be used with an icmp check (it produces [IP], [RESPONSE_TIME], [CONNECTED], [TTFB], [PACKET_LOSS])"
    );
    assert_eq!(
        not_produced_text(Placeholder::Body, Kind::Starttls),
        "[BODY] cannot be used with a starttls check (it produces [IP], [RESPONSE_TIME], [CONNECTED], [CERTIFICATE_EXPIRATION], [DNS_TIME], [CONNECT_TIME], [TLS_TIME], [TTFB])"
    );
    assert_eq!(
        produced_text(Kind::Http),
        "[STATUS], [IP], [RESPONSE_TIME], [BODY], [CONNECTED], [HEADER].<name>, [DNS_TIME], [CONNECT_TIME], [TTFB]"
    );
    assert_eq!(produced_text(Kind::Push), "[RESPONSE_TIME]");
}

fn record(rtype: &str, data: &str) -> crate::event::DnsRecord {
    crate::event::DnsRecord {
        name: "example.org.".into(),
        ttl: 300,
        class: "IN".into(),
        rtype: rtype.into(),
        data: data.into(),
    }
}

/// Gatus's `[BODY]` of a DNS check (`client.QueryDNS`): the last answer's value, each type as
/// Gatus reads it, TXT records one per line.
#[test]
fn gatus_dns_body_is_the_last_answer_as_gatus_reads_it() {
    let cases: Vec<(Vec<crate::event::DnsRecord>, &str)> = vec![
        (vec![], ""),
        (vec![record("A", "93.184.216.34")], "93.184.216.34"),
        (
            vec![record("A", "10.0.0.1"), record("A", "10.0.0.2")],
            "10.0.0.2",
        ),
        (
            vec![record("CNAME", "www.example.net."), record("A", "10.0.0.3")],
            "10.0.0.3",
        ),
        (
            vec![record("CNAME", "www.example.net.")],
            "www.example.net.",
        ),
        (
            vec![record("AAAA", "2606:2800:220:1:248:1893:25c8:1946")],
            "2606:2800:220:1:248:1893:25c8:1946",
        ),
        (vec![record("AAAA", "::ffff:1.2.3.4")], "1.2.3.4"),
        (vec![record("AAAA", "::ffff:102:304")], "1.2.3.4"),
        (
            vec![record("MX", "10 mail.example.org.")],
            "mail.example.org.",
        ),
        (vec![record("NS", "ns1.example.org.")], "ns1.example.org."),
        (
            vec![record("PTR", "host.example.org.")],
            "host.example.org.",
        ),
        (
            vec![record("SRV", "10 5 5060 sip.example.org.")],
            "sip.example.org.:5060",
        ),
        (
            vec![
                record("TXT", r#""v=spf1" " -all""#),
                record("TXT", r#""a \"quoted\" word\\""#),
            ],
            "v=spf1 -all\na \\\"quoted\\\" word\\\\",
        ),
        (
            vec![record("A", "10.0.0.1"), record("TXT", r#""x""#)],
            "10.0.0.1\nx",
        ),
        (
            vec![record("SOA", "ns. host. 1 2 3 4 5")],
            "query type is not supported yet",
        ),
        // Malformed data does not panic.
        (vec![record("SRV", "5060")], ""),
        (vec![record("MX", "")], ""),
        (vec![record("TXT", "\"unterminated \\")], "unterminated \\"),
        (vec![record("AAAA", "not an address")], "not an address"),
    ];
    for (records, want) in cases {
        assert_eq!(gatus_dns_body(&records), want, "{records:?}");
    }
    // As the DNS prober would hand it over: Gatus's example condition holds.
    let body = gatus_dns_body(&[record("A", "93.184.216.34")]);
    let ctx = Context::new().body(body.as_bytes()).dns_rcode("NOERROR");
    for text in ["[BODY] == 93.184.216.34", "[DNS_RCODE] == NOERROR"] {
        assert!(
            Condition::parse(text).unwrap().evaluate(&ctx).success,
            "{text}"
        );
    }
}

#[test]
fn gatus_grpc_body_is_the_serving_status_as_json() {
    assert_eq!(gatus_grpc_body("SERVING"), r#"{"status":"SERVING"}"#);
    let body = gatus_grpc_body("NOT_SERVING");
    let ctx = Context::new().body(body.as_bytes());
    let c = Condition::parse("[BODY].status == SERVING").unwrap();
    let result = c.evaluate(&ctx);
    assert!(!result.success);
    assert_eq!(result.resolved, "[BODY].status (NOT_SERVING) == SERVING");
    assert_eq!(gatus_grpc_body("a\"b"), r#"{"status":"a\"b"}"#);
}
