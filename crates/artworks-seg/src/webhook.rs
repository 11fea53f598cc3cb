//! Webhooks: the URL checks made before a request is sent, and the payload Tengr POSTs.
//!
//! When a segmentation or background removal is created with a `webhook`, Tengr POSTs the final
//! [`Artwork`](types::Artwork) to it once processing ends. [`parse`] reads that body.
//!
//! **Authenticity.** Tengr gives each account a webhook secret (64 hex characters), but publishes
//! neither a signature header nor an algorithm, so a delivery cannot be verified from its bytes.
//! Treat a delivery as a hint: read the artwork back with [`Client::artwork`](crate::Client::artwork)
//! (authenticated, from the API itself) before trusting its status or result URLs.
//!
//! **Where webhooks may point.** Tengr only calls HTTPS URLs of publicly routable hosts.
//! [`check_url`] refuses locally, with no request sent, what the server would refuse:
//!
//! - any scheme but `https://`;
//! - IP literals in IANA's special-purpose blocks: loopback (127.0.0.0/8, `::1`), private
//!   (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), link-local (169.254.0.0/16, including the
//!   169.254.169.254 metadata address; `fe80::/10`), shared CGNAT (100.64.0.0/10), IETF
//!   protocol assignments (192.0.0.0/24), benchmarking (198.18.0.0/15, `2001:2::/48`),
//!   documentation (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, `2001:db8::/32`,
//!   `3fff::/20`), unspecified (0.0.0.0/8, `::`), broadcast, multicast, reserved
//!   (240.0.0.0/4), IPv6 unique-local (`fc00::/7`), site-local (`fec0::/10`), Teredo, discard
//!   and local-use NAT64;
//! - IPv6 addresses that carry one of those IPv4 addresses: IPv4-mapped (`::ffff:10.0.0.1`),
//!   NAT64 (`64:ff9b::7f00:1`) and 6to4 (`2002:7f00:1::`); the deprecated IPv4-compatible
//!   form (`::127.0.0.1`) always. Numeric spellings such as `2130706433` or `0x7f.1` are read as
//!   the address they are;
//! - host names `localhost`, `*.localhost`, `*.local`, `*.internal` (such as
//!   `metadata.google.internal`), single-label names such as `metadata` or `intranet`, which
//!   only resolve inside a local network, and names ending in a dot (`localhost.`,
//!   `example.com.`).
//!
//! No DNS lookup is made: a public-looking name that resolves to a private address is caught by
//! the server, not here.
//!
//! # Examples
//!
//! ```
//! use artworks_seg::{types::ArtworkStatus, webhook};
//!
//! let body = br#"{"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "status": "succeeded",
//!                 "results": ["https://cdn.example.com/a/mask.png"]}"#;
//! let artwork = webhook::parse(body)?;
//! assert_eq!(artwork.status, ArtworkStatus::Succeeded);
//!
//! webhook::check_url("https://hooks.example.com/tengr")?;
//! assert!(webhook::check_url("https://169.254.169.254/latest").is_err());
//! assert!(webhook::check_url("http://hooks.example.com/tengr").is_err());
//! # Ok::<(), artworks_seg::CutoutError>(())
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use url::{Host, Url};

use crate::{CutoutError, CutoutResult, types};

/// Parses a webhook delivery: the final artwork, as JSON.
pub fn parse(body: &[u8]) -> CutoutResult<types::Artwork> {
    serde_json::from_slice(body).map_err(|e| {
        CutoutError::unexpected(
            crate::PROVIDER.name,
            "webhook",
            format!("the webhook body is not an artwork: {e}"),
        )
        .with_body(body)
    })
}

