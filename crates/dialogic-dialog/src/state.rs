//! The dialog position kept between turns, encoded as the opaque
//! `context.skills["main skill"].system.state` string (base64 of compact JSON).
//!
//! Positions name nodes by id (not index) so a state survives a server restart and a
//! reload of the same skill. A state that does not decode restarts the dialog at the root.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Where the dialog waits for the next input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub(crate) enum Pos {
    /// The node fired and waits: its children are evaluated first next turn.
    #[serde(rename = "c")]
    Children { n: String },
    /// A `jump_to` with selector `user_input`: next turn starts at this node's condition.
    #[serde(rename = "j")]
    Jump { n: String },
    /// A frame is filling slots; `f` is the slot being prompted (None: the frame-level
    /// "prompt for everything" was shown); `sk` lists skipped slots.
    #[serde(rename = "s")]
    Slots {
        n: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        f: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sk: Vec<String>,
    },
}

/// Everything the engine remembers between turns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DialogState {
    /// Format version.
    #[serde(default)]
    pub v: u8,
    /// The conversation has started (`conversation_start` / `welcome` are over).
    #[serde(default)]
    pub started: bool,
    /// Bottom..top: interrupted flows waiting for a digression to return, then the current
    /// position (top). Empty: the next turn starts at the root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<Pos>,
    /// Variation counters per text response (`node|item`): visits (sequential) or the last
    /// index + 1 (random).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u32>,
}

const VERSION: u8 = 1;

impl DialogState {
    /// Decode a state string. Err carries a short reason for the log.
    pub(crate) fn decode(s: &str) -> Result<DialogState, String> {
        let bytes = STANDARD
            .decode(s.trim())
            .map_err(|e| format!("state is not base64: {e}"))?;
        let st: DialogState =
            serde_json::from_slice(&bytes).map_err(|e| format!("state is not valid: {e}"))?;
        if st.v != VERSION {
            return Err(format!("unsupported state version {}", st.v));
        }
        Ok(st)
    }

    pub(crate) fn encode(&mut self) -> String {
        self.v = VERSION;
        // Serializing this plain struct cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        STANDARD.encode(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut st = DialogState {
            v: VERSION,
            started: true,
            stack: vec![
                Pos::Children { n: "a".into() },
                Pos::Slots {
                    n: "f".into(),
                    f: Some("s1".into()),
                    sk: vec!["s2".into()],
                },
                Pos::Jump { n: "x y".into() },
            ],
            counters: [("n|t".to_string(), 3)].into_iter().collect(),
        };
        let s = st.encode();
        let st = st;
        assert_eq!(DialogState::decode(&s), Ok(st));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(DialogState::decode("%%%").is_err());
        assert!(DialogState::decode("aGVsbG8=").is_err());
        assert!(DialogState::decode("").is_err());
    }
}
