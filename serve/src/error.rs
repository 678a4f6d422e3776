//! Errors: of the service as a whole ([`ServeError`]), and of one request ([`ApiError`], answered as
//! `{"error": "..."}` with a 4xx status for anything the request got wrong).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dealerflow_engine::EngineError;
use dealerflow_log::LogError;

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback address without `--token` or `--public`.
    #[error("{listen} is not a loopback address: give a token that every request must carry, or say that the service is public")]
    Exposed {
        /// The address asked for.
        listen: SocketAddr,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        /// The address asked for.
        listen: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(#[source] std::io::Error),
    /// The log could not be read.
    #[error("the log {dir}: {source}")]
    Log {
        /// The log directory.
        dir: PathBuf,
        /// The log error.
        #[source]
        source: LogError,
    },
    /// Alerts could not start (the journal).
    #[error("alerts: {0}")]
    Alerts(#[from] crate::alerts::AlertsError),
    /// A thread could not be started.
    #[error("starting the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// The answer to a request that failed: a status and one line, sent as `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (4xx for what the request got wrong).
    pub status: StatusCode,
    /// What was wrong, naming the parameter.
    pub message: String,
}

impl ApiError {
    /// 400, naming the parameter.
    pub fn bad(parameter: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{parameter}: {message}"),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 401.
    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "a token is required: send `Authorization: Bearer TOKEN` or `?token=TOKEN`"
                .into(),
        }
    }

    /// 503: the log cannot answer yet (empty, or not there).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }

    /// 500: the service failed (a damaged log, an I/O error), not the request.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    /// The engine's answer to a query in the words of the API: what the request can change is a 4xx naming the
    /// parameter; a log that cannot be read is a 5xx.
    pub fn from_engine(e: EngineError, time_parameter: &str) -> ApiError {
        match e {
            EngineError::BeforeLog { .. }
            | EngineError::WindowOutsideLog { .. }
            | EngineError::WindowReversed { .. }
            | EngineError::EmptyGrid { .. }
            | EngineError::NoSpot { .. } => ApiError::bad(time_parameter, e),
            EngineError::Currency { .. } => ApiError::bad("currency", e),
            EngineError::Sampling { .. } => ApiError::bad("every", e),
            EngineError::EmptyLog { .. }
            | EngineError::NoTimestamps { .. }
            | EngineError::NoInstruments { .. } => ApiError::unavailable(e.to_string()),
            e => ApiError::internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}