/// Checks that `url` is an HTTPS URL of a host Tengr will call (see the [module docs](self)).
/// The error names the rule and how to fix it; no request is made, not even a DNS lookup.
pub fn check_url(url: &str) -> CutoutResult<()> {
    let invalid = |message: String| CutoutError::invalid("webhook", message);
    let parsed = Url::parse(url.trim()).map_err(|e| {
        invalid(format!(
            "`{}` is not a URL ({e}): pass the https:// URL of a public server",
            shown(url)
        ))
    })?;
    let shown = &display(&parsed);
    match parsed.scheme() {
        "https" => {}
        "http" => {
            return Err(invalid(format!(
                "`{shown}` uses plain http://, but Tengr only delivers webhooks over HTTPS: use an \
                 https:// URL"
            )));
        }
        other => {
            return Err(invalid(format!(
                "`{shown}` has scheme `{other}`, but Tengr only delivers webhooks to https:// URLs"
            )));
        }
    }
    let category = match parsed.host() {
        None => {
            return Err(invalid(format!(
                "`{shown}` has no host: pass the https:// URL of a public server"
            )));
        }
        Some(Host::Ipv4(ip)) => ipv4_category(ip).map(str::to_owned),
        Some(Host::Ipv6(ip)) => ipv6_category(ip),
        Some(Host::Domain(name)) => name_category(name),
    };
    match category {
        Some(category) => Err(invalid(format!(
            "`{shown}` points at {category}, and Tengr only calls publicly routable hosts: use a \
             public https:// endpoint (during development, a tunnelling service gives one)"
        ))),
        None => Ok(()),
    }
}

/// IPv4 blocks that are not publicly routable (IANA's special-purpose registry, RFC 6890 and
/// successors), most specific first: the first block holding an address names it.
const V4_BLOCKS: &[(Ipv4Net, &str)] = &[
    (
        v4(169, 254, 169, 254, 32),
        "the cloud metadata address (169.254.169.254)",
    ),
    (v4(0, 0, 0, 0, 8), "an unspecified address (0.0.0.0/8)"),
    (v4(10, 0, 0, 0, 8), "a private address (10.0.0.0/8)"),
    (
        v4(100, 64, 0, 0, 10),
        "a shared carrier-grade NAT address (100.64.0.0/10)",
    ),
    (v4(127, 0, 0, 0, 8), "a loopback address (127.0.0.0/8)"),
    (
        v4(169, 254, 0, 0, 16),
        "a link-local address (169.254.0.0/16)",
    ),
    (v4(172, 16, 0, 0, 12), "a private address (172.16.0.0/12)"),
    (
        v4(192, 0, 0, 0, 24),
        "an IETF protocol assignment (192.0.0.0/24)",
    ),
    (
        v4(192, 0, 2, 0, 24),
        "a documentation address (192.0.2.0/24)",
    ),
    (
        v4(192, 88, 99, 0, 24),
        "the retired 6to4 relay anycast block (192.88.99.0/24)",
    ),
    (v4(192, 168, 0, 0, 16), "a private address (192.168.0.0/16)"),
    (
        v4(198, 18, 0, 0, 15),
        "a benchmarking address (198.18.0.0/15)",
    ),
    (
        v4(198, 51, 100, 0, 24),
        "a documentation address (198.51.100.0/24)",
    ),
    (
        v4(203, 0, 113, 0, 24),
        "a documentation address (203.0.113.0/24)",
    ),
    (v4(224, 0, 0, 0, 4), "a multicast address (224.0.0.0/4)"),
    (
        v4(255, 255, 255, 255, 32),
        "the broadcast address (255.255.255.255)",
    ),
    (v4(240, 0, 0, 0, 4), "a reserved address (240.0.0.0/4)"),
];

