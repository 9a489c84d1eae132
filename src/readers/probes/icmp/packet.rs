//! ICMP echo messages: the requests we send and the replies we accept, built and read without
//! trusting a byte of what comes in (short, long or garbled packets are `None`, never a panic).

/// ICMPv4 echo request and reply types (RFC 792).
const ECHO_REQUEST_V4: u8 = 8;
pub(super) const ECHO_REPLY_V4: u8 = 0;
/// ICMPv6 echo request and reply types (RFC 4443).
const ECHO_REQUEST_V6: u8 = 128;
pub(super) const ECHO_REPLY_V6: u8 = 129;

/// Type, code, checksum, identifier, sequence number.
pub(super) const HEADER_LEN: usize = 8;

/// What fills a payload after its cookie, over and over.
const FILLER: &[u8] = b"uptimer ";

/// An echo request: `ident` and `seq` in network order, `data` as given.
///
/// The checksum is computed for ICMPv4 (the kernel fills it for ICMPv6, whose checksum covers
/// addresses it chooses, and for datagram sockets of both families).
pub(super) fn echo_request(v6: bool, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(HEADER_LEN + data.len());
    p.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(data);
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The payload of every request of one probe: `len` bytes starting with the probe's random
/// cookie (as much of it as fits), then `uptimer ` repeated. A reply must carry it back whole.
pub(super) fn payload(cookie: u64, len: usize) -> Vec<u8> {
    let cookie = cookie.to_be_bytes();
    let mut p: Vec<u8> = cookie.iter().copied().take(len).collect();
    p.extend(FILLER.iter().copied().cycle().take(len - p.len()));
    p
}

/// An echo reply as read: what must match the request it answers.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct EchoReply<'a> {
    pub ident: u16,
    pub seq: u16,
    pub data: &'a [u8],
}

/// `message` (an ICMP message, no IP header) read as an echo reply; `None` for anything else:
/// another type or code, too short, or (ICMPv4) a wrong checksum. The kernel checks ICMPv6
/// checksums itself before any socket sees the message.
pub(super) fn echo_reply(v6: bool, message: &[u8]) -> Option<EchoReply<'_>> {
    let header = message.get(..HEADER_LEN)?;
    let reply = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if header[0] != reply || header[1] != 0 || (!v6 && checksum(message) != 0) {
        return None;
    }
    Some(EchoReply {
        ident: u16::from_be_bytes([header[4], header[5]]),
        seq: u16::from_be_bytes([header[6], header[7]]),
        data: &message[HEADER_LEN..],
    })
}

/// What a raw IPv4 socket reads (the IP header, then the ICMP message): the message and the
/// header's TTL; `None` when the header is not a whole IPv4 header of an ICMP packet.
pub(super) fn strip_ipv4_header(packet: &[u8]) -> Option<(&[u8], u8)> {
    let first = *packet.first()?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || packet.len() < header_len || packet[9] != 1 {
        return None;
    }
    Some((&packet[header_len..], packet[8]))
}

/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of the
/// 16-bit words, an odd last byte padded with zero. Over a message with its checksum in place
/// it is 0 when the message is intact.
pub(super) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    // At most 32 768 words of 16 bits in a 64 KiB message: two folds absorb every carry.
    sum = (sum >> 16) + (sum & 0xffff);
    sum = (sum >> 16) + (sum & 0xffff);
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc_1071_example_and_verifies_to_zero() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum 220d).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), 0x220d);
        let req = echo_request(false, 0x1234, 7, b"odd");
        assert_eq!(checksum(&req), 0, "{req:02x?}");
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn a_request_has_type_code_ident_sequence_and_data() {
        let req = echo_request(false, 0xabcd, 0x0102, b"hi");
        assert_eq!(&req[..2], &[8, 0]);
        assert_eq!(&req[4..], &[0xab, 0xcd, 0x01, 0x02, b'h', b'i']);
        let req = echo_request(true, 1, 2, b"");
        assert_eq!(req, [128, 0, 0, 0, 0, 1, 0, 2]);
    }

    #[test]
    fn payload_has_the_requested_size_and_starts_with_the_cookie() {
        let cookie = 0x0102_0304_0506_0708;
        assert_eq!(payload(cookie, 0), b"");
        assert_eq!(payload(cookie, 3), [1, 2, 3]);
        assert_eq!(
            payload(cookie, 12),
            [1, 2, 3, 4, 5, 6, 7, 8, b'u', b'p', b't', b'i']
        );
        let big = payload(cookie, 1400);
        assert_eq!(big.len(), 1400);
        assert!(big[8..].starts_with(b"uptimer uptimer "));
        assert_ne!(payload(1, 56), payload(2, 56));
    }

    #[test]
    fn a_reply_is_read_back_with_its_ident_sequence_and_data() {
        let mut reply = echo_request(false, 9, 10, b"data");
        reply[0] = 0;
        reply[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&reply);
        reply[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            echo_reply(false, &reply),
            Some(EchoReply {
                ident: 9,
                seq: 10,
                data: b"data"
            })
        );
        let mut v6 = echo_request(true, 3, 4, b"");
        v6[0] = 129;
        assert_eq!(echo_reply(true, &v6).map(|r| r.seq), Some(4));
    }

    #[test]
    fn requests_short_garbled_and_foreign_messages_are_not_replies() {
        // Our own request (raw sockets see it on loopback).
        assert_eq!(echo_reply(false, &echo_request(false, 1, 1, b"x")), None);
        assert_eq!(echo_reply(true, &echo_request(true, 1, 1, b"x")), None);
        // Too short, empty.
        for len in 0..HEADER_LEN {
            assert_eq!(echo_reply(false, &[0; 8][..len]), None);
            assert_eq!(echo_reply(true, &[129; 8][..len]), None);
        }
        // A wrong checksum (ICMPv4), a non-zero code, a destination unreachable.
        let mut bad = echo_request(false, 1, 1, b"x");
        bad[0] = 0;
        assert_eq!(echo_reply(false, &bad), None);
        assert_eq!(echo_reply(true, &[129, 1, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(echo_reply(false, &[3, 1, 0xfc, 0xfe, 0, 0, 0, 0]), None);
        // Every short garbage packet: never a panic.
        for b in 0..=255u8 {
            for len in 0..24 {
                let p = vec![b; len];
                let _ = echo_reply(false, &p);
                let _ = echo_reply(true, &p);
                let _ = strip_ipv4_header(&p);
            }
        }
    }

    #[test]
    fn an_ipv4_header_is_stripped_only_when_whole() {
        let mut packet = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 57, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        packet.extend_from_slice(&[0, 0, 0xff, 0xff, 0, 0, 0, 0]);
        let (msg, ttl) = strip_ipv4_header(&packet).unwrap();
        assert_eq!((msg.len(), ttl), (8, 57));
        // Options (IHL 6) longer than the packet, an IHL under 5, IPv6, another protocol.
        assert_eq!(strip_ipv4_header(&[0x46; 22]), None);
        packet[0] = 0x44;
        assert_eq!(strip_ipv4_header(&packet), None);
        packet[0] = 0x65;
        assert_eq!(strip_ipv4_header(&packet), None);
        packet[0] = 0x45;
        packet[9] = 17;
        assert_eq!(strip_ipv4_header(&packet), None);
        assert_eq!(strip_ipv4_header(&[0x4f; 60]).map(|(m, _)| m.len()), None);
    }
}
