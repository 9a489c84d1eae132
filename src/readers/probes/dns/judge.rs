//! Whether a DNS response passes its check, judged as blackbox_exporter's dns prober does:
//! the rcode first, then the answer, authority and additional records against their rules.

use hickory_proto::op::ResponseCode;
use crate::regexes::SharedRegex;

use super::RrRules;
use crate::event::dns_names::rcode_name;
use crate::event::{DnsRecord, ErrorKind};
use crate::readers::probes::Failure;

/// `rcode NXDOMAIN is not one of NOERROR` unless `rcode` is among `valid` (empty: NOERROR).
pub fn rcode(rcode: ResponseCode, valid: &[ResponseCode]) -> Result<(), Failure> {
    let default = [ResponseCode::NoError];
    let valid = if valid.is_empty() {
        &default[..]
    } else {
        valid
    };
    // Compared by number: BADSIG and BADVERS are both 16.
    if valid.iter().any(|v| u16::from(*v) == u16::from(rcode)) {
        return Ok(());
    }
    let names: Vec<String> = valid.iter().map(|v| rcode_name(*v)).collect();
    Err(Failure::new(
        ErrorKind::DnsRcode,
        format!(
            "rcode {} is not one of {}",
            rcode_name(rcode),
            names.join(", ")
        ),
    ))
}

/// The record as it is quoted in a message: its text with the tabs shown as spaces.
fn quoted(r: &DnsRecord) -> String {
    format!("\"{}\"", r.text().replace('\t', " "))
}

fn regex_list(res: &[SharedRegex]) -> String {
    let quoted: Vec<String> = res
        .iter()
        .map(|re| format!("\"{}\"", re.as_str()))
        .collect();
    quoted.join(", ")
}

fn mismatch(message: String) -> Failure {
    Failure::new(ErrorKind::ExpectMismatch, message)
}

