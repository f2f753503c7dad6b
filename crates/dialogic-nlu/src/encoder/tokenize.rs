//! WordPiece tokenisation from the model's own `tokenizer.json` (Hugging Face `tokenizers`,
//! pure Rust: no Oniguruma, no downloads). Padding is switched off (a sentence is as long as its
//! tokens) and inputs are truncated to the model's length.

use std::path::Path;

/// The model's tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    cls: u32,
    sep: u32,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab", &self.vocab_size())
            .finish()
    }
}

impl Tokenizer {
    /// Load `tokenizer.json` from `dir`; sequences are cut to `max_len` tokens.
    pub fn load(dir: &Path, max_len: usize) -> Result<Tokenizer, String> {
        let path = dir.join("tokenizer.json");
        let mut inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| format!("{}: no `{t}` token", path.display()))
        };
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        Ok(Tokenizer { inner, cls, sep })
    }

    /// Token ids of `text`, framed with `[CLS]` ... `[SEP]` (never empty).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        match self.inner.encode(text, true) {
            Ok(enc) if !enc.get_ids().is_empty() => enc.get_ids().to_vec(),
            _ => vec![self.cls, self.sep],
        }
    }

    /// Token ids of `text` without the special tokens.
    pub fn encode_plain(&self, text: &str) -> Vec<u32> {
        match self.inner.encode(text, false) {
            Ok(enc) => enc.get_ids().to_vec(),
            Err(_) => Vec::new(),
        }
    }

    /// `[CLS]` and `[SEP]` ids.
    pub fn specials(&self) -> (u32, u32) {
        (self.cls, self.sep)
    }

    /// Vocabulary size (with added tokens).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The token of an id.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
}
