//! Parsed GraphQL documents, kept by query text. Clients send the same few operations over and
//! over; parsing one again cost a GraphQL create about a sixth of its CPU (bench/profile.sh).

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// Distinct operations kept; the least recently used one goes first.
const CAPACITY: NonZeroUsize = NonZeroUsize::new(256).expect("non-zero");
/// Longer queries are parsed every time rather than held in memory.
const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

pub struct ParsedQueries(Mutex<LruCache<String, ExecutableDocument>>);

impl Default for ParsedQueries {
    fn default() -> Self {
        ParsedQueries(Mutex::new(LruCache::new(CAPACITY)))
    }
}

impl ParsedQueries {
    /// Gives `request` its parsed document, from the cache or parsed now. A query that does not
    /// parse is left alone: executing it reports the syntax error as usual.
    pub fn prepare(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_CACHED_QUERY_BYTES {
            return;
        }
        let cached = self
            .0
            .lock()
            .expect("query cache")
            .get(&request.query)
            .cloned();
        match cached {
            Some(document) => request.set_parsed_query(document),
            None => {
                if let Ok(document) = request.parsed_query() {
                    let document = document.clone();
                    self.0
                        .lock()
                        .expect("query cache")
                        .put(request.query.clone(), document);
                }
            }
        }
    }
}
