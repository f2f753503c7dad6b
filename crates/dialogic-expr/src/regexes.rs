//! Size-limited regex compilation (patterns may come from user input) with a small cache for
//! patterns that are only known at run time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use regex::{Regex, RegexBuilder};

/// Longest pattern accepted.
pub(crate) const MAX_PATTERN: usize = 4096;
const CACHE_SIZE: usize = 64;

/// Compile a pattern with bounded program and DFA sizes.
pub(crate) fn compile(pattern: &str) -> Result<Arc<Regex>, String> {
    if pattern.len() > MAX_PATTERN {
        return Err(format!("regex longer than {MAX_PATTERN} bytes"));
    }
    RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .nest_limit(64)
        .build()
        .map(Arc::new)
        .map_err(|e| format!("invalid regex: {e}"))
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Arc<Regex>>> = RefCell::new(HashMap::new());
}

/// Compile through a per-thread cache.
pub(crate) fn cached(pattern: &str) -> Result<Arc<Regex>, String> {
    if let Some(r) = CACHE.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(r);
    }
    let r = compile(pattern)?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_SIZE {
            c.clear();
        }
        c.insert(pattern.to_string(), r.clone());
    });
    Ok(r)
}

/// The pattern of a whole-string match (`matches`).
pub(crate) fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}
