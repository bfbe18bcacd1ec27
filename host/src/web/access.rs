//! Who may read the endpoint: where it listens, and the bearer token a
//! request must carry. On loopback nobody else can connect, so a token is
//! optional there; on any other address the operator must give a token or
//! say `allow-anonymous = true`, so that a typo in an address never exposes
//! the gateway by accident.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Where the endpoint listens and whom it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The address to bind (port 0: any free port).
    pub addr: SocketAddr,
    /// The token every request must carry as `Authorization: Bearer ...`;
    /// none: anyone who can connect may read.
    pub token: Option<Token>,
    /// Whether a non-loopback address without a token was asked for.
    pub allow_anonymous: bool,
}

impl EndpointConfig {
    /// A checked configuration: a non-loopback `addr` needs a token or
    /// `allow_anonymous`.
    pub fn new(
        addr: SocketAddr,
        token: Option<Token>,
        allow_anonymous: bool,
    ) -> Result<EndpointConfig, String> {
        if !addr.ip().is_loopback() && token.is_none() && !allow_anonymous {
            return Err(format!(
                "{addr} is reachable from other machines: give metrics.token-file, or set \
                 metrics.allow-anonymous = true to serve it to anyone"
            ));
        }
        Ok(EndpointConfig {
            addr,
            token,
            allow_anonymous,
        })
    }
}

/// Parses an endpoint address: `HOST:PORT` with an IP address (IPv6 in
/// brackets) or `localhost`, or a bare `PORT` or `:PORT`, which listen on
/// loopback.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let port_only = text.strip_prefix(':').unwrap_or(text);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("`{text}`: `{port}` is not a port number"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!(
            "`{text}` is not an address: write HOST:PORT with an IP address, or PORT for loopback"
        )
    })
}

/// A bearer token. Its value is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// The shortest token taken: a guessable one is worse than none, since it
/// looks safe.
pub const MIN_TOKEN_LEN: usize = 16;

impl Token {
    /// The token in the text of a token file (surrounding whitespace, such
    /// as the final newline, is not part of it).
    pub fn from_file_text(text: &str) -> Result<Token, String> {
        let t = text.trim();
        if t.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the token is {} characters; use at least {MIN_TOKEN_LEN}",
                t.len()
            ));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token must be printable ASCII with no spaces".to_string());
        }
        Ok(Token(t.to_string()))
    }

    /// Whether the `Authorization` header value `header` carries this token,
    /// compared in time independent of where they differ.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        let want = self.0.as_bytes();
        given.len() == want.len()
            && given
                .iter()
                .zip(want)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_loopback() {
        assert_eq!(
            parse_addr("9600").unwrap(),
            "127.0.0.1:9600".parse().unwrap()
        );
        assert_eq!(
            parse_addr(":9600").unwrap(),
            "127.0.0.1:9600".parse().unwrap()
        );
        assert_eq!(
            parse_addr("localhost:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            parse_addr("0.0.0.0:80").unwrap(),
            "0.0.0.0:80".parse().unwrap()
        );
        assert_eq!(parse_addr("[::1]:80").unwrap(), "[::1]:80".parse().unwrap());
        assert!(parse_addr("gateway:80").unwrap_err().contains("HOST:PORT"));
        assert!(parse_addr("70000").is_err());
    }

    #[test]
    fn an_exposed_address_needs_a_token_or_consent() {
        let open: SocketAddr = "0.0.0.0:9600".parse().unwrap();
        let err = EndpointConfig::new(open, None, false).unwrap_err();
        assert!(err.contains("metrics.token-file"), "{err}");
        assert!(EndpointConfig::new(open, None, true).is_ok());
        let token = Token::from_file_text("0123456789abcdef\n").unwrap();
        assert!(EndpointConfig::new(open, Some(token), false).is_ok());
        let lo: SocketAddr = "127.0.0.1:9600".parse().unwrap();
        assert!(EndpointConfig::new(lo, None, false).is_ok());
    }

    #[test]
    fn tokens_are_checked_whole_and_never_printed() {
        assert!(Token::from_file_text("short").is_err());
        assert!(Token::from_file_text("0123456789 abcdef").is_err());
        let t = Token::from_file_text("  0123456789abcdef\n").unwrap();
        assert!(t.accepts(Some(b"Bearer 0123456789abcdef")));
        assert!(!t.accepts(Some(b"Bearer 0123456789abcdeF")));
        assert!(!t.accepts(Some(b"Bearer 0123456789abcde")));
        assert!(!t.accepts(Some(b"0123456789abcdef")));
        assert!(!t.accepts(None));
        let config = EndpointConfig::new("127.0.0.1:1".parse().unwrap(), Some(t), false).unwrap();
        assert!(!format!("{config:?}").contains("0123"));
    }
}
