//! Connecting to NATS, and keeping passwords out of messages.

use super::NatsError;

/// Connects to `url`; `nats://user:password@host:port` logs in with those credentials (the
/// client library does not read them from the URL by itself).
pub async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("nats", url));
    let result = match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
                .connect(format!("{scheme}://{host}"))
                .await
        }
        None => async_nats::connect(url).await,
    };
    result.map_err(|e| NatsError::Connect {
        url: redact(url),
        message: e.to_string(),
    })
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let parts = url
        .split_once("://")
        .and_then(|(s, r)| r.rsplit_once('@').map(|(u, h)| (s, u, h)));
    match parts {
        Some((scheme, userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
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
    }
}
