//! Connecting to NATS, and keeping passwords out of messages.

use super::NatsError;

/// Connects to `url`; `nats://user:password@host:port` logs in with those credentials (the
/// client library does not read them from the URL by itself). Several servers of one cluster
/// may be given, separated by commas: the client starts with any that answers.
pub async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    connect_with(url, async_nats::ConnectOptions::new()).await
}

/// [`connect`] with options of the caller's (an agent's own inbox prefix, say).
pub async fn connect_with(
    url: &str,
    opts: async_nats::ConnectOptions,
) -> Result<async_nats::Client, NatsError> {
    let mut opts = opts;
    let mut servers = Vec::new();
    for one in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let (scheme, rest) = one.split_once("://").unwrap_or(("nats", one));
        match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                opts = opts.user_and_password(user.into(), password.into());
                servers.push(format!("{scheme}://{host}"));
            }
            None => servers.push(format!("{scheme}://{rest}")),
        }
    }
    opts.connect(servers.as_slice())
        .await
        .map_err(|e| NatsError::Connect {
            url: redact(url),
            message: e.to_string(),
        })
}

/// [`connect`], for the service: the client's inbox prefix is the arbiter's own
/// (`_INBOX_arbiter`), so a server configuration can keep agents from reading what JetStream
/// delivers to it, and losing or regaining the server is reported to `health`.
pub async fn connect_watched(
    url: &str,
    health: std::sync::Arc<crate::health::Health>,
) -> Result<async_nats::Client, NatsError> {
    let opts = async_nats::ConnectOptions::new()
        .custom_inbox_prefix(INBOX_PREFIX)
        .event_callback(move |event| {
            let health = health.clone();
            async move {
                match event {
                    async_nats::Event::Disconnected => {
                        health.fail("nats", "disconnected from the NATS server; reconnecting")
                    }
                    async_nats::Event::Connected => health.clear("nats"),
                    other => tracing::warn!("NATS: {other}"),
                }
            }
        });
    connect_with(url, opts).await
}

/// The prefix of the arbiter's reply subjects (JetStream deliveries, API replies).
pub const INBOX_PREFIX: &str = "_INBOX_arbiter";

/// The URL (or comma-separated URLs) without passwords, for messages.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let parts = one
                .split_once("://")
                .and_then(|(s, r)| r.rsplit_once('@').map(|(u, h)| (s, u, h)));
            match parts {
                Some((scheme, userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    format!("{scheme}://{user}:***@{host}")
                }
                None => one.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_appear_in_messages() {
        assert_eq!(
            super::redact("nats://agent:s3cret@10.0.0.1:4222"),
            "nats://agent:***@10.0.0.1:4222"
        );
        assert_eq!(
            super::redact("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
        assert_eq!(
            super::redact("nats://a:x@h1:4222,nats://a:x@h2:4222"),
            "nats://a:***@h1:4222,nats://a:***@h2:4222"
        );
    }
}
