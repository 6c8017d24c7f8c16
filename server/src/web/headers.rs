//! Security headers on every response (OWASP ASVS 14.4): a content security policy without
//! inline script or style and without any other origin, no framing, no MIME sniffing, no
//! referrer, no caching (pages and replies hold personal data), and HSTS when served over HTTPS.
//! A handler may set its own `Cache-Control` (static assets); the others are always these.

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The content security policy: this origin only, no inline code, no plugins, no framing.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// What the middleware adds beyond the fixed headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecurityHeaders {
    /// Served over HTTPS: add `Strict-Transport-Security`.
    pub https: bool,
}

/// Axum middleware: `router.layer(axum::middleware::from_fn_with_state(cfg, security_headers))`.
pub async fn security_headers(
    State(cfg): State<SecurityHeaders>,
    req: Request,
    next: Next,
) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let fixed: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if cfg.https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn head_of(https: bool, path: &str) -> String {
        let app = axum::Router::new()
            .route("/page", get(|| async { "dati personali" }))
            .route(
                "/asset.css",
                get(|| async { ([(header::CACHE_CONTROL, "max-age=3600")], "body{}") }),
            )
            .layer(axum::middleware::from_fn_with_state(
                SecurityHeaders { https },
                security_headers,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.to_ascii_lowercase()
    }

    #[tokio::test]
    async fn every_response_carries_the_headers() {
        let page = head_of(false, "/page").await;
        for h in [
            "content-security-policy: default-src 'self'; script-src 'self'",
            "frame-ancestors 'none'",
            "x-frame-options: deny",
            "x-content-type-options: nosniff",
            "referrer-policy: no-referrer",
            "cache-control: no-store",
        ] {
            assert!(page.contains(h), "{h} missing in {page}");
        }
        assert!(!page.contains("unsafe-inline"));
        assert!(!page.contains("strict-transport-security"));
        // A 404 gets them too; HSTS over HTTPS; a handler's own caching is kept.
        assert!(head_of(true, "/nothing")
            .await
            .contains("strict-transport-security: max-age="));
        assert!(head_of(false, "/nothing")
            .await
            .contains("x-frame-options: deny"));
        let asset = head_of(false, "/asset.css").await;
        assert!(asset.contains("cache-control: max-age=3600") && !asset.contains("no-store"));
    }
}
