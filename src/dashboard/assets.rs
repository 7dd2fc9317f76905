//! The dashboard's files, embedded at compile time and served with a content security policy
//! that allows nothing from elsewhere: the page works offline and injected markup could not
//! load or run anything.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("assets/index.html");
const STYLE: &str = include_str!("assets/style.css");
const ICON: &str = include_str!("assets/icon.svg");

/// The page's script, one module per part of the page (`main.js` wires them).
const MODULES: [(&str, &str); 12] = [
    ("main.js", include_str!("assets/js/main.js")),
    ("state.js", include_str!("assets/js/state.js")),
    ("dom.js", include_str!("assets/js/dom.js")),
    ("api.js", include_str!("assets/js/api.js")),
    ("format.js", include_str!("assets/js/format.js")),
    ("figures.js", include_str!("assets/js/figures.js")),
    ("feed.js", include_str!("assets/js/feed.js")),
    ("decision.js", include_str!("assets/js/decision.js")),
    ("approvals.js", include_str!("assets/js/approvals.js")),
    ("graph.js", include_str!("assets/js/graph.js")),
    ("agents.js", include_str!("assets/js/agents.js")),
    ("intent.js", include_str!("assets/js/intent.js")),
];

const POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn module(Path(name): Path<String>) -> Response {
    match MODULES.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => file("text/javascript; charset=utf-8", body),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// `/` and the files it loads.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route("/js/{name}", get(module))
        .route(
            "/style.css",
            get(|| async { file("text/css; charset=utf-8", STYLE) }),
        )
        .route("/icon.svg", get(|| async { file("image/svg+xml", ICON) }))
}

#[cfg(test)]
mod tests {
    use super::MODULES;

    /// A module the page imports but the binary does not serve would break the page.
    #[test]
    fn every_module_imported_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dashboard/assets/js");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut served: Vec<String> = MODULES.iter().map(|(n, _)| n.to_string()).collect();
        on_disk.sort();
        served.sort();
        assert_eq!(on_disk, served, "every file of assets/js is embedded");
        for (name, body) in MODULES {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .rsplit("\"./")
                    .next()
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_else(|| panic!("{name}: unreadable import {line}"));
                assert!(
                    MODULES.iter().any(|(n, _)| *n == target),
                    "{name} imports {target}, which is not served"
                );
            }
        }
    }
}