/// The records of one section (`answer`, `authority`, `additional`) against its rules, as
/// blackbox_exporter's `validRRs`: record by record, `fail_if_matches_regexp` and
/// `fail_if_not_matches_regexp` fail at the first offending record;
/// `fail_if_all_match_regexp` fails unless every record matches each of its regexes (its
/// actual behaviour, whatever the name suggests); `fail_if_none_matches_regexp` fails unless
/// some record matches some regex. No records at all fail `fail_if_not_matches_regexp` and
/// `fail_if_none_matches_regexp`, and pass the others.
pub fn section(section: &str, records: &[DnsRecord], rules: &RrRules) -> Result<(), Failure> {
    if records.is_empty() {
        for (name, res) in [
            (
                "fail_if_not_matches_regexp",
                &rules.fail_if_not_matches_regexp,
            ),
            (
                "fail_if_none_matches_regexp",
                &rules.fail_if_none_matches_regexp,
            ),
        ] {
            if !res.is_empty() {
                return Err(mismatch(format!(
                    "no {section} records, but {name} {} needs one",
                    regex_list(res)
                )));
            }
        }
        return Ok(());
    }
    let mut not_all: Option<(&DnsRecord, &SharedRegex)> = None;
    let mut any_match = false;
    for r in records {
        let text = r.text();
        if let Some(re) = rules
            .fail_if_matches_regexp
            .iter()
            .find(|re| re.is_match(&text))
        {
            return Err(mismatch(format!(
                "{section} record {} matches fail_if_matches_regexp \"{}\"",
                quoted(r),
                re.as_str()
            )));
        }
        if not_all.is_none()
            && let Some(re) = rules
                .fail_if_all_match_regexp
                .iter()
                .find(|re| !re.is_match(&text))
        {
            not_all = Some((r, re));
        }
        if let Some(re) = rules
            .fail_if_not_matches_regexp
            .iter()
            .find(|re| !re.is_match(&text))
        {
            return Err(mismatch(format!(
                "{section} record {} does not match fail_if_not_matches_regexp \"{}\"",
                quoted(r),
                re.as_str()
            )));
        }
        any_match = any_match
            || rules
                .fail_if_none_matches_regexp
                .iter()
                .any(|re| re.is_match(&text));
    }
    if let Some((r, re)) = not_all {
        return Err(mismatch(format!(
            "{section} record {} does not match fail_if_all_match_regexp \"{}\"",
            quoted(r),
            re.as_str()
        )));
    }
    if !rules.fail_if_none_matches_regexp.is_empty() && !any_match {
        return Err(mismatch(format!(
            "no {section} record matches fail_if_none_matches_regexp {}",
            regex_list(&rules.fail_if_none_matches_regexp)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(data: &str) -> DnsRecord {
        DnsRecord {
            name: "example.org.".into(),
            ttl: 60,
            class: "IN".into(),
            rtype: "A".into(),
            data: data.into(),
        }
    }

    fn res(list: &[&str]) -> Vec<SharedRegex> {
        list.iter().map(|s| crate::regexes::shared(s).unwrap()).collect()
    }

    fn two() -> Vec<DnsRecord> {
        vec![rec("192.0.2.1"), rec("192.0.2.2")]
    }

    #[test]
    fn rcode_outside_the_valid_list_names_both() {
        assert!(rcode(ResponseCode::NoError, &[]).is_ok());
        let e = rcode(ResponseCode::NXDomain, &[]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DnsRcode);
        assert_eq!(e.message, "rcode NXDOMAIN is not one of NOERROR");
        let valid = [ResponseCode::NoError, ResponseCode::NXDomain];
        assert!(rcode(ResponseCode::NXDomain, &valid).is_ok());
        let e = rcode(ResponseCode::ServFail, &valid).unwrap_err();
        assert_eq!(e.message, "rcode SERVFAIL is not one of NOERROR, NXDOMAIN");
        assert!(rcode(ResponseCode::BADVERS, &[ResponseCode::BADSIG]).is_ok());
    }

    #[test]
    fn fail_if_matches_names_the_record_and_regex() {
        let rules = RrRules {
            fail_if_matches_regexp: res(&[r"192\.0\.2\.2$"]),
            ..RrRules::default()
        };
        let e = section("answer", &two(), &rules).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ExpectMismatch);
        assert_eq!(
            e.message,
            r#"answer record "example.org. 60 IN A 192.0.2.2" matches fail_if_matches_regexp "192\.0\.2\.2$""#
        );
        let rules = RrRules {
            fail_if_matches_regexp: res(&["10\\."]),
            ..RrRules::default()
        };
        assert!(section("answer", &two(), &rules).is_ok());
    }

    #[test]
    fn fail_if_not_matches_fails_at_the_first_record_not_matching() {
        let rules = RrRules {
            fail_if_not_matches_regexp: res(&["\tA\t192\\.0\\.2\\.1$"]),
            ..RrRules::default()
        };
        let e = section("authority", &two(), &rules).unwrap_err();
        assert_eq!(
            e.message,
            "authority record \"example.org. 60 IN A 192.0.2.2\" does not match fail_if_not_matches_regexp \"\tA\t192\\.0\\.2\\.1$\""
        );
        let rules = RrRules {
            fail_if_not_matches_regexp: res(&["^example\\.org\\.\t60\tIN\tA\t"]),
            ..RrRules::default()
        };
        assert!(section("authority", &two(), &rules).is_ok());
    }

    #[test]
    fn fail_if_all_match_fails_unless_every_record_matches() {
        // blackbox_exporter's actual behaviour: the probe fails when some record does NOT
        // match, and passes when all do.
        let rules = RrRules {
            fail_if_all_match_regexp: res(&["192\\.0\\.2\\.1"]),
            ..RrRules::default()
        };
        let e = section("answer", &two(), &rules).unwrap_err();
        assert_eq!(
            e.message,
            "answer record \"example.org. 60 IN A 192.0.2.2\" does not match fail_if_all_match_regexp \"192\\.0\\.2\\.1\""
        );
        let rules = RrRules {
            fail_if_all_match_regexp: res(&["192\\.0\\.2\\."]),
            ..RrRules::default()
        };
        assert!(section("answer", &two(), &rules).is_ok());
        assert!(section("answer", &[], &rules).is_ok());
    }

    #[test]
    fn fail_if_none_matches_fails_unless_some_record_matches_some_regex() {
        let rules = RrRules {
            fail_if_none_matches_regexp: res(&["10\\.0\\.0\\.1", "192\\.0\\.2\\.2"]),
            ..RrRules::default()
        };
        assert!(section("additional", &two(), &rules).is_ok());
        let rules = RrRules {
            fail_if_none_matches_regexp: res(&["10\\.0\\.0\\.1", "AAAA"]),
            ..RrRules::default()
        };
        let e = section("additional", &two(), &rules).unwrap_err();
        assert_eq!(
            e.message,
            r#"no additional record matches fail_if_none_matches_regexp "10\.0\.0\.1", "AAAA""#
        );
    }

    #[test]
    fn an_empty_section_fails_only_the_rules_that_need_a_record() {
        let needs = RrRules {
            fail_if_none_matches_regexp: res(&["x"]),
            ..RrRules::default()
        };
        let e = section("answer", &[], &needs).unwrap_err();
        assert_eq!(
            e.message,
            r#"no answer records, but fail_if_none_matches_regexp "x" needs one"#
        );
        let needs = RrRules {
            fail_if_not_matches_regexp: res(&["x"]),
            ..RrRules::default()
        };
        assert!(section("answer", &[], &needs).is_err());
        let fine = RrRules {
            fail_if_matches_regexp: res(&["x"]),
            fail_if_all_match_regexp: res(&["x"]),
            ..RrRules::default()
        };
        assert!(section("answer", &[], &fine).is_ok());
        assert!(section("answer", &two(), &RrRules::default()).is_ok());
    }
}
