//! Records in the zone-file presentation that Go's miekg/dns prints (`rr.String()`), which is
//! what blackbox_exporter matches its regexes against: `name<TAB>ttl<TAB>class<TAB>type<TAB>data`.
//!
//! A, AAAA, CNAME, NS, PTR, MX, SOA, TXT, SRV and CAA are printed byte for byte as miekg/dns
//! does (names with `\DDD` and `\.` escapes, TXT strings quoted). Types hickory does not decode
//! are printed in RFC 3597's generic form (`\# 4 c0000201`), as miekg/dns prints the types it
//! does not know; other decoded types in hickory's presentation, which is close but not always
//! identical.

use std::fmt::Write as _;

use hickory_proto::rr::{Name, RData, Record};

use crate::event::DnsRecord;
use crate::event::dns_names::{class_name, is_named_type, type_name};

/// One name as miekg/dns prints it: fully qualified, `.` for the root, each label's special
/// characters escaped with a backslash and unprintable bytes as `\DDD`.
pub fn name_text(name: &Name) -> String {
    if name.num_labels() == 0 {
        return ".".into();
    }
    let mut s = String::new();
    for label in name.iter() {
        for &b in label {
            match b {
                b'.' | b' ' | b'\'' | b'@' | b';' | b'(' | b')' | b'"' | b'\\' => {
                    s.push('\\');
                    s.push(char::from(b));
                }
                b' '..=b'~' => s.push(char::from(b)),
                _ => push_ddd(&mut s, b),
            }
        }
        s.push('.');
    }
    s
}

fn push_ddd(s: &mut String, b: u8) {
    let _ = write!(s, "\\{b:03}");
}

/// One character-string's byte as miekg/dns prints it inside double quotes.
fn push_txt_byte(s: &mut String, b: u8) {
    match b {
        b'"' | b'\\' => {
            s.push('\\');
            s.push(char::from(b));
        }
        b' '..=b'~' => s.push(char::from(b)),
        _ => push_ddd(s, b),
    }
}

/// TXT strings as miekg/dns prints them: each in double quotes, separated by spaces.
pub fn txt_text(strings: &[Box<[u8]>]) -> String {
    let mut s = String::new();
    for (i, string) in strings.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push('"');
        for &b in string.iter() {
            push_txt_byte(&mut s, b);
        }
        s.push('"');
    }
    s
}

/// A CAA value as miekg/dns prints it (`sprintTxtOctet`): the raw bytes read as presentation
/// text, so a `\` in the value escapes what follows, then quoted.
fn caa_value_text(value: &[u8]) -> String {
    let mut s = String::from("\"");
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'\\' && value.get(i + 1) == Some(&b'.') {
            s.push_str("\\.");
            i += 2;
            continue;
        }
        match next_byte(value, i) {
            Some((b, n)) => {
                push_txt_byte(&mut s, b);
                i += n;
            }
            // A dangling backslash: dropped.
            None => i += 1,
        }
    }
    s.push('"');
    s
}

