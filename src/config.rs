//! The service's settings that the request path reads (the command line builds them from flags
//! and environment; every one has a working default).

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

#[derive(Clone, Debug)]
pub struct Settings {
    /// The longest a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// The largest request body read, in bytes (413 beyond it).
    pub body_limit: usize,
    /// How long a captcha provider's siteverify may take before the token counts as not
    /// verified (`Failed to validate token`).
    pub siteverify_timeout: Duration,
    /// How long a flow plan lives without a request.
    pub plan_idle_timeout: Duration,
    /// Whether the session cookie is `Secure` (the service is reached over https).
    pub secure_cookies: bool,
    /// Peers whose `X-Forwarded-For` names the client (reverse proxies).
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request_timeout: Duration::from_secs(30),
            body_limit: crate::limits::BODY_LIMIT,
            siteverify_timeout: Duration::from_secs(5),
            plan_idle_timeout: Duration::from_secs(60 * 60),
            secure_cookies: false,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Settings {
    /// The client's address: the TCP peer, or the first `X-Forwarded-For` entry when the peer is
    /// a trusted proxy (and that entry is an address).
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusted_proxies.iter().any(|net| net.contains(&peer)) {
            return Some(peer);
        }
        forwarded_for
            .and_then(|header| header.split(',').next())
            .and_then(|first| first.trim().parse().ok())
            .or(Some(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let settings = Settings {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..Settings::default()
        };
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "192.0.2.7".parse().unwrap();
        let header = Some("203.0.113.9, 10.1.2.3");
        assert_eq!(
            settings.client_ip(Some(proxy), header),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(settings.client_ip(Some(stranger), header), Some(stranger));
        assert_eq!(
            settings.client_ip(Some(proxy), Some("garbage")),
            Some(proxy)
        );
        assert_eq!(settings.client_ip(None, header), None);
    }
}
