//! A mount rule's `use_server_errors=N`: a backend response with status ≥ N is answered with jkd's own short error page instead of the backend's body.

use http::{Response, StatusCode};
use http_body_util::BodyExt;

use crate::runtime::ProxyBody;

/// Whether `use_server_errors` = `threshold` replaces an answer with `status`.
pub fn applies(threshold: i32, status: StatusCode) -> bool {
    threshold > 0 && i32::from(status.as_u16()) >= threshold
}

/// Replaces `resp` by jkd's error page for its status when `threshold` (the rule's
/// `use_server_errors`, 0 = off) says so. As with mod_jk, only `WWW-Authenticate`
/// of a 401 survives, so that the client can still authenticate. The backend's body
/// is read to its end and thrown away before the page is sent, as mod_jk does: the
/// backend connection goes back to the pool as after any response, instead of being
/// cut mid-body.
pub async fn apply(threshold: i32, resp: Response<ProxyBody>) -> Response<ProxyBody> {
    let status = resp.status();
    if !applies(threshold, status) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    drain(body).await;
    let mut page = super::plain(status.as_u16(), reason(status));
    if status == StatusCode::UNAUTHORIZED {
        for v in parts.headers.get_all(http::header::WWW_AUTHENTICATE) {
            page.headers_mut()
                .append(http::header::WWW_AUTHENTICATE, v.clone());
        }
    }
    page
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// Reads a body to its end (or its first error) and drops what it reads.
async fn drain(mut body: ProxyBody) {
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::HeaderValue;

    use super::*;

    fn backend_response(status: u16) -> Response<ProxyBody> {
        let mut r = Response::new(ProxyBody::full(Bytes::from_static(b"Tomcat's stack trace")));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let h = r.headers_mut();
        h.insert("x-from-tomcat", HeaderValue::from_static("1"));
        h.insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"app\""),
        );
        r
    }

    async fn text(r: Response<ProxyBody>) -> String {
        let bytes = r
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn statuses_from_the_threshold_up_get_jkds_page() {
        for (threshold, status, replaced) in [
            (500, 500, true),
            (500, 503, true),
            (500, 404, false),
            (400, 404, true),
            (0, 500, false),
            (-1, 500, false),
        ] {
            let r = apply(threshold, backend_response(status)).await;
            assert_eq!(r.status().as_u16(), status);
            let from_tomcat = r.headers().contains_key("x-from-tomcat");
            let body = text(r).await;
            assert_eq!(
                body.contains("stack trace"),
                !replaced,
                "{threshold} {status}: {body}"
            );
            assert_eq!(from_tomcat, !replaced, "{threshold} {status}");
        }
        let body = text(apply(500, backend_response(503)).await).await;
        assert_eq!(body, "Service Unavailable\n");
    }

    #[tokio::test]
    async fn a_401_keeps_its_challenge() {
        let r = apply(400, backend_response(401)).await;
        assert_eq!(
            r.headers().get(http::header::WWW_AUTHENTICATE),
            Some(&HeaderValue::from_static("Basic realm=\"app\""))
        );
        let r = apply(400, backend_response(403)).await;
        assert!(r.headers().get(http::header::WWW_AUTHENTICATE).is_none());
    }
}