/// miekg/dns's `nextByte`: the byte at `i` with `\DDD` and `\X` escapes undone, and how many
/// bytes it took; `None` for a backslash at the very end.
fn next_byte(s: &[u8], i: usize) -> Option<(u8, usize)> {
    if s[i] != b'\\' {
        return Some((s[i], 1));
    }
    let rest = &s[i + 1..];
    match rest.len() {
        0 => None,
        1 | 2 => Some((rest[0], 2)),
        _ => {
            let ddd = &rest[..3];
            if ddd.iter().all(u8::is_ascii_digit) {
                // miekg/dns wraps values over 255 into a byte, as this does.
                let v = ddd.iter().fold(0u16, |v, d| v * 10 + u16::from(d - b'0'));
                Some((v as u8, 4))
            } else {
                Some((rest[0], 2))
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The record data in miekg/dns's presentation (see the module's note on other types).
fn data_text(data: &RData) -> String {
    match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(aaaa) => match aaaa.0.to_ipv4_mapped() {
            // Go prints an IPv4-mapped address as IPv4; miekg/dns puts the prefix back.
            Some(v4) => format!("::ffff:{v4}"),
            None => aaaa.0.to_string(),
        },
        RData::CNAME(n) => name_text(&n.0),
        RData::NS(n) => name_text(&n.0),
        RData::PTR(n) => name_text(&n.0),
        RData::MX(mx) => format!("{} {}", mx.preference, name_text(&mx.exchange)),
        RData::SOA(soa) => format!(
            "{} {} {} {} {} {} {}",
            name_text(&soa.mname),
            name_text(&soa.rname),
            soa.serial,
            soa.refresh as u32,
            soa.retry as u32,
            soa.expire as u32,
            soa.minimum
        ),
        RData::TXT(txt) => txt_text(&txt.txt_data),
        RData::SRV(srv) => format!(
            "{} {} {} {}",
            srv.priority,
            srv.weight,
            srv.port,
            name_text(&srv.target)
        ),
        RData::CAA(caa) => format!("{} {} {}", caa.flags(), caa.tag, caa_value_text(&caa.value)),
        RData::Unknown { rdata, .. } | RData::NULL(rdata) => generic_text(&rdata.anything),
        // A record with no data (RDLENGTH 0): miekg/dns prints its header alone.
        RData::Update0(_) => String::new(),
        other => other.to_string(),
    }
}

/// RFC 3597's generic form: `\# <length> <hex>`.
fn generic_text(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "\\# 0".into()
    } else {
        format!("\\# {} {}", bytes.len(), hex(bytes))
    }
}

/// The record as [`DnsRecord`], its fields printed as miekg/dns prints them.
pub fn record(r: &Record) -> DnsRecord {
    let rtype = u16::from(r.record_type());
    let class = u16::from(r.dns_class);
    let (class, rtype) = if is_named_type(rtype) {
        (class_name(class), type_name(rtype))
    } else {
        // miekg/dns's RFC3597 records print their class and type by number.
        (format!("CLASS{class}"), format!("TYPE{rtype}"))
    };
    DnsRecord {
        name: name_text(&r.name),
        ttl: r.ttl,
        class,
        rtype,
        data: data_text(&r.data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::caa::KeyValue;
    use hickory_proto::rr::rdata::{A, AAAA, CAA, CNAME, MX, NS, NULL, PTR, SOA, SRV, TXT};
    use hickory_proto::rr::{DNSClass, RecordType};
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn text(name: &str, data: RData) -> String {
        record(&Record::from_rdata(n(name), 300, data)).text()
    }

    #[test]
    fn address_records_print_as_miekg() {
        assert_eq!(
            text("example.org.", RData::A(A::new(192, 0, 2, 1))),
            "example.org.\t300\tIN\tA\t192.0.2.1"
        );
        assert_eq!(
            text(
                "example.org.",
                RData::AAAA(AAAA::from_str("2001:db8::1").unwrap())
            ),
            "example.org.\t300\tIN\tAAAA\t2001:db8::1"
        );
        assert_eq!(
            text(
                "example.org.",
                RData::AAAA(AAAA::from_str("::ffff:192.0.2.1").unwrap())
            ),
            "example.org.\t300\tIN\tAAAA\t::ffff:192.0.2.1"
        );
    }

    #[test]
    fn name_records_print_as_miekg() {
        assert_eq!(
            text("www.example.org.", RData::CNAME(CNAME(n("example.org.")))),
            "www.example.org.\t300\tIN\tCNAME\texample.org."
        );
        assert_eq!(
            text("example.org.", RData::NS(NS(n("ns1.example.org.")))),
            "example.org.\t300\tIN\tNS\tns1.example.org."
        );
        assert_eq!(
            text(
                "1.2.0.192.in-addr.arpa.",
                RData::PTR(PTR(n("host.example.org.")))
            ),
            "1.2.0.192.in-addr.arpa.\t300\tIN\tPTR\thost.example.org."
        );
        assert_eq!(
            text(
                "example.org.",
                RData::MX(MX::new(10, n("mail.example.org.")))
            ),
            "example.org.\t300\tIN\tMX\t10 mail.example.org."
        );
        assert_eq!(
            text(
                "_sip._tcp.example.org.",
                RData::SRV(SRV::new(10, 60, 5060, n("sip.example.org.")))
            ),
            "_sip._tcp.example.org.\t300\tIN\tSRV\t10 60 5060 sip.example.org."
        );
    }

    #[test]
    fn soa_prints_its_timers_unsigned_as_miekg() {
        let soa = SOA::new(
            n("ns1.example.org."),
            n("hostmaster.example.org."),
            2026120101,
            7200,
            3600,
            -1, // 4294967295 on the wire
            300,
        );
        assert_eq!(
            text("example.org.", RData::SOA(soa)),
            "example.org.\t300\tIN\tSOA\tns1.example.org. hostmaster.example.org. 2026120101 7200 3600 4294967295 300"
        );
    }

    #[test]
    fn txt_strings_are_quoted_and_escaped_as_miekg() {
        let txt = TXT::from_bytes(vec![
            b"v=spf1 -all".as_slice(),
            b"say \"hi\" \\ bye".as_slice(),
            b"tab\there\xff".as_slice(),
            b"".as_slice(),
        ]);
        assert_eq!(
            text("example.org.", RData::TXT(txt)),
            "example.org.\t300\tIN\tTXT\t\"v=spf1 -all\" \"say \\\"hi\\\" \\\\ bye\" \"tab\\009here\\255\" \"\""
        );
    }

    #[test]
    fn caa_prints_flags_tag_and_quoted_value_as_miekg() {
        let caa = CAA::new_issue(
            true,
            Some(n("letsencrypt.org")),
            vec![KeyValue::new("account", "1234")],
        );
        assert_eq!(
            text("example.org.", RData::CAA(caa)),
            "example.org.\t300\tIN\tCAA\t128 issue \"letsencrypt.org; account=1234\""
        );
        assert_eq!(caa_value_text(b"a\"b"), "\"a\\\"b\"");
        // The raw value is read as presentation text: `\.` stays, `\065` is an A, a
        // dangling backslash goes.
        assert_eq!(caa_value_text(b"x\\.y\\065z\\"), "\"x\\.yAz\"");
    }

    #[test]
    fn names_escape_special_and_unprintable_bytes_as_miekg() {
        let name = Name::from_labels(vec![
            b"a.b".to_vec(),
            b"s p@c;e".to_vec(),
            b"\x00\x7f".to_vec(),
            b"org".to_vec(),
        ])
        .unwrap();
        assert_eq!(name_text(&name), "a\\.b.s\\ p\\@c\\;e.\\000\\127.org.");
        assert_eq!(name_text(&Name::root()), ".");
        // Case is kept as the server sent it.
        assert_eq!(name_text(&n("WwW.Example.ORG.")), "WwW.Example.ORG.");
    }

    #[test]
    fn classes_and_unknown_types_print_as_miekg() {
        let mut r = Record::from_rdata(n("example.org."), 0, RData::A(A::new(10, 0, 0, 1)));
        r.dns_class = DNSClass::CH;
        assert_eq!(record(&r).text(), "example.org.\t0\tCH\tA\t10.0.0.1");
        r.dns_class = DNSClass::ANY;
        assert_eq!(record(&r).text(), "example.org.\t0\tCLASS255\tA\t10.0.0.1");

        let unknown = RData::Unknown {
            code: RecordType::Unknown(65280),
            rdata: NULL::with(vec![0xc0, 0x00, 0x02, 0x01]),
        };
        assert_eq!(
            text("example.org.", unknown),
            "example.org.\t300\tCLASS1\tTYPE65280\t\\# 4 c0000201"
        );
    }
}