/// IPv6 blocks that are not publicly routable, apart from those that embed an IPv4 address
/// (handled in [`ipv6_category`]).
const V6_BLOCKS: &[(Ipv6Net, &str)] = &[
    (
        v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
        "the unspecified address (::)",
    ),
    (
        v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        "the loopback address (::1)",
    ),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "a local-use NAT64 address (64:ff9b:1::/48)",
    ),
    (
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "a discard-only address (100::/64)",
    ),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),
        "a Teredo address (2001::/32)",
    ),
    (
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
        "a benchmarking address (2001:2::/48)",
    ),
    (
        v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),
        "a deprecated ORCHID address (2001:10::/28)",
    ),
    (
        v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "a segment-routing address (5f00::/16)",
    ),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "a documentation address (2001:db8::/32)",
    ),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        "a documentation address (3fff::/20)",
    ),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "a unique local address (fc00::/7)",
    ),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "a link-local address (fe80::/10)",
    ),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "a site-local address (fec0::/10)",
    ),
    (
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        "a multicast address (ff00::/8)",
    ),
];

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// What makes an IPv4 address unreachable from the internet, if anything.
fn ipv4_category(ip: Ipv4Addr) -> Option<&'static str> {
    V4_BLOCKS
        .iter()
        .find(|(block, _)| block.contains(&ip))
        .map(|(_, category)| *category)
}

/// What makes an IPv6 address unreachable from the internet, if anything. Addresses that carry
/// an IPv4 address are judged by it: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated
/// (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`); the deprecated IPv4-compatible form (`::a.b.c.d`) is refused outright.
fn ipv6_category(ip: Ipv6Addr) -> Option<String> {
    let [s0, s1, s2, s3, s4, s5, s6, s7] = ip.segments();
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some((_, category)) = V6_BLOCKS.iter().find(|(block, _)| block.contains(&ip)) {
        return Some((*category).to_owned());
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_category(v4).map(|category| format!("an IPv4-mapped form of {category}"));
    }
    if [s0, s1, s2, s3, s4, s5] == [0; 6] {
        return Some(format!(
            "a deprecated IPv4-compatible address (::/96, here {})",
            embedded(s6, s7)
        ));
    }
    if [s0, s1, s2, s3, s4, s5] == [0, 0, 0, 0, 0xffff, 0] {
        return ipv4_category(embedded(s6, s7))
            .map(|category| format!("an IPv4-translated form (::ffff:0:0/96) of {category}"));
    }
    if [s0, s1, s2, s3, s4, s5] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return ipv4_category(embedded(s6, s7))
            .map(|category| format!("a NAT64 form (64:ff9b::/96) of {category}"));
    }
    if s0 == 0x2002 {
        return ipv4_category(embedded(s1, s2))
            .map(|category| format!("a 6to4 form (2002::/16) of {category}"));
    }
    None
}

/// What makes a host name local, if anything.
fn name_category(name: &str) -> Option<String> {
    let trimmed = name.trim_end_matches('.').to_ascii_lowercase();
    let category = if trimmed == "localhost" || trimmed.ends_with(".localhost") {
        "a loopback name (localhost)"
    } else if trimmed == "metadata.google.internal" {
        "the cloud metadata host (metadata.google.internal)"
    } else if trimmed.ends_with(".internal") {
        "an internal name (*.internal)"
    } else if trimmed == "home.arpa" || trimmed.ends_with(".home.arpa") {
        "a home-network name (*.home.arpa)"
    } else if trimmed.ends_with(".local") {
        "a local-network name (*.local)"
    } else if !trimmed.contains('.') {
        "a single-label name that only resolves inside a local network"
    } else if name.ends_with('.') {
        // An absolute name is spelled without the dot everywhere else; with it, it slips past
        // suffix checks on the provider's side. Tengr's docs show none.
        "a name ending in a dot (write it without the trailing dot)"
    } else {
        return None;
    };
    Some(category.to_owned())
}

/// A URL for messages and `Debug`: without userinfo, query and fragment, which may carry
/// secrets (the runtime's one display rule).
pub(crate) fn shown(url: &str) -> String {
    cutout_runtime::validate::display_url(url)
}

/// A parsed URL for messages: without credentials, query or fragment.
pub(crate) fn display(url: &Url) -> String {
    shown(url.as_str())
}
