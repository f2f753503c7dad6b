//! Opaque keyset cursors for log pagination: the (request_timestamp, log_id) of the last record
//! of a page. The pair is unique, so pages are stable even when many records share a timestamp.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};

use crate::error::{Result, StoreError};

const PREFIX: &str = "v1:";

/// The position after which the next page starts (in the query's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogCursor {
    pub(crate) request_timestamp: DateTime<Utc>,
    pub(crate) log_id: String,
}

impl LogCursor {
    pub(crate) fn encode(&self) -> String {
        let raw = format!(
            "{PREFIX}{}:{}",
            self.request_timestamp.timestamp_micros(),
            self.log_id
        );
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub(crate) fn decode(s: &str) -> Result<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| StoreError::InvalidCursor)?;
        let raw = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        let rest = raw.strip_prefix(PREFIX).ok_or(StoreError::InvalidCursor)?;
        let (micros, log_id) = rest.split_once(':').ok_or(StoreError::InvalidCursor)?;
        let micros: i64 = micros.parse().map_err(|_| StoreError::InvalidCursor)?;
        let request_timestamp =
            DateTime::from_timestamp_micros(micros).ok_or(StoreError::InvalidCursor)?;
        Ok(LogCursor {
            request_timestamp,
            log_id: log_id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ids_with_colons() {
        let c = LogCursor {
            request_timestamp: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            log_id: "a:b:c".into(),
        };
        assert_eq!(LogCursor::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "!!!",
            "djE6",
            "eHl6",
            "djE6eDp5",
            "djE6OTk5OTk5OTk5OTk5OTk5OTk5OTk6eA",
        ] {
            assert!(
                matches!(LogCursor::decode(bad), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }
}
