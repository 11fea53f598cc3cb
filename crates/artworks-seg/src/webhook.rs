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
//! - IP literals that are loopback (127.0.0.0/8, `::1`), private (10.0.0.0/8, 172.16.0.0/12,
//!   192.168.0.0/16), link-local (169.254.0.0/16, including the 169.254.169.254 metadata
//!   address; `fe80::/10`), shared CGNAT (100.64.0.0/10), unspecified (0.0.0.0/8, `::`),
//!   broadcast, multicast, reserved (240.0.0.0/4), IPv6 unique-local (`fc00::/7`), and IPv4-mapped
//!   IPv6 forms of all of these (`::ffff:10.0.0.1`); numeric spellings such as `2130706433` or
//!   `0x7f.1` are read as the address they are;
//! - host names `localhost`, `*.localhost`, `*.local`, `*.internal` (such as
//!   `metadata.google.internal`), and single-label names such as `metadata` or `intranet`, which
//!   only resolve inside a local network.
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

use url::{Host, Url};

use crate::{CutoutError, CutoutResult, types};

/// Parses a webhook delivery: the final artwork, as JSON.
pub fn parse(body: &[u8]) -> CutoutResult<types::Artwork> {
    serde_json::from_slice(body).map_err(|e| CutoutError::UnexpectedResponse {
        provider: crate::PROVIDER.name,
        operation: "webhook",
        status: None,
        message: format!("the webhook body is not an artwork: {e}"),
        body: Some(String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned()),
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

/// What makes an IPv4 address unreachable from the internet, if anything.
fn ipv4_category(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if a == 0 {
        "an unspecified address (0.0.0.0/8)"
    } else if ip.is_loopback() {
        "a loopback address (127.0.0.0/8)"
    } else if a == 10 {
        "a private address (10.0.0.0/8)"
    } else if a == 172 && (16..=31).contains(&b) {
        "a private address (172.16.0.0/12)"
    } else if a == 192 && b == 168 {
        "a private address (192.168.0.0/16)"
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) {
        "the cloud metadata address (169.254.169.254)"
    } else if a == 169 && b == 254 {
        "a link-local address (169.254.0.0/16)"
    } else if a == 100 && (64..=127).contains(&b) {
        "a shared carrier-grade NAT address (100.64.0.0/10)"
    } else if ip.is_broadcast() {
        "the broadcast address (255.255.255.255)"
    } else if ip.is_multicast() {
        "a multicast address (224.0.0.0/4)"
    } else if a >= 240 {
        "a reserved address (240.0.0.0/4)"
    } else {
        return None;
    })
}

/// What makes an IPv6 address unreachable from the internet, if anything.
fn ipv6_category(ip: Ipv6Addr) -> Option<String> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_category(v4).map(|category| format!("an IPv4-mapped form of {category}"));
    }
    let first = ip.segments()[0];
    let category = if ip.is_unspecified() {
        "the unspecified address (::)"
    } else if ip.is_loopback() {
        "the loopback address (::1)"
    } else if first & 0xFE00 == 0xFC00 {
        "a unique local address (fc00::/7)"
    } else if first & 0xFFC0 == 0xFE80 {
        "a link-local address (fe80::/10)"
    } else if ip.is_multicast() {
        "a multicast address (ff00::/8)"
    } else {
        return None;
    };
    Some(category.to_owned())
}

/// What makes a host name local, if anything.
fn name_category(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let category = if name == "localhost" || name.ends_with(".localhost") {
        "a loopback name (localhost)"
    } else if name == "metadata.google.internal" {
        "the cloud metadata host (metadata.google.internal)"
    } else if name.ends_with(".internal") {
        "an internal name (*.internal)"
    } else if name.ends_with(".local") {
        "a local-network name (*.local)"
    } else if !name.contains('.') {
        "a single-label name that only resolves inside a local network"
    } else {
        return None;
    };
    Some(category.to_owned())
}

/// A URL for messages: without its query and fragment, which may carry secrets.
pub(crate) fn shown(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A parsed URL for messages: without credentials, query or fragment.
pub(crate) fn display(url: &Url) -> String {
    let mut url = url.clone();
    // Both fail only for URLs that cannot have credentials, which then have none to hide.
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.set_query(None);
    url.set_fragment(None);
    url.into()
}
