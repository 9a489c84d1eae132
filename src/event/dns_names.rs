//! The names of DNS record types, classes and rcodes as blackbox_exporter's configuration and
//! Go's miekg/dns spell them: read from a configuration (DNS checks' `dns:`), printed in
//! records and messages by the DNS prober.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};

/// miekg/dns's `TypeToString`: every record type it names, by number.
const TYPES: &[(u16, &str)] = &[
    (0, "None"),
    (1, "A"),
    (2, "NS"),
    (3, "MD"),
    (4, "MF"),
    (5, "CNAME"),
    (6, "SOA"),
    (7, "MB"),
    (8, "MG"),
    (9, "MR"),
    (10, "NULL"),
    (12, "PTR"),
    (13, "HINFO"),
    (14, "MINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (19, "X25"),
    (20, "ISDN"),
    (21, "RT"),
    (23, "NSAP-PTR"),
    (24, "SIG"),
    (25, "KEY"),
    (26, "PX"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (30, "NXT"),
    (31, "EID"),
    (32, "NIMLOC"),
    (33, "SRV"),
    (34, "ATMA"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (39, "DNAME"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (56, "NINFO"),
    (57, "RKEY"),
    (58, "TALINK"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (99, "SPF"),
    (100, "UINFO"),
    (101, "UID"),
    (102, "GID"),
    (103, "UNSPEC"),
    (104, "NID"),
    (105, "L32"),
    (106, "L64"),
    (107, "LP"),
    (108, "EUI48"),
    (109, "EUI64"),
    (128, "NXNAME"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (253, "MAILB"),
    (254, "MAILA"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
    (258, "AVC"),
    (260, "AMTRELAY"),
    (261, "RESINFO"),
    (32768, "TA"),
    (32769, "DLV"),
    (65535, "Reserved"),
];

/// miekg/dns's `ClassToString`.
const CLASSES: &[(u16, &str)] = &[
    (1, "IN"),
    (2, "CS"),
    (3, "CH"),
    (4, "HS"),
    (254, "NONE"),
    (255, "ANY"),
];

/// miekg/dns's `RcodeToString` (16 is BADSIG, also known as BADVERS): the names blackbox's
/// `valid_rcodes` and Gatus's `[DNS_RCODE]` use.
pub const RCODES: [(u16, &str); 20] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (7, "YXRRSET"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (10, "NOTZONE"),
    (11, "DSOTYPENI"),
    (16, "BADSIG"),
    (17, "BADKEY"),
    (18, "BADTIME"),
    (19, "BADMODE"),
    (20, "BADNAME"),
    (21, "BADALG"),
    (22, "BADTRUNC"),
    (23, "BADCOOKIE"),
];

fn by_name(table: &[(u16, &str)], s: &str) -> Option<u16> {
    let s = s.trim();
    table
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(s))
        .map(|(n, _)| *n)
}

fn by_number(table: &[(u16, &'static str)], n: u16) -> Option<&'static str> {
    table.iter().find(|(v, _)| *v == n).map(|(_, name)| *name)
}

/// A `query_type` by name, any case (`a`, `MX`, `ANY`), as miekg/dns names types.
pub fn parse_query_type(s: &str) -> Result<RecordType, String> {
    match by_name(TYPES, s) {
        // Names that are no query (OPT is EDNS's pseudo-record, None is type 0).
        Some(0 | 41) | None => Err("a DNS record type such as A, AAAA, MX, TXT or ANY".into()),
        Some(n) => Ok(RecordType::from(n)),
    }
}

/// A `query_class` by name, any case: `IN`, `CH`, `HS`, `NONE`, `ANY` (and `CS`).
pub fn parse_query_class(s: &str) -> Result<DNSClass, String> {
    by_name(CLASSES, s)
        .map(DNSClass::from)
        .ok_or_else(|| "a DNS class: IN, CH, HS, NONE or ANY".into())
}

/// An rcode of `valid_rcodes` by name, any case (`NOERROR`, `NXDOMAIN`, …; `NOTIMPL` too, as
/// blackbox_exporter accepts it).
pub fn parse_rcode(s: &str) -> Result<ResponseCode, String> {
    let n = if s.trim().eq_ignore_ascii_case("NOTIMPL") {
        Some(4)
    } else {
        by_name(&RCODES, s)
    };
    n.map(<ResponseCode as From<u16>>::from)
        .ok_or_else(|| "an rcode such as NOERROR, NXDOMAIN, SERVFAIL or REFUSED".into())
}

/// The type's name as miekg/dns prints it; `TYPE<n>` for the ones it does not name.
pub fn type_name(t: u16) -> String {
    by_number(TYPES, t).map_or_else(|| format!("TYPE{t}"), str::to_owned)
}

/// Whether miekg/dns knows the type (else it prints the record in RFC 3597's generic form).
pub fn is_named_type(t: u16) -> bool {
    by_number(TYPES, t).is_some()
}

/// The class's name as miekg/dns prints it: `CLASS<n>` for unnamed classes, and for `ANY`,
/// which is a type's name too.
pub fn class_name(c: u16) -> String {
    match by_number(CLASSES, c) {
        // Compared as miekg/dns does, case and all: `NONE` is no type (`None` is).
        Some(name) if !TYPES.iter().any(|(_, t)| *t == name) => name.to_owned(),
        _ => format!("CLASS{c}"),
    }
}

/// The rcode's name (`NOERROR`, `NXDOMAIN`); `RCODE<n>` for unassigned ones.
pub fn rcode_name(rcode: ResponseCode) -> String {
    let n = u16::from(rcode);
    by_number(&RCODES, n).map_or_else(|| format!("RCODE{n}"), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_types_are_read_in_any_case() {
        assert_eq!(parse_query_type("A"), Ok(RecordType::A));
        assert_eq!(parse_query_type("aaaa"), Ok(RecordType::AAAA));
        assert_eq!(parse_query_type(" Mx "), Ok(RecordType::MX));
        assert_eq!(parse_query_type("any"), Ok(RecordType::ANY));
        assert_eq!(parse_query_type("SOA"), Ok(RecordType::SOA));
        assert_eq!(parse_query_type("caa"), Ok(RecordType::CAA));
        // Types hickory does not name are still asked by number.
        assert_eq!(parse_query_type("LOC"), Ok(RecordType::from(29)));
        assert_eq!(u16::from(parse_query_type("SPF").unwrap()), 99);
    }

    #[test]
    fn unknown_query_types_are_refused_with_what_is_expected() {
        for bad in ["", "AA", "TYPE1", "OPT", "None", "A,AAAA"] {
            assert_eq!(
                parse_query_type(bad),
                Err("a DNS record type such as A, AAAA, MX, TXT or ANY".into()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn classes_are_read_as_blackbox_names_them() {
        assert_eq!(parse_query_class("IN"), Ok(DNSClass::IN));
        assert_eq!(parse_query_class("ch"), Ok(DNSClass::CH));
        assert_eq!(parse_query_class("HS"), Ok(DNSClass::HS));
        assert_eq!(parse_query_class("NONE"), Ok(DNSClass::NONE));
        assert_eq!(parse_query_class("any"), Ok(DNSClass::ANY));
        assert_eq!(
            parse_query_class("INET"),
            Err("a DNS class: IN, CH, HS, NONE or ANY".into())
        );
    }

    #[test]
    fn rcodes_are_read_as_blackbox_names_them() {
        assert_eq!(parse_rcode("NOERROR"), Ok(ResponseCode::NoError));
        assert_eq!(parse_rcode("nxdomain"), Ok(ResponseCode::NXDomain));
        assert_eq!(parse_rcode("SERVFAIL"), Ok(ResponseCode::ServFail));
        assert_eq!(parse_rcode("REFUSED"), Ok(ResponseCode::Refused));
        assert_eq!(parse_rcode("FORMERR"), Ok(ResponseCode::FormErr));
        assert_eq!(parse_rcode("NOTIMP"), Ok(ResponseCode::NotImp));
        assert_eq!(parse_rcode("NOTIMPL"), Ok(ResponseCode::NotImp));
        assert_eq!(parse_rcode("YXDOMAIN"), Ok(ResponseCode::YXDomain));
        assert_eq!(parse_rcode("BADCOOKIE"), Ok(ResponseCode::BADCOOKIE));
        assert_eq!(
            parse_rcode("NO_ERROR"),
            Err("an rcode such as NOERROR, NXDOMAIN, SERVFAIL or REFUSED".into())
        );
    }

    #[test]
    fn names_are_printed_as_miekg_prints_them() {
        assert_eq!(type_name(1), "A");
        assert_eq!(type_name(23), "NSAP-PTR");
        assert_eq!(type_name(65280), "TYPE65280");
        assert_eq!(class_name(1), "IN");
        assert_eq!(class_name(3), "CH");
        assert_eq!(class_name(254), "NONE");
        // ANY is a type's name too: miekg prints the class by number.
        assert_eq!(class_name(255), "CLASS255");
        assert_eq!(class_name(42), "CLASS42");
        assert_eq!(rcode_name(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_name(ResponseCode::Unknown(13)), "RCODE13");
        for (n, name) in &RCODES {
            assert_eq!(parse_rcode(name).map(u16::from), Ok(*n));
            assert_eq!(rcode_name(<ResponseCode as From<u16>>::from(*n)), *name);
        }
    }
}
