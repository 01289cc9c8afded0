//! Logging through tracing: text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` uses `EnvFilter` syntax; `RUST_LOG` wins if set.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_current_span(true))
            .try_init(),
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    // Colour codes only for a person at a terminal, never in collected logs.
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
    };
    // A second init (in tests) keeps the first subscriber.
    let _ = result;
}
