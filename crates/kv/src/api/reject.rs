//! Refusals made by the HTTP layer before a handler runs: unknown route,
//! wrong method, oversized headers, missing or insufficient credentials.
//! They carry the same JSON error body as every other error
//! (docs/http-api.md), and are all "not applied".

use super::error::{ErrorBody, Outcome};
use axum::extract::Request;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Why the HTTP layer refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No route has this path.
    NotFound,
    /// The route exists, not with this method.
    MethodNotAllowed,
    /// The request line and headers exceed the limits.
    HeadersTooLarge,
    /// No valid bearer token (or client certificate) came with a request
    /// that needs one.
    Unauthorized,
    /// The credentials are valid, their role is not enough.
    Forbidden,
}

impl Rejection {
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Rejection::Unauthorized => StatusCode::UNAUTHORIZED,
            Rejection::Forbidden => StatusCode::FORBIDDEN,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::HeadersTooLarge => "headers_too_large",
            Rejection::Unauthorized => "unauthorized",
            Rejection::Forbidden => "forbidden",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Rejection::NotFound => "no such route (not applied); see docs/http-api.md",
            Rejection::MethodNotAllowed => {
                "this route does not take this method (not applied); see the Allow header"
            }
            Rejection::HeadersTooLarge => {
                "the request line and headers are over the limit (not applied); send fewer or shorter headers"
            }
            Rejection::Unauthorized => {
                "this request needs credentials (not applied); send Authorization: Bearer <token>"
            }
            Rejection::Forbidden => {
                "the token's role does not allow this request (not applied); use a token with a stronger role"
            }
        }
    }

    /// The JSON error body.
    pub fn body(self, detail: Option<String>) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            message: self.message().to_owned(),
            detail,
            outcome: Outcome::NotApplied,
            indeterminate: false,
            leader_url: None,
            retry_after_s: None,
        }
    }

    pub(crate) fn response(self, detail: Option<String>) -> Response {
        let mut response = (self.status(), Json(self.body(detail))).into_response();
        if self == Rejection::Unauthorized {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The fallback of unknown paths.
pub(crate) async fn not_found(method: Method) -> Response {
    Rejection::NotFound.response(Some(format!("{method} of an unknown path")))
}

/// The fallback of known paths with another method (axum adds `Allow`).
pub(crate) async fn method_not_allowed(method: Method) -> Response {
    Rejection::MethodNotAllowed.response(Some(format!("{method} is not served here")))
}

/// Refuses requests whose headers exceed `bytes_max` or `count_max`,
/// saying by how much.
pub(crate) fn check_headers(
    request: &Request,
    bytes_max: usize,
    count_max: usize,
) -> Result<(), String> {
    let headers = request.headers();
    let bytes: usize = request.uri().to_string().len()
        + headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if headers.len() > count_max || bytes > bytes_max {
        let detail = format!(
            "{} headers, {bytes} bytes; the limits are {count_max} headers, {bytes_max} bytes",
            headers.len()
        );
        return Err(detail);
    }
    Ok(())
}
